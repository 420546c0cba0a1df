"""REINFORCE with an LSTM controller (Zoph & Le, NAS, https://arxiv.org/abs/1611.01578;
the NASNet search space, https://arxiv.org/abs/1707.07012, is searched the same way).

The controller emits one softmax per decision of ``space.decisions``, in order. The input
of the first step is a learned start vector; the input of step ``i`` is the embedding of
the token sampled at step ``i - 1`` (one table, each decision owning its own rows).
Once a whole batch of children is told, one Adam step on::

    loss = -mean_i (reward_i - baseline) * log p(tokens_i) - entropy_weight * mean_i H_i

where the baseline is an exponential moving average of the rewards (initialised to the
mean of the first batch). With ``update='ppo'`` (NASNet trained its controller this way,
https://arxiv.org/abs/1707.07012; PPO: Schulman et al., https://arxiv.org/abs/1707.06347)
the batch instead takes ``ppo_epochs`` Adam steps on the clipped surrogate::

    ratio_i = exp(log p_new(tokens_i) - log p_old(tokens_i))
    loss = -mean_i min(ratio_i * A_i, clip(ratio_i, 1 - eps, 1 + eps) * A_i)
           - entropy_weight * mean_i H_i

with ``A_i = reward_i - baseline`` and ``eps = ppo_clip``; ``p_old`` is the controller
that sampled the batch (the weights only change once a whole batch is told, so it is the
controller as it stands when the update starts: nothing more to save for a resume).
Failed children (NaN/inf rewards) take no part in the update nor in the baseline. Asks
are always new genotypes (never asked before) that satisfy the ``constraint``: the
controller resamples up to ``max_resample`` rounds, then closes the batch with fewer
children; when a fresh batch gets none at all (space exhausted or the
controller collapsed onto what it has already asked) the search is done.

All randomness comes from a private ``torch.Generator`` seeded from ``seed``; torch runs
on CPU and nothing global is set.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..space.base import bad_value
from .base import Strategy, budget_warning, check_positive_int, is_failure, register_strategy
from .surrogates import build_module, check_float, make_generator


UPDATES = ('reinforce', 'ppo')


class _Controller(nn.Module):
    """One-layer LSTM cell, a start input, token embeddings and per-decision logits."""

    def __init__(self, cards, hidden_size: int, device=None):
        super().__init__()
        self.cards = tuple(cards)
        self.offsets = tuple(sum(self.cards[:i]) for i in range(len(self.cards)))
        self.start = nn.Parameter(torch.empty(1, hidden_size, device=device))
        self.embed = nn.Embedding(sum(self.cards), hidden_size, device=device)
        self.cell = nn.LSTMCell(hidden_size, hidden_size, device=device)
        self.logits = nn.Linear(hidden_size, sum(self.cards), device=device)

    def forward(self, num: int, temperature: float = 1.0, tanh_constant: float | None = None,
                tokens: torch.Tensor | None = None, generator: torch.Generator | None = None):
        """Sample ``num`` token sequences (or score the given ``tokens``, shape
        ``[num, len(cards)]``). Returns the tokens, the log-probability of each token
        (``[num, len(cards)]``) and the summed entropies (``[num]``)."""
        h = c = self.start.new_zeros(num, self.start.shape[1])
        x = self.start.expand(num, -1)
        ent = self.start.new_zeros(num)
        out, log_p = [], []
        for i, (k, off) in enumerate(zip(self.cards, self.offsets)):
            h, c = self.cell(x, (h, c))
            logits = self.logits(h)[:, off:off + k] / temperature
            if tanh_constant is not None:
                logits = tanh_constant * torch.tanh(logits)
            logp = torch.log_softmax(logits, dim=-1)
            if tokens is not None:
                t = tokens[:, i]
            elif k == 1:
                t = torch.zeros(num, dtype=torch.long)
            else:
                t = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(1)
            log_p.append(logp.gather(1, t[:, None]).squeeze(1))
            ent = ent - (logp.exp() * logp).sum(-1)
            out.append(t)
            x = self.embed(t + off)
        return torch.stack(out, 1), torch.stack(log_p, 1), ent


@register_strategy
class ReinforceController(Strategy):
    """NAS-style REINFORCE over any search space (see the module docstring).

    Args:
        space (SearchSpace): the space searched.
        seed (int): seed of ``self.rng`` and of the private torch generator (controller
            initialisation and sampling). Defaults to 0.
        max_trials (int, optional): stop after this many tells. Defaults to None.
        constraint (callable, optional): ``genotype -> bool``; rejected samples are
            resampled. Defaults to None.
        batch_size (int): children per controller update (the natural ask batch).
            Defaults to 10.
        hidden_size (int): LSTM and embedding width. Defaults to 64.
        lr (float): Adam learning rate (NAS used 0.0006, ENAS 0.00035; larger values
            suit the small budgets of detection searches). Defaults to 0.01.
        baseline_decay (float): decay of the reward moving average, in [0, 1).
            Defaults to 0.95.
        entropy_weight (float): weight of the entropy bonus. Defaults to 0.0001.
        temperature (float): logits are divided by it. Defaults to 1.0.
        tanh_constant (float, optional): if set, logits become ``c * tanh(logits)``
            (after the temperature). Defaults to None.
        max_resample (int): sampling rounds per ask (each twice as large as the one
            before, up to 32 times the batch) before the batch is closed with fewer
            children. Defaults to 20.
        init_scale (float): controller weights start uniform in ``[-s, s]``.
            Defaults to 0.1.
        update (str): ``'reinforce'`` (one policy-gradient step per batch) or ``'ppo'``
            (``ppo_epochs`` steps on the clipped surrogate). Defaults to 'reinforce'.
        ppo_clip (float): PPO's clip range ``eps`` in ``(0, 1)``. Defaults to 0.2.
        ppo_epochs (int): Adam steps per batch with ``update='ppo'``. Defaults to 4.
    """

    aliases = ('reinforce',)

    def __init__(self, space, seed: int = 0, max_trials=None, constraint=None,
                 batch_size: int = 10, hidden_size: int = 64, lr: float = 0.01,
                 baseline_decay: float = 0.95, entropy_weight: float = 1e-4,
                 temperature: float = 1.0, tanh_constant: float | None = None,
                 max_resample: int = 20, init_scale: float = 0.1,
                 update: str = 'reinforce', ppo_clip: float = 0.2, ppo_epochs: int = 4):
        super().__init__(space, seed=seed, max_trials=max_trials, constraint=constraint)
        self.batch_size = check_positive_int('batch_size', batch_size)
        budget_warning('ReinforceController', batch_size, max_trials,
                       f'batch_size={batch_size}: no controller update')
        self.hidden_size = check_positive_int('hidden_size', hidden_size)
        self.max_resample = check_positive_int('max_resample', max_resample)
        self.lr = check_float('lr', lr)
        self.baseline_decay = check_float('baseline_decay', baseline_decay, 0.0, 1.0,
                                          low_open=False, high_open=True)
        self.entropy_weight = check_float('entropy_weight', entropy_weight, low_open=False)
        self.temperature = check_float('temperature', temperature)
        self.tanh_constant = None if tanh_constant is None \
            else check_float('tanh_constant', tanh_constant)
        init_scale = check_float('init_scale', init_scale)
        if update not in UPDATES:
            raise bad_value('update', update, UPDATES)
        self.update = update
        self.ppo_clip = check_float('ppo_clip', ppo_clip, 0.0, 1.0, high_open=True)
        self.ppo_epochs = check_positive_int('ppo_epochs', ppo_epochs)
        if not len(space.decisions):
            raise ValueError(f'space: {space.name!r} has no decisions to search')
        self.generator = make_generator(seed)
        self.controller = build_module(
            lambda device: _Controller(space.cardinalities, self.hidden_size, device),
            self.generator, init_scale)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=self.lr)
        self.baseline: float | None = None
        self.updates = 0
        self._batch: list = []     # keys of the batch in progress, in ask order
        self._closed = False       # no more asks in this batch: waiting for its tells
        self._exhausted = False    # a fresh batch found nothing new: the search is over

    # ---- controller -----------------------------------------------------------
    def _run(self, num: int, tokens=None):
        return self.controller(num, self.temperature, self.tanh_constant, tokens,
                               self.generator)

    @torch.no_grad()
    def log_probs(self, genotypes) -> list:
        """Controller log-probability of each genotype (a list of floats)."""
        toks = torch.tensor([self.space.to_tokens(g) for g in genotypes], dtype=torch.long)
        return self._run(len(toks), toks)[1].sum(1).tolist() if len(toks) else []

    @torch.no_grad()
    def token_probs(self, genotype) -> list:
        """Probability of each token of the genotype given the tokens before it."""
        toks = torch.tensor([self.space.to_tokens(genotype)], dtype=torch.long)
        return self._run(1, toks)[1][0].exp().tolist()

    # ---- ask / tell -----------------------------------------------------------
    def _propose(self, n):
        if self._closed:
            return []
        need = self.batch_size - len(self._batch)
        for cap in (n, self.budget_left):  # never propose what ask() would cut
            need = need if cap is None else min(need, cap)
        new, keys = [], set()
        for r in range(self.max_resample):
            if len(new) == need:
                break
            with torch.no_grad():  # rounds grow (up to 32x) when samples are rejected
                toks = self._run(max(need - len(new), self.batch_size) << min(r, 5))[0].tolist()
            for row in toks:
                g = self.space.from_tokens(row)
                k = self.space.key(g)
                if k in keys or self.seen(g) or not self.allowed(g):
                    continue
                keys.add(k)
                new.append(g)
                if len(new) == need:
                    break
        if len(new) < need:  # give up the remaining slots of this batch
            self._closed = True
            self._exhausted = not self._batch and not new
        self._batch.extend(self.space.key(g) for g in new)
        if len(self._batch) >= self.batch_size:
            self._closed = True
        return new

    def _on_tell(self, genotype, reward):
        if not self._closed or any(k in self.pending for k in self._batch):
            return
        told = dict(self.history[-len(self._batch):])
        results = [(self._genotypes[k], told[k]) for k in self._batch
                   if not is_failure(told[k])]
        if results:
            self._update(results)
        self._batch, self._closed = [], False

    def _update(self, results) -> None:
        rewards = [r for _, r in results]
        if self.baseline is None:
            self.baseline = sum(rewards) / len(rewards)
        adv = torch.tensor([r - self.baseline for r in rewards], dtype=torch.float32)
        toks = torch.tensor([self.space.to_tokens(g) for g, _ in results], dtype=torch.long)
        old = None
        for _ in range(self.ppo_epochs if self.update == 'ppo' else 1):
            _, log_p, ent = self._run(len(results), toks)
            log_p = log_p.sum(1)
            if self.update == 'ppo':
                old = log_p.detach() if old is None else old
                ratio = (log_p - old).exp()
                clipped = ratio.clamp(1 - self.ppo_clip, 1 + self.ppo_clip)
                gain = torch.minimum(ratio * adv, clipped * adv)
            else:
                gain = adv * log_p
            loss = -gain.mean() - self.entropy_weight * ent.mean()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        for r in rewards:
            self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * r
        self.updates += 1

    def _finished(self) -> bool:
        return self._exhausted

    # ---- state ----------------------------------------------------------------
    def state_dict(self) -> dict:
        """JSON-able state plus ``'tensors'``: controller weights, Adam state and the
        generator state (a uint8 tensor), loadable with ``torch.load(weights_only=True)``."""
        state = super().state_dict()
        state['tensors'] = copy.deepcopy({
            'controller': self.controller.state_dict(),
            'optimizer': self.optimizer.state_dict(),
            'generator': self.generator.get_state(),
        })
        return state

    def load_state_dict(self, state: dict) -> None:
        tensors = state.get('tensors')
        if not isinstance(tensors, dict):
            raise ValueError('state: the "tensors" entry (controller weights, optimizer '
                             'and generator state) is missing')
        super().load_state_dict(state)
        self.controller.load_state_dict(tensors['controller'])
        self.optimizer.load_state_dict(tensors['optimizer'])
        self.generator.set_state(tensors['generator'])

    def _extra_state(self) -> dict:
        return {'baseline': self.baseline, 'updates': self.updates, 'batch': list(self._batch),
                'closed': self._closed, 'exhausted': self._exhausted}

    def _load_extra_state(self, state: dict) -> None:
        self.baseline = state['baseline']
        self.updates = state['updates']
        self._batch = list(state['batch'])
        self._closed = state['closed']
        self._exhausted = state['exhausted']
