"""Progressive neural architecture search: sequential model-based optimisation that
grows architectures block by block (Liu et al., PNAS, https://arxiv.org/abs/1712.00559).

The space must declare blocks (``space.blocks()``) and prefix spaces
(``space.prefix(b)``: the architectures made of the first ``b`` blocks). With ``B``
blocks and beam width ``K``:

1. ``b = 1``: every genotype of ``prefix(1)`` (or ``max_candidates`` random ones when
   there are more) is a candidate; ``K`` of them, drawn at random, are asked (all of
   them when there are at most ``K``, as in the paper).
2. Once the beam of block ``b`` is told, the surrogate is fitted on every finite
   ``(block sequence, reward)`` seen so far, of every block; rewards are normalised to
   [0, 1] by rank (``normalize='rank'``: robust to outliers and to the scale of the
   reward) or with the min and max finite reward (``'minmax'``).
3. Every told member of the beam (failed ones only when all failed) is expanded with
   every option of block ``b + 1`` (``max_candidates`` random expansions when there are
   more); candidates asked before or rejected by the ``constraint`` are dropped; the
   ``K`` the surrogate ranks highest are asked. Repeat until ``b = B``.
4. Without ``max_trials`` the search is done once the beam of block ``B`` is told (as in
   the paper, ``B * K`` trials at most). With ``max_trials`` it goes on: the surrogate,
   refitted on everything told, ranks unseen architectures of the full space (all of
   them when there are at most ``max_candidates``, else mutations of the best ``K``
   found and random ones) and the best ``K`` are asked, until ``max_trials``.

The surrogate's quality is measured on data it has not seen: when a beam it chose is
told, the Spearman rank correlation between its predictions and the rewards is appended
to :attr:`ProgressiveSMBO.surrogate_log` (``{'block', 'trials', 'n', 'spearman'}``), and
:meth:`ProgressiveSMBO.scored_candidates` returns every candidate of the last choice with
its score (for an offline check against known rewards).

Genotypes of block ``b < B`` belong to ``space.prefix(b)``, a space of its own: this
strategy keys and serialises every genotype with the space of the block it was asked
in (:meth:`ProgressiveSMBO.space_of`, :meth:`ProgressiveSMBO.genotype_to_dict`), and the
state records that block per key. Block ``B`` uses ``space`` itself, so the final beam
are genotypes of the searched space; :meth:`best` only returns genotypes that validate
in ``space`` (for a :class:`~nas_det.space.ChoiceSpace` every prefix genotype does:
later decisions take their first option).

The surrogate's input is the *block sequence* of a genotype: its tokens at the
decisions of ``prefix(b).blocks()``, block after block (variable length). Decisions
outside every block must have a single option. Surrogate weights are refitted from
scratch at each block from the private ``torch.Generator`` (initialisation and
shuffling), so the state only holds that generator's state.
"""
from __future__ import annotations

import itertools
import math

from ..space.base import bad_value
from .base import (Strategy, check_positive_int, is_failure, rank_value, ranks,
                   register_strategy, rng_state, set_rng_state, spearman)
from .surrogates import LOSSES, SURROGATES, check_float, make_generator

NORMALIZE = ('rank', 'minmax')


@register_strategy
class ProgressiveSMBO(Strategy):
    """PNAS progressive search with an LSTM or MLP-ensemble surrogate (module docstring).

    Args:
        space (SearchSpace): a space that declares blocks.
        seed (int): seed of ``self.rng`` (candidate sampling) and of the private torch
            generator (surrogate training). Defaults to 0.
        max_trials (int, optional): stop after this many tells. Defaults to None
            (the search ends after the last block's beam, at most ``B * beam`` trials).
        constraint (callable, optional): ``genotype -> bool`` on the genotypes of each
            block's prefix space; rejected candidates are never asked. Defaults to None.
        beam (int, optional): ``K``, the genotypes asked per block (256 in the paper).
            Defaults to None: ``max_trials // (2 * B)`` clipped to [4, 64] when
            ``max_trials`` is given (half the budget grows the blocks, the rest goes to
            the surrogate's best candidates), else 8.
        max_candidates (int): the most candidates enumerated (else sampled) per block,
            at least ``beam``. Defaults to 1000.
        surrogate (str): ``'mlp_ensemble'`` or ``'lstm'``. Defaults to
            ``'mlp_ensemble'``.
        epochs (int): surrogate training epochs per block. Defaults to 100.
        lr (float): surrogate Adam learning rate. Defaults to 0.01.
        train_batch_size (int): surrogate minibatch size. Defaults to 128.
        loss (str): ``'l1'`` (as in PNAS), ``'mse'`` or ``'rank'`` (pairwise
            logistic ranking loss). Defaults to ``'rank'``.
        normalize (str): reward targets by ``'rank'`` or ``'minmax'``. Defaults to
            ``'rank'``.
        hidden_size (int): LSTM / MLP hidden width. Defaults to 32.
        embedding_size (int): LSTM token embedding width. Defaults to 16.
        ensemble_size (int): MLPs in the ensemble. Defaults to 5.
    """

    aliases = ('pnas',)

    def __init__(self, space, seed: int = 0, max_trials=None, constraint=None,
                 beam: int | None = None, max_candidates: int = 1000,
                 surrogate: str = 'mlp_ensemble', epochs: int = 100, lr: float = 0.01,
                 train_batch_size: int = 128, loss: str = 'rank', normalize: str = 'rank',
                 hidden_size: int = 32, embedding_size: int = 16, ensemble_size: int = 5):
        super().__init__(space, seed=seed, max_trials=max_trials, constraint=constraint)
        self._spaces = self._prefix_spaces(space)
        self.num_blocks = len(self._spaces)
        if beam is None:
            beam = 8 if max_trials is None else min(64, max(4, max_trials // (2 * self.num_blocks)))
        self.beam = check_positive_int('beam', beam)
        if normalize not in NORMALIZE:
            raise bad_value('normalize', normalize, NORMALIZE)
        self.normalize = normalize
        self.max_candidates = check_positive_int('max_candidates', max_candidates, beam)
        if surrogate not in SURROGATES:
            raise bad_value('surrogate', surrogate, list(SURROGATES))
        if loss not in LOSSES:
            raise bad_value('loss', loss, LOSSES)
        train = dict(epochs=check_positive_int('epochs', epochs), lr=check_float('lr', lr),
                     batch_size=check_positive_int('train_batch_size', train_batch_size),
                     loss=loss)
        hidden_size = check_positive_int('hidden_size', hidden_size)
        if surrogate == 'lstm':
            train.update(embedding_size=check_positive_int('embedding_size', embedding_size),
                         hidden_size=hidden_size)
        else:
            train.update(ensemble_size=check_positive_int('ensemble_size', ensemble_size),
                         hidden_size=hidden_size)
        self.surrogate_name = surrogate
        self._groups = [tuple(g) for g in self._spaces[-1].blocks()]
        decisions = [space.decisions[i] for g in self._groups for i in g]
        self.surrogate = SURROGATES[surrogate](decisions, **train)
        self.generator = make_generator(seed)
        self.block = 0        # block of the beam in progress (0: not started)
        self._queue: list = []   # block sequences still to ask at this block, best first
        self._beam: list = []    # keys asked at this block, in ask order
        self._block_of: dict = {}  # key -> block it was asked in
        self._over = False
        self._predicted: dict = {}  # key -> surrogate score, for the beam in progress
        self._scored: list = []     # (block, sequence, score) of the last choice's candidates
        self.surrogate_log: list = []  # held-out rank correlation of each chosen beam

    @staticmethod
    def _prefix_spaces(space) -> list:
        """``[prefix(1), ..., prefix(B - 1), space]``, checked against the contract."""
        blocks = space.blocks()
        if not blocks:
            try:
                space.prefix(1)
                reason = 'it declares none'
            except ValueError as e:
                reason = str(e)
            raise ValueError(f'space: progressive search needs a space that declares blocks '
                             f'(space.blocks()); space {space.name!r} cannot be used: {reason}')
        spaces = [space.prefix(b) for b in range(1, len(blocks))] + [space]
        for b, p in enumerate(spaces, 1):
            groups = p.blocks() or []
            if len(groups) != b or any(
                    [(p.decisions[i].options, p.decisions[i].kind) for i in g]
                    != [(space.decisions[i].options, space.decisions[i].kind) for i in h]
                    for g, h in zip(groups, blocks)):
                raise ValueError(f'space {space.name!r}: prefix({b}) breaks the prefix '
                                 'contract (its blocks must repeat the first blocks of the space)')
            inside = {i for g in groups for i in g}
            for i, d in enumerate(p.decisions):
                if i not in inside and len(d.options) > 1:
                    raise ValueError(f'{d.key}: progressive search needs every decision '
                                     f'outside the blocks to have one option, got '
                                     f'{len(d.options)} (space {space.name!r}, prefix {b})')
        return spaces

    # ---- genotypes of the prefix spaces ---------------------------------------
    def space_of(self, genotype_or_key):
        """The (prefix) space a genotype was asked in (the current block's space for a
        genotype not asked yet)."""
        if isinstance(genotype_or_key, str):
            return self._spaces[self._block_of[genotype_or_key] - 1]
        b = max(self.block, 1)
        return self._spaces[b - 1]

    def key(self, genotype) -> str:
        """Canonical key of a genotype of the current block's space."""
        return self.space_of(genotype).key(genotype)

    def genotype_to_dict(self, genotype) -> dict:
        """JSON form of an asked genotype, in the space of the block it was asked in."""
        for sp in self._spaces[max(self.block, 1) - 1::-1]:
            k = sp.key(genotype)
            if k in self._block_of:
                return self._spaces[self._block_of[k] - 1].to_dict(genotype)
        return self.space_of(genotype).to_dict(genotype)

    def _seq(self, genotype, b: int) -> tuple:
        tokens = self._spaces[b - 1].to_tokens(genotype)
        return tuple(tokens[i] for g in self._spaces[b - 1].blocks() for i in g)

    def _from_seq(self, seq, b: int):
        p = self._spaces[b - 1]
        tokens, it = [0] * len(p.decisions), iter(seq)
        for g in p.blocks():
            for i in g:
                tokens[i] = next(it)
        return p.from_tokens(tokens)

    def _block_options(self, b: int) -> list:
        return [range(len(self.space.decisions[i].options)) for i in self._groups[b - 1]]

    # ---- ask / tell (keys come from the block's own space) ---------------------
    def ask(self, n: int | None = None) -> list:
        if n is not None:
            check_positive_int('n', n)
        if self.done:
            return []
        if self.block == 0:
            self._start()
        caps = [c for c in (n, self.budget_left) if c is not None]
        n = min(caps) if caps else None
        if n is not None and n <= 0:
            return []
        seqs, self._queue = (self._queue, []) if n is None else (self._queue[:n], self._queue[n:])
        new = [self._from_seq(s, self.block) for s in seqs]
        for g in new:
            k = self.key(g)
            self._genotypes[k] = g
            self._block_of[k] = self.block
            self.pending.append(k)
            self._beam.append(k)
        return new

    def tell(self, genotype, reward) -> None:
        k = self.key(genotype)
        if k not in self.pending:
            raise ValueError(f'tell: {k} was not asked (or was already told)')
        self.pending.remove(k)
        reward = float('nan') if reward is None else float(reward)
        self.history.append((k, reward))
        if self._in_space(k) and not is_failure(reward) \
                and (self._best is None or reward > self._best[1]):
            self._best = (k, reward)
        if not self._queue and not self.pending:
            self._next_block()

    def seen(self, genotype) -> bool:
        return self.key(genotype) in self._genotypes

    def _in_space(self, key: str) -> bool:
        if self._block_of[key] == self.num_blocks:
            return True
        try:
            self.space.validate(self._genotypes[key])
            return True
        except ValueError:
            return False

    def _finished(self) -> bool:
        return self._over

    # ---- the algorithm ------------------------------------------------------------
    def _start(self) -> None:
        self.block = 1
        cards = self._block_options(1)
        if math.prod(len(c) for c in cards) <= self.max_candidates:
            seqs = list(itertools.product(*cards))
        else:
            seqs = self._sample_seqs([()], 1)
        seqs = self._fresh(seqs, 1)
        if len(seqs) > self.beam:
            seqs = [seqs[i] for i in sorted(self.rng.sample(range(len(seqs)), self.beam))]
        self._set_queue(seqs)

    def _sample_seqs(self, parents: list, b: int) -> list:
        """Up to ``max_candidates`` distinct random expansions of ``parents`` by block b."""
        cards = [len(c) for c in self._block_options(b)]
        total = len(parents) * math.prod(cards)
        out, seen = [], set()
        for _ in range(10 * self.max_candidates):
            if len(out) == min(self.max_candidates, total):
                break
            s = tuple(parents[self.rng.randrange(len(parents))]) + \
                tuple(self.rng.randrange(c) for c in cards)
            if s not in seen:
                seen.add(s)
                out.append(s)
        return out

    def _fresh(self, seqs, b: int) -> list:
        """The sequences whose genotypes were never asked and pass the constraint."""
        out, keys = [], set()
        for s in seqs:
            g = self._from_seq(s, b)
            k = self._spaces[b - 1].key(g)
            if k not in self._genotypes and k not in keys and self.allowed(g):
                keys.add(k)
                out.append(s)
        return out

    def _set_queue(self, seqs: list) -> None:
        self._queue, self._beam = [list(s) for s in seqs], []
        if not seqs:
            self._over = True

    def _next_block(self) -> None:
        b = self.block
        self._log_correlation()
        if b >= self.num_blocks:
            if not self.budget_left:  # no max_trials (the paper's end), or all spent
                self._over = True
                return
            self._choose(self._fresh(self._final_pool(), b))
            return
        told = dict(self.history)
        beam = sorted(self._beam, key=lambda k: -rank_value(told[k]))  # stable: ask order
        parents = [k for k in beam if not is_failure(told[k])] or beam
        parents = [self._seq(self._genotypes[k], b) for k in parents]
        cards = self._block_options(b + 1)
        if len(parents) * math.prod(len(c) for c in cards) <= self.max_candidates:
            seqs = [p + s for p in parents for s in itertools.product(*cards)]
        else:
            seqs = self._sample_seqs(parents, b + 1)
        seqs = self._fresh(seqs, b + 1)
        self.block = b + 1
        self._choose(seqs)

    def _choose(self, seqs: list) -> None:
        """Queue the ``beam`` candidates the surrogate ranks highest (all when fewer)."""
        self._predicted, self._scored = {}, []
        if len(seqs) > self.beam:
            self._fit()
            scores = self.surrogate.predict(seqs)
            self._scored = [(self.block, s, p) for s, p in zip(seqs, scores)]
            order = sorted(range(len(seqs)), key=lambda i: -scores[i])[:self.beam]
            seqs = [seqs[i] for i in order]
            p = self._spaces[self.block - 1]
            self._predicted = {p.key(self._from_seq(seqs[j], self.block)): scores[i]
                               for j, i in enumerate(order)}
        self._set_queue(seqs)

    def _final_pool(self) -> list:
        """Block sequences of full architectures for the surrogate to rank after the last
        block: every one when the space has at most ``max_candidates``, else mutations of
        the best ``beam`` told and random ones (half each)."""
        space, b = self.space, self.num_blocks
        if space.size() <= self.max_candidates:
            return [self._seq(space.from_tokens(t), b)
                    for t in itertools.product(*(range(n) for n in space.cardinalities))]
        told = [(k, r) for k, r in self.history if self._block_of[k] == b and not is_failure(r)]
        top = [self._genotypes[k] for k, _ in sorted(told, key=lambda kr: -kr[1])[:self.beam]]
        out, seen = [], set()
        for i in range(10 * self.max_candidates):
            if len(out) >= self.max_candidates:
                break
            g = space.mutate(self.rng.choice(top), self.rng) if top and i % 2 == 0 \
                else space.sample(self.rng)
            s = self._seq(g, b)
            if s not in seen:
                seen.add(s)
                out.append(s)
        return out

    def _log_correlation(self) -> None:
        """Spearman correlation of the surrogate's scores with the rewards of the beam it
        chose (data it had not seen), appended to ``surrogate_log``."""
        told = dict(self.history)
        pairs = [(self._predicted[k], told[k]) for k in self._beam
                 if k in self._predicted and not is_failure(told.get(k))]
        if len(pairs) >= 3:
            rho = spearman([p for p, _ in pairs], [r for _, r in pairs])
            self.surrogate_log.append({'block': self.block, 'trials': self.num_told,
                                       'n': len(pairs), 'spearman': None if rho != rho else rho})

    def scored_candidates(self) -> list:
        """``[(genotype, score)]``: every candidate the surrogate scored for the beam in
        progress (empty when all candidates fitted in the beam). Not saved in the state."""
        return [(self._from_seq(s, b), p) for b, s, p in self._scored]

    def _fit(self) -> None:
        data = [(self._seq(self._genotypes[k], self._block_of[k]), r)
                for k, r in self.history if not is_failure(r)]
        if not data:
            data = [(self._seq(self._genotypes[k], self._block_of[k]), 0.0)
                    for k, _ in self.history]
        rewards = [r for _, r in data]
        lo, hi = min(rewards), max(rewards)
        if self.normalize == 'rank':
            targets = [x / (len(rewards) - 1) if len(rewards) > 1 else 0.5
                       for x in ranks(rewards)]
        else:
            targets = [(r - lo) / (hi - lo) if hi > lo else 0.5 for r in rewards]
        self.surrogate.fit([s for s, _ in data], targets, self.generator)

    # ---- state ------------------------------------------------------------------
    def state_dict(self) -> dict:
        """JSON-able state (each genotype in the JSON form of its block's space) plus
        ``'tensors'``: the generator state as a uint8 tensor."""
        return {
            'type': type(self).__name__,
            'seed': self.seed,
            'rng': rng_state(self.rng),
            'genotypes': {k: self._spaces[self._block_of[k] - 1].to_dict(g)
                          for k, g in self._genotypes.items()},
            'history': [[k, r] for k, r in self.history],
            'pending': list(self.pending),
            'extra': {'block': self.block, 'queue': [list(s) for s in self._queue],
                      'beam': list(self._beam), 'block_of': dict(self._block_of),
                      'over': self._over, 'predicted': dict(self._predicted),
                      'surrogate_log': [dict(e) for e in self.surrogate_log]},
            'tensors': {'generator': self.generator.get_state().clone()},
        }

    def load_state_dict(self, state: dict) -> None:
        if state.get('type') != type(self).__name__:
            raise ValueError(f'state type: {state.get("type")!r} is not allowed; allowed '
                             f'values: [{type(self).__name__!r}]')
        tensors = state.get('tensors')
        if not isinstance(tensors, dict) or 'generator' not in tensors:
            raise ValueError('state: the "tensors" entry (generator state) is missing')
        extra = state['extra']
        set_rng_state(self.rng, state['rng'])
        self._block_of = {k: int(b) for k, b in extra['block_of'].items()}
        self._genotypes = {k: self._spaces[self._block_of[k] - 1].from_dict(d)
                           for k, d in state['genotypes'].items()}
        self.history = [(k, float(r)) for k, r in state['history']]
        self.pending = list(state['pending'])
        self.block, self._over = extra['block'], extra['over']
        self._queue, self._beam = [list(s) for s in extra['queue']], list(extra['beam'])
        self._predicted = dict(extra['predicted'])
        self.surrogate_log = [dict(e) for e in extra['surrogate_log']]
        self._scored = []
        self._best = None
        for k, r in self.history:
            if self._in_space(k) and not is_failure(r) \
                    and (self._best is None or r > self._best[1]):
                self._best = (k, r)
        self.generator.set_state(tensors['generator'])
