"""The one interface of every search strategy (pure Python: no torch, no mmengine).

A strategy proposes genotypes of a :class:`~nas_det.space.SearchSpace` and learns from
their rewards::

    strategy = build_strategy(dict(type='RegularizedEvolution', population=20), space, seed=0)
    while not strategy.done:
        for g in strategy.ask():            # the strategy's next natural batch
            strategy.tell(g, objective(g))  # in any order; NaN/inf = failed trial
    genotype, reward = strategy.best()

Contracts:

* ``ask(n=None)`` returns up to ``n`` new genotypes (all of the strategy's next natural
  batch when ``n`` is None: a generation, a controller batch, a beam). It may return
  fewer, or none, when it needs the rewards of what it already asked before it can
  propose more; ``pending`` lists what was asked and not yet told.
* ``tell(genotype, reward)`` records one result of an asked genotype. Rewards are
  maximised. A NaN or infinite reward is recorded as a failed trial (ranked below every
  finite reward) and the search goes on.
* Determinism: all randomness comes from ``self.rng`` (a ``random.Random`` seeded in
  ``__init__``). The same seed and the same tells give the same asks.
* ``state_dict()`` returns JSON-able data (tensors of neural strategies excepted: they
  are returned under the key ``'tensors'``, to be saved apart with ``torch.save`` and
  loaded with ``weights_only=True``). ``load_state_dict`` on a fresh strategy built
  with the same arguments restores it exactly: asks after a save/load equal those of
  an uninterrupted run.
"""
from __future__ import annotations

import math
import random
from typing import Any, Callable

from ..space.base import SearchSpace

STRATEGIES: dict = {}


def register_strategy(cls):
    """Class decorator: make a strategy buildable by ``build_strategy(dict(type=name))``."""
    STRATEGIES[cls.__name__] = cls
    for alias in getattr(cls, 'aliases', ()):
        STRATEGIES[alias] = cls
    return cls


def build_strategy(cfg: dict, space: SearchSpace, seed: int | None = None, **extra):
    """Build a strategy from a config dict ``dict(type=NAME, **kwargs)``.

    ``seed`` (if given) overrides ``cfg['seed']``; ``extra`` (for example a
    ``constraint`` callable) is passed to the constructor.
    """
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise ValueError(f'strategy: a dict with a "type" key is expected, got {cfg!r}')
    cfg = dict(cfg)
    name = cfg.pop('type')
    if name not in STRATEGIES:
        _load_neural()
    if name not in STRATEGIES:
        raise ValueError(f'strategy.type: {name!r} is not allowed; allowed values: '
                         f'{sorted(STRATEGIES)}')
    if seed is not None:
        cfg['seed'] = seed
    cls = STRATEGIES[name]
    try:
        return cls(space, **cfg, **extra)
    except TypeError as e:  # unknown keyword: name it
        raise ValueError(f'strategy {name}: {e}') from None


def _load_neural():
    """Import the torch-based strategies on demand (they register themselves)."""
    import importlib
    for mod in ('reinforce', 'progressive'):
        try:
            importlib.import_module(f'{__package__}.{mod}')
        except ModuleNotFoundError as e:
            if e.name not in ('torch', f'{__package__}.{mod}'):  # no torch / not written
                raise


def is_failure(reward) -> bool:
    return reward is None or not math.isfinite(reward)


def rank_value(reward) -> float:
    """Sort key: failed trials rank below every finite reward."""
    return -math.inf if is_failure(reward) else float(reward)


def ranks(values) -> list:
    """Rank of each value (0 = smallest), ties given their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in order[i:j + 1]:
            out[k] = (i + j) / 2
        i = j + 1
    return out


def spearman(a, b) -> float:
    """Spearman rank correlation of two equally long sequences (NaN when either is
    constant or shorter than 2)."""
    if len(a) != len(b):
        raise ValueError(f'spearman: sequences of equal length expected, got {len(a)} and {len(b)}')
    if len(a) < 2:
        return float('nan')
    ra, rb = ranks(list(a)), ranks(list(b))
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra)
    vb = sum((y - mb) ** 2 for y in rb)
    return cov / math.sqrt(va * vb) if va > 0 and vb > 0 else float('nan')


def budget_warning(name: str, random_phase: int, max_trials, setting: str) -> None:
    """Warn in one line when ``max_trials`` ends a search within its random phase."""
    if max_trials is not None and max_trials <= random_phase:
        import warnings
        warnings.warn(f'{name}: max_trials={max_trials} ends the search within its '
                      f'{random_phase} random trials ({setting}): it is random search; '
                      'lower these settings or leave them to their budget-scaled defaults',
                      stacklevel=4)


def rng_state(rng: random.Random) -> list:
    """JSON-able state of a ``random.Random``."""
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def set_rng_state(rng: random.Random, state) -> None:
    version, internal, gauss = state
    rng.setstate((version, tuple(internal), gauss))


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f'{name}: an integer >= {minimum} is expected, got {value!r}')
    return value


def check_prob(name: str, value: Any) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
        raise ValueError(f'{name}: a probability in [0, 1] is expected, got {value!r}')
    return float(value)


class Strategy:
    """Base class: history of told trials, best, pending, RNG, state round trip.

    Subclasses implement :meth:`_propose` (return new genotypes, or an empty list when
    waiting for rewards) and may extend :meth:`_on_tell`, :meth:`_extra_state` and
    :meth:`_load_extra_state`.

    Args:
        space (SearchSpace): the space searched.
        seed (int): seed of the strategy's own RNG. Defaults to 0.
        max_trials (int, optional): the strategy reports ``done`` after this many tells.
            Defaults to None (the strategy's own end, if any).
        constraint (callable, optional): ``genotype -> bool``; genotypes for which it
            returns False are never asked (checked before anything is evaluated).
            Not saved in the state: pass the same one when resuming.
    """

    aliases: tuple = ()

    def __init__(self, space: SearchSpace, seed: int = 0, max_trials: int | None = None,
                 constraint: Callable | None = None):
        if not isinstance(space, SearchSpace):
            raise ValueError(f'space: a SearchSpace is expected, got {type(space).__name__}')
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f'seed: an integer is expected, got {seed!r}')
        if max_trials is not None:
            check_positive_int('max_trials', max_trials)
        if constraint is not None and not callable(constraint):
            raise ValueError('constraint: a callable genotype -> bool is expected')
        self.space = space
        self.seed = seed
        self.max_trials = max_trials
        self.constraint = constraint
        self.rng = random.Random(seed)
        self.history: list = []     # [(key, reward)] in tell order
        self._genotypes: dict = {}  # key -> genotype, for every asked or told genotype
        self.pending: list = []     # keys asked and not yet told
        self._best = None           # (key, reward)

    # ---- public API ---------------------------------------------------------
    def ask(self, n: int | None = None) -> list:
        if n is not None:
            check_positive_int('n', n)
        if self.done:
            return []
        left = self.budget_left
        if left is not None and left <= 0:
            return []
        if n is not None and left is not None:
            n = min(n, left)
        new = self._propose(n)  # n=None: the natural batch, then cut to the budget
        limit = left if n is None else n
        if limit is not None:
            new = new[:limit]
        for g in new:
            k = self.space.key(g)
            self._genotypes[k] = g
            self.pending.append(k)
        return list(new)

    def tell(self, genotype, reward) -> None:
        k = self.space.key(genotype)
        if k not in self.pending:
            raise ValueError(f'tell: {k} was not asked (or was already told)')
        self.pending.remove(k)
        reward = float('nan') if reward is None else float(reward)
        self.history.append((k, reward))
        if not is_failure(reward) and (self._best is None or reward > self._best[1]):
            self._best = (k, reward)
        self._on_tell(self._genotypes[k], reward)

    def tell_many(self, results) -> None:
        for g, r in results:
            self.tell(g, r)

    def best(self):
        """``(genotype, reward)`` of the best finite reward told so far, or None."""
        if self._best is None:
            return None
        return self._genotypes[self._best[0]], self._best[1]

    @property
    def num_told(self) -> int:
        return len(self.history)

    @property
    def budget_left(self) -> int | None:
        """Trials that may still be asked under ``max_trials`` (None when unlimited).
        ``_propose`` may cap its natural batch with it so that nothing it proposes is cut."""
        if self.max_trials is None:
            return None
        return self.max_trials - self.num_told - len(self.pending)

    @property
    def done(self) -> bool:
        """True once ``max_trials`` trials were told or the strategy itself has ended."""
        return (self.max_trials is not None and self.num_told >= self.max_trials) \
            or self._finished()

    def key(self, genotype) -> str:
        """Canonical key of a genotype this strategy asks (the space's, by default;
        progressive search asks genotypes of smaller prefix spaces)."""
        return self.space.key(genotype)

    def genotype_to_dict(self, genotype) -> dict:
        """JSON form of a genotype this strategy asked."""
        return self.space.to_dict(genotype)

    def seen(self, genotype) -> bool:
        """Whether the genotype was already asked (told or pending)."""
        return self.space.key(genotype) in self._genotypes

    def allowed(self, genotype) -> bool:
        return self.constraint is None or bool(self.constraint(genotype))

    # ---- state --------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            'type': type(self).__name__,
            'seed': self.seed,
            'rng': rng_state(self.rng),
            'genotypes': {k: self.space.to_dict(g) for k, g in self._genotypes.items()},
            'history': [[k, r] for k, r in self.history],
            'pending': list(self.pending),
            'extra': self._extra_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        if state.get('type') != type(self).__name__:
            raise ValueError(f'state type: {state.get("type")!r} is not allowed; allowed '
                             f'values: [{type(self).__name__!r}]')
        set_rng_state(self.rng, state['rng'])
        self._genotypes = {k: self.space.from_dict(d) for k, d in state['genotypes'].items()}
        self.history = [(k, float(r)) for k, r in state['history']]
        self.pending = list(state['pending'])
        self._best = None
        for k, r in self.history:
            if not is_failure(r) and (self._best is None or r > self._best[1]):
                self._best = (k, r)
        self._load_extra_state(state['extra'])

    # ---- hooks for subclasses ----------------------------------------------
    def _propose(self, n: int | None) -> list:
        raise NotImplementedError

    def _on_tell(self, genotype, reward: float) -> None:
        pass

    def _finished(self) -> bool:
        return False

    def _extra_state(self) -> dict:
        return {}

    def _load_extra_state(self, state: dict) -> None:
        pass

    def genotype(self, key: str):
        return self._genotypes[key]

    def sample_new(self, max_tries: int = 1000):
        """A random allowed genotype not asked before (or None after ``max_tries``)."""
        for _ in range(max_tries):
            g = self.space.sample(self.rng)
            if not self.seen(g) and self.allowed(g):
                return g
        return None
