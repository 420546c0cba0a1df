"""Random search, and the candidate-drawing helpers the evolutionary strategies share.

Pure Python: no torch, no numpy.
"""
from __future__ import annotations

from typing import Callable

from .base import Strategy, check_positive_int, register_strategy


def constraint_name(constraint) -> str:
    """A readable name of a constraint: a function's qualified name, else its repr."""
    return getattr(constraint, '__qualname__', None) or repr(constraint)


def draw(strategy: Strategy, make: Callable, taken: set, max_tries: int):
    """The first candidate ``make()`` returns that was never asked, is not in ``taken``
    (keys already proposed in this batch) and passes the strategy's constraint.

    Args:
        strategy (Strategy): the strategy (its ``seen`` / ``allowed`` decide).
        make (callable): ``() -> genotype``, drawing with the strategy's RNG.
        taken (set): canonical keys proposed but not yet asked; the winner is added.
        max_tries (int): candidates to try.

    Returns:
        The genotype, or None when all ``max_tries`` candidates failed.
    """
    for _ in range(max_tries):
        g = make()
        k = strategy.space.key(g)
        if k in taken or k in strategy._genotypes or not strategy.allowed(g):
            continue
        taken.add(k)
        return g
    return None


def draw_random(strategy: Strategy, taken: set, max_samples: int):
    """A uniformly random new allowed genotype (see :func:`draw`).

    Returns None when the space looks exhausted (``max_samples`` draws found nothing
    new). Raises ``ValueError`` when nothing was ever asked and the constraint rejects
    every draw: the constraint cannot be met.
    """
    space = strategy.space
    if len(strategy._genotypes) + len(taken) >= space.size():
        return None
    g = draw(strategy, lambda: space.sample(strategy.rng), taken, max_samples)
    if g is None and not strategy._genotypes and not taken:  # nothing seen: all rejected
        raise ValueError(
            f'constraint: could not be met: {constraint_name(strategy.constraint)} rejected '
            f'all {max_samples} random samples of space {space.name!r}; relax the constraint')
    return g


def natural_batch(strategy: Strategy, size: int) -> int:
    """``size`` capped by the strategy's ``budget_left``, so nothing proposed is cut."""
    left = strategy.budget_left
    return size if left is None else min(size, left)


@register_strategy
class RandomSearch(Strategy):
    """Uniform random search without repeats.

    Every asked genotype is new (never asked before) and passes the constraint. The
    search ends (``done``) when no new allowed genotype is found in ``max_samples``
    draws, e.g. when a small space is exhausted.

    Args:
        space (SearchSpace): the space searched.
        batch_size (int): genotypes per ``ask()`` (the natural batch). Defaults to 1.
        max_samples (int): random draws tried for one new allowed genotype; if none of
            the first search's draws passes the constraint a ``ValueError`` is raised.
            Defaults to 10000.
        **kwargs: ``seed``, ``max_trials``, ``constraint`` of :class:`Strategy`.
    """

    aliases = ('random',)

    def __init__(self, space, batch_size: int = 1, max_samples: int = 10000, **kwargs):
        super().__init__(space, **kwargs)
        self.batch_size = check_positive_int('batch_size', batch_size)
        self.max_samples = check_positive_int('max_samples', max_samples)
        self._exhausted = False

    def _propose(self, n):
        out, taken = [], set()
        for _ in range(natural_batch(self, self.batch_size) if n is None else n):
            g = draw_random(self, taken, self.max_samples)
            if g is None:
                self._exhausted = True
                break
            out.append(g)
        return out

    def _finished(self) -> bool:
        return self._exhausted and not self.pending

    def _extra_state(self) -> dict:
        return {'exhausted': self._exhausted}

    def _load_extra_state(self, state: dict) -> None:
        self._exhausted = bool(state['exhausted'])
