"""Which path a one-shot supernet trains at each iteration, runner-free: the sampling
side of :class:`~nas_det.engine.hooks.UniformSamplingHook`, also used by plain-torch loops
(the ranking benchmark)."""
from __future__ import annotations

import random
from typing import Sequence

from ...space.base import bad_value


class SamplingRecipe:
    """Which path a one-shot supernet trains at each iteration: the sampling side of
    :class:`UniformSamplingHook`, runner-free so that plain-torch loops (the ranking
    benchmark) train with exactly the hook's schedule.

    With no option set, every iteration draws ``space.sample(rng)``: uniform single-path
    one-shot, the paper's recipe. The options form a warm start and a curriculum:

    1. ``warmup_iters`` iterations of the fixed ``warmup_path`` alone (a plain network);
    2. at iteration ``warmup_iters``, the other choices of every block are initialised
       from the trained one (``inherit_weights``; done by the hook, through the
       backbone's ``inherit_choice_weights``); from then on every choice has its own
       weights and trains on its own;
    3. an op listed in ``op_curriculum`` enters the sampling at the iteration given
       there, with a sampling weight that grows linearly from 0 to that of the other
       ops over ``ramp_iters`` iterations (ops not listed are sampled from the end of
       the warm-up on, with weight 1). Listing all ops but the warm-up op, entering at
       ``warmup_iters``, grows the expected number of switching blocks from 0 to 3/4 of
       them; listing only ``xception3x3`` brings the unit that is least like a shuffle
       unit in last.

    Args:
        warmup_path (str | Sequence, optional): the op of every block (an option of
            every decision, e.g. ``'shuffle3x3'``) or one option per decision.
            Defaults to None (no warm-up).
        warmup_iters (int): iterations of ``warmup_path`` alone. Defaults to 0.
        inherit_weights (bool): at the end of the warm-up, copy the warm path's weights
            into the other choices of its blocks. Defaults to True.
        op_curriculum (dict, optional): ``{op: iteration}`` at which an op enters the
            sampling. Defaults to None.
        ramp_iters (int): iterations over which an entering op's sampling weight grows
            from 0 to 1. Defaults to 0 (at once).
    """

    def __init__(self, warmup_path=None, warmup_iters: int = 0, inherit_weights: bool = True,
                 op_curriculum: dict | None = None, ramp_iters: int = 0):
        for field, v in (('warmup_iters', warmup_iters), ('ramp_iters', ramp_iters)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f'{field}: an integer >= 0 is expected, got {v!r}')
        if not isinstance(inherit_weights, bool):
            raise ValueError(f'inherit_weights: True or False is expected, got '
                             f'{inherit_weights!r}')
        if (warmup_path is None) != (warmup_iters == 0):
            raise ValueError(f'warmup_path and warmup_iters: give both (a path and a positive '
                             f'number of iterations) or neither, got warmup_path='
                             f'{warmup_path!r}, warmup_iters={warmup_iters!r}')
        if warmup_path is not None and not isinstance(warmup_path, str):
            if (isinstance(warmup_path, bytes) or not isinstance(warmup_path, Sequence)
                    or not warmup_path):
                raise ValueError(f'warmup_path: an op name or a list of one option per '
                                 f'decision is expected, got {warmup_path!r}')
            warmup_path = tuple(warmup_path)
        op_curriculum = dict(op_curriculum or {})
        for op, it in op_curriculum.items():
            if isinstance(it, bool) or not isinstance(it, int) or it < 0:
                raise ValueError(f'op_curriculum: the iteration at which {op!r} enters must be '
                                 f'an integer >= 0, got {it!r}')
        self.warmup_path, self.warmup_iters = warmup_path, warmup_iters
        self.inherit_weights = inherit_weights
        self.op_curriculum, self.ramp_iters = op_curriculum, ramp_iters

    @property
    def is_uniform(self) -> bool:
        """True for the paper's recipe (a uniform path from the first iteration)."""
        return self.warmup_iters == 0 and not self.op_curriculum

    def check(self, space) -> None:
        """Raise ``ValueError`` (naming the option) if the recipe does not fit ``space``."""
        if self.warmup_path is not None:
            self.warmup_tokens(space)
        enter = self.warmup_iters
        for d in space.decisions:
            if all(self.op_curriculum.get(o, enter) > enter for o in d.options):
                raise ValueError(f'op_curriculum: every option of {d.key} enters after the '
                                 f'warm-up ({enter} iterations); at least one must enter by '
                                 f'then')
        known = {o for d in space.decisions for o in d.options}
        for op in self.op_curriculum:
            if op not in known:
                raise bad_value('op_curriculum', op, sorted(known, key=str))

    def warmup_tokens(self, space) -> tuple:
        """The warm-up path as one option index per decision of ``space``."""
        path = self.warmup_path
        if isinstance(path, str):
            path = [path] * len(space.decisions)
        if len(path) != len(space.decisions):
            raise ValueError(f'warmup_path: {len(space.decisions)} options (one per decision) '
                             f'are expected, got {len(path)}')
        out = []
        for d, op in zip(space.decisions, path):
            if op not in d.options:
                raise bad_value(f'warmup_path ({d.key})', op, d.options)
            out.append(d.options.index(op))
        return tuple(out)

    def weight(self, op, iteration: int) -> float:
        """Sampling weight of ``op`` at ``iteration`` (after the warm-up)."""
        enter = self.op_curriculum.get(op, self.warmup_iters)
        if iteration < enter:
            return 0.
        if self.ramp_iters == 0 or op not in self.op_curriculum:
            return 1.
        return min(1., (iteration - enter + 1) / self.ramp_iters)

    def sample(self, space, iteration: int, rng: random.Random):
        """The path to train at ``iteration`` (0-based), drawn with ``rng``."""
        if iteration < self.warmup_iters:
            return space.from_tokens(self.warmup_tokens(space))
        if not self.op_curriculum:
            return space.sample(rng)
        tokens = []
        for d in space.decisions:
            w = [self.weight(o, iteration) for o in d.options]
            tokens.append(rng.choices(range(len(w)), weights=w)[0])
        return space.from_tokens(tokens)


def inherit_choice_weights(modules, recipe: SamplingRecipe) -> int:
    """The end of a warm-up: every module of ``[(name, module)]`` that has
    ``inherit_choice_weights`` initialises its other choices from the warm-up path's
    ops. Returns the number of choice units overwritten."""
    count = 0
    for _, m in modules:
        if callable(getattr(m, 'inherit_choice_weights', None)):
            d = m.search_space.decisions
            ops = [d[i].options[t] for i, t in enumerate(recipe.warmup_tokens(m.search_space))]
            count += m.inherit_choice_weights(ops[0] if len(set(ops)) == 1 else ops)
    return count
