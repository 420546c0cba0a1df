"""Multi-objective search: NSGA-II over any space (pure Python: no torch, no numpy).

Deb et al., "A fast and elitist multiobjective genetic algorithm: NSGA-II", IEEE TEC 2002
(https://doi.org/10.1109/4235.996017).

A reward is a vector, one value per objective, each maximised or minimised
(``directions``), e.g. accuracy up and FLOPs down::

    s = build_strategy(dict(type='NSGA2', directions=['max', 'min']), space, seed=0,
                       max_trials=300)
    while not s.done:
        for g in s.ask():
            s.tell(g, (accuracy(g), flops(g)))
    front = s.pareto_front()   # [(genotype, (accuracy, flops))], best accuracy first

A search loop that knows only scalar rewards passes ``cost`` instead: a callable
``genotype -> float | tuple`` whose values are appended to the told reward as minimised
objectives (``directions`` then defaults to ``max`` followed by one ``min`` per value).
"""
from __future__ import annotations

import math
from typing import Callable

from ..space.base import bad_value
from .base import Strategy, budget_warning, check_positive_int, check_prob, register_strategy
from .random_search import draw, draw_random, natural_batch

DIRECTIONS = ('max', 'min')


def dominates(a, b) -> bool:
    """Whether vector ``a`` dominates ``b`` (all objectives maximised)."""
    better = False
    for x, y in zip(a, b):
        if x < y:
            return False
        better = better or x > y
    return better


def non_dominated_sort(points: list) -> list:
    """Fronts of ``points`` (vectors, maximised) as lists of indices, best front first;
    each front keeps the input order."""
    n = len(points)
    beaten_by = [0] * n
    beats: list = [[] for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if dominates(points[i], points[j]):
                beats[i].append(j)
                beaten_by[j] += 1
            elif dominates(points[j], points[i]):
                beats[j].append(i)
                beaten_by[i] += 1
    fronts, current = [], [i for i in range(n) if beaten_by[i] == 0]
    while current:
        fronts.append(current)
        nxt = []
        for i in current:
            for j in beats[i]:
                beaten_by[j] -= 1
                if beaten_by[j] == 0:
                    nxt.append(j)
        current = sorted(nxt)
    return fronts


def crowding_distance(points: list) -> list:
    """NSGA-II crowding distance of each point of one front (boundary points: inf)."""
    n = len(points)
    dist = [0.0] * n
    if n <= 2:
        return [math.inf] * n
    for m in range(len(points[0])):
        order = sorted(range(n), key=lambda i: points[i][m])
        lo, hi = points[order[0]][m], points[order[-1]][m]
        dist[order[0]] = dist[order[-1]] = math.inf
        if hi > lo:
            for a, i, b in zip(order, order[1:], order[2:]):
                dist[i] += (points[b][m] - points[a][m]) / (hi - lo)
    return dist


def hypervolume_2d(points: list, ref) -> float:
    """Area dominated by 2-objective ``points`` (maximised) above the reference point."""
    pts = sorted({(x, y) for x, y in points if x > ref[0] and y > ref[1]}, reverse=True)
    area, top = 0.0, ref[1]
    for x, y in pts:
        if y > top:
            area += (x - ref[0]) * (y - top)
            top = y
    return area


@register_strategy
class NSGA2(Strategy):
    """NSGA-II: elitist non-dominated sorting with crowding distance (module docstring).

    The first generation is ``population`` random genotypes. Once a generation is told,
    the ``population`` survivors are chosen from the survivors before it and the new
    generation: whole non-dominated fronts, best first, the last one cut by crowding
    distance (larger first). The next generation has ``population`` children: two
    binary tournaments (lower front wins, then larger crowding distance) pick parents,
    ``space.crossover`` joins them with probability ``crossover_prob``, and
    ``space.mutate`` changes the child. Every child is new (never asked) and passes the
    ``constraint``; after ``max_tries`` failed tries a random genotype stands in.

    A reward with a NaN or infinite value is a failed trial: it ranks below every
    finite vector. ``best()`` returns the best *first* objective (in its direction);
    :meth:`pareto_front` returns the whole front. Ties are broken by ask order, so the
    same seed and tells give the same asks.

    Args:
        space (SearchSpace): the space searched.
        population (int, optional): genotypes per generation. Defaults to None:
            ``max_trials // 6`` clipped to [8, 50] when ``max_trials`` is given (so the
            budget covers about 6 generations), else 50.
        directions (Sequence[str], optional): ``'max'`` or ``'min'`` per objective.
            Defaults to None: ``('max', 'min')``, or with ``cost`` ``'max'`` then one
            ``'min'`` per cost value.
        cost (callable, optional): ``genotype -> float | tuple``: minimised objectives
            appended to a scalar told reward. Not saved in the state: pass the same one
            when resuming. Defaults to None.
        crossover_prob (float): probability that a child is a crossover. Defaults to 0.9.
        mutation_prob (float, optional): per-decision mutation probability (None: the
            space's default, one decision on average). Defaults to None.
        generations (int, optional): the search is done after this many generations.
            Defaults to None: 20 without ``max_trials``, else as many as it takes.
        max_tries (int): tries per child before a random one. Defaults to 20.
        max_samples (int): random draws per random genotype. Defaults to 10000.
        **kwargs: ``seed``, ``max_trials``, ``constraint`` of :class:`Strategy`.
    """

    aliases = ('nsga2', 'nsga_ii')
    multi_objective = True

    def __init__(self, space, population: int | None = None, directions=None,
                 cost: Callable | None = None, crossover_prob: float = 0.9,
                 mutation_prob: float | None = None, generations: int | None = None,
                 max_tries: int = 20, max_samples: int = 10000, **kwargs):
        super().__init__(space, **kwargs)
        if population is None:
            population = 50 if self.max_trials is None else min(50, max(8, self.max_trials // 6))
        self.population_size = check_positive_int('population', population, minimum=2)
        budget_warning('NSGA2', self.population_size, self.max_trials,
                       f'population={self.population_size}')
        if cost is not None and not callable(cost):
            raise ValueError('cost: a callable genotype -> float | tuple is expected')
        self.cost = cost
        if directions is None:
            directions = ('max', 'min')
        if isinstance(directions, str) or not len(directions) >= 2:
            raise ValueError(f'directions: a list of at least 2 of {list(DIRECTIONS)} is '
                             f'expected, got {directions!r}')
        for i, d in enumerate(directions):
            if d not in DIRECTIONS:
                raise bad_value(f'directions[{i}]', d, DIRECTIONS)
        self.directions = tuple(directions)
        self._sign = tuple(1.0 if d == 'max' else -1.0 for d in self.directions)
        self.crossover_prob = check_prob('crossover_prob', crossover_prob)
        self.mutation_prob = None if mutation_prob is None \
            else check_prob('mutation_prob', mutation_prob)
        if generations is None and self.max_trials is None:
            generations = 20
        self.generations = None if generations is None \
            else check_positive_int('generations', generations)
        self.max_tries = check_positive_int('max_tries', max_tries)
        self.max_samples = check_positive_int('max_samples', max_samples)
        self.objectives: dict = {}   # key -> told objective vector (None entries: failed)
        self.survivors: list = []    # keys of the current parent population
        self._last_generation: list = []  # keys of the newest generation
        self.generation = 0
        self._queue: list = []
        self._exhausted = False

    # ---- rewards --------------------------------------------------------------
    def _vector(self, genotype, reward) -> tuple:
        if isinstance(reward, (list, tuple)):
            vec = tuple(reward)
        elif self.cost is not None:
            c = self.cost(genotype)
            vec = (reward,) + (tuple(c) if isinstance(c, (list, tuple)) else (c,))
        else:
            raise ValueError(f'reward: a sequence of {len(self.directions)} values '
                             f'({", ".join(self.directions)}) is expected, got {reward!r} '
                             '(or build the strategy with a cost callable)')
        if len(vec) != len(self.directions):
            raise ValueError(f'reward: {len(self.directions)} values expected '
                             f'(directions {list(self.directions)}), got {len(vec)}: {vec!r}')
        out = []
        for v in vec:
            v = float('nan') if v is None else float(v)
            out.append(v if math.isfinite(v) else None)
        return tuple(out)

    def tell(self, genotype, reward) -> None:
        k = self.space.key(genotype)
        if k not in self.pending:
            raise ValueError(f'tell: {k} was not asked (or was already told)')
        vec = self._vector(genotype, reward)
        self.objectives[k] = vec
        super().tell(genotype, float('nan') if None in vec else vec[0])

    def _fitness(self, key: str) -> tuple:
        """The objective vector of a told key, every objective maximised (failed: -inf)."""
        vec = self.objectives[key]
        if None in vec:
            return tuple(-math.inf for _ in vec)
        return tuple(s * v for s, v in zip(self._sign, vec))

    def pareto_front(self) -> list:
        """``[(genotype, objectives)]``: the told trials no other told trial dominates
        (failed ones excluded; duplicates of one vector all kept), best first objective
        first."""
        keys = [k for k, _ in self.history if None not in self.objectives[k]]
        if not keys:
            return []
        pts = [self._fitness(k) for k in keys]
        front = non_dominated_sort(pts)[0]
        front.sort(key=lambda i: tuple(-x for x in pts[i]))
        return [(self.genotype(keys[i]), self.objectives[keys[i]]) for i in front]

    def best(self):
        """``(genotype, reward)`` with the best first objective (the reward, for a
        search loop), or None when every trial failed."""
        best = None
        for k, _ in self.history:
            vec = self.objectives[k]
            if None in vec:
                continue
            if best is None or self._sign[0] * vec[0] > self._sign[0] * self.objectives[best][0]:
                best = k
        return None if best is None else (self.genotype(best), self.objectives[best][0])

    # ---- the algorithm ------------------------------------------------------------
    def _rank(self, keys: list) -> tuple:
        """``(front index, crowding distance)`` of each key, for selection."""
        pts = [self._fitness(k) for k in keys]
        rank, crowd = {}, {}
        for f, front in enumerate(non_dominated_sort(pts)):
            for i, d in zip(front, crowding_distance([pts[i] for i in front])):
                rank[keys[i]], crowd[keys[i]] = f, d
        return rank, crowd

    def _select(self, keys: list) -> list:
        """The ``population`` survivors of ``keys`` (fronts, then crowding distance)."""
        pts = [self._fitness(k) for k in keys]
        out = []
        for front in non_dominated_sort(pts):
            if len(out) + len(front) <= self.population_size:
                out.extend(keys[i] for i in front)
                continue
            dist = crowding_distance([pts[i] for i in front])
            order = sorted(range(len(front)), key=lambda j: -dist[j])  # stable
            out.extend(keys[front[j]] for j in order[:self.population_size - len(out)])
            break
        return out

    def _tournament(self, rank: dict, crowd: dict) -> str:
        a, b = (self.survivors[i] for i in self.rng.sample(range(len(self.survivors)), 2)) \
            if len(self.survivors) > 1 else (self.survivors[0], self.survivors[0])
        if (rank[a], -crowd[a]) <= (rank[b], -crowd[b]):
            return a
        return b

    def _child(self, rank, crowd, taken: set):
        space, rng = self.space, self.rng

        def make():
            p = self.genotype(self._tournament(rank, crowd))
            if rng.random() < self.crossover_prob and len(self.survivors) > 1:
                p = space.crossover(p, self.genotype(self._tournament(rank, crowd)), rng)
            return space.mutate(p, rng, prob=self.mutation_prob)
        g = draw(self, make, taken, self.max_tries)
        return g if g is not None else draw_random(self, taken, self.max_samples)

    def _next_generation(self) -> list:
        taken, out = set(), []
        if self.generation > 0:
            self.survivors = self._select(self.survivors + [
                k for k in self._last_generation if k in self.objectives])
            rank, crowd = self._rank(self.survivors)
        for _ in range(self.population_size):
            g = self._child(rank, crowd, taken) if self.generation > 0 \
                else draw_random(self, taken, self.max_samples)
            if g is None:
                break
            out.append(g)
        return out

    def _propose(self, n):
        if not self._queue:
            if self.pending or self._exhausted or self._all_generations():
                return []
            self._queue = self._next_generation()
            self._last_generation = [self.space.key(g) for g in self._queue]
            self.generation += 1
            self._exhausted = not self._queue
        take = natural_batch(self, len(self._queue)) if n is None else n
        out, self._queue = self._queue[:take], self._queue[take:]
        return out

    def _all_generations(self) -> bool:
        return self.generations is not None and self.generation >= self.generations

    def _finished(self) -> bool:
        return (self._exhausted or self._all_generations()) and not self.pending \
            and not self._queue

    # ---- state ------------------------------------------------------------------
    def _extra_state(self) -> dict:
        return {'objectives': {k: list(v) for k, v in self.objectives.items()},
                'survivors': list(self.survivors), 'generation': self.generation,
                'last_generation': list(self._last_generation),
                'exhausted': self._exhausted,
                'queue': [self.space.to_dict(g) for g in self._queue]}

    def _load_extra_state(self, state: dict) -> None:
        self.objectives = {k: tuple(v) for k, v in state['objectives'].items()}
        self.survivors = list(state['survivors'])
        self._last_generation = list(state['last_generation'])
        self.generation = int(state['generation'])
        self._exhausted = bool(state['exhausted'])
        self._queue = [self.space.from_dict(d) for d in state['queue']]
