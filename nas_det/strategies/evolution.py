"""Evolutionary strategies: AmoebaNet's aging evolution and DetNAS's genetic algorithm.

Pure Python: no torch, no numpy. Both use only the space's own ``sample`` / ``mutate`` /
``crossover``, so they search any :class:`~nas_det.space.SearchSpace` (cell spaces bring
AmoebaNet's hidden-state and op mutations through their ``mutate``).
"""
from __future__ import annotations

from .base import (Strategy, budget_warning, check_positive_int, check_prob, rank_value,
                   register_strategy)
from .random_search import draw, draw_random, natural_batch


def _check_le(name: str, value: int, other: str, limit: int) -> None:
    if value > limit:
        raise ValueError(f'{name}: must be <= {other} ({limit}), got {value}')


@register_strategy
class RegularizedEvolution(Strategy):
    """Regularized (aging) evolution, as in AmoebaNet.

    Real et al., "Regularized Evolution for Image Classifier Architecture Search",
    AAAI 2019 (https://arxiv.org/abs/1802.01548).

    The first ``population`` asks are uniformly random; children are proposed only once
    all of them are told. Each cycle then samples ``sample_size`` members of the
    population uniformly, takes the best as parent and asks ``space.mutate(parent)``.
    When a child is told it joins the population and the oldest member dies. Children
    of one batch (``batch_size`` > 1, for parallel workers) all come from the current
    population.

    No genotype is asked twice, so the identity "mutation" (AmoebaNet keeps an
    unmutated copy of the parent with probability ``identity_prob``) is not
    re-evaluated: rewards are taken as deterministic, so the copy joins the population
    at once with the parent's reward (rejuvenating it; the oldest member dies) and the
    cycle repeats to produce the child that is asked. Such copies are not trials: they
    do not appear in ``history``.

    A mutation that was already asked or breaks the constraint is retried (up to
    ``max_tries`` times), then a random new genotype is asked instead. The search is
    ``done`` when no new allowed genotype can be found (a small space exhausted).

    Args:
        space (SearchSpace): the space searched.
        population (int, optional): population size P. Defaults to None: with
            ``max_trials``, ``max_trials // 5`` clipped to [10, 100] (the first P asks
            are random, so the budget leaves room to evolve), else 100 (AmoebaNet).
        sample_size (int, optional): tournament size S (<= P). Defaults to None:
            ``P // 2`` when P was scaled from ``max_trials`` (the best setting on the
            digits benchmark, ``docs/strategies.md``), else ``P / 4`` rounded up (at least
            2; 25 for P = 100, as in AmoebaNet).
        identity_prob (float): probability in [0, 1) of an identity cycle (see above).
            Defaults to 0.05.
        batch_size (int): children per ``ask()`` (the natural batch). Defaults to 1.
        max_tries (int): mutations tried per child before a random one. Defaults to 100.
        max_samples (int): random draws tried per random genotype. Defaults to 10000.
        **kwargs: ``seed``, ``max_trials``, ``constraint`` of :class:`Strategy`.
    """

    aliases = ('aging_evolution',)

    def __init__(self, space, population: int | None = None, sample_size: int | None = None,
                 identity_prob: float = 0.05, batch_size: int = 1, max_tries: int = 100,
                 max_samples: int = 10000, **kwargs):
        super().__init__(space, **kwargs)
        scaled = population is None and self.max_trials is not None
        if population is None:
            population = min(100, max(10, self.max_trials // 5)) if scaled else 100
        self.population_size = check_positive_int('population', population)
        if sample_size is None:  # small budgets gain from stronger selection
            sample_size = max(2, population // 2) if scaled else max(2, (population + 3) // 4)
        self.sample_size = check_positive_int('sample_size', sample_size)
        _check_le('sample_size', sample_size, 'population', population)
        budget_warning('RegularizedEvolution', population, self.max_trials,
                       f'population={population}')
        self.identity_prob = check_prob('identity_prob', identity_prob)
        if self.identity_prob >= 1:
            raise ValueError(f'identity_prob: must be < 1 (1 would never ask a child), '
                             f'got {identity_prob!r}')
        self.batch_size = check_positive_int('batch_size', batch_size)
        self.max_tries = check_positive_int('max_tries', max_tries)
        self.max_samples = check_positive_int('max_samples', max_samples)
        self.population: list = []   # keys of the living members, oldest first
        self._rewards: dict = {}     # key -> reward of every told genotype
        self._num_initial = 0        # random genotypes asked to fill the population
        self._exhausted = False

    def _propose(self, n):
        n = natural_batch(self, self.batch_size) if n is None else n
        out, taken = [], set()
        if self._num_initial < self.population_size and not self._exhausted:
            for _ in range(min(n, self.population_size - self._num_initial)):
                g = draw_random(self, taken, self.max_samples)
                if g is None:
                    self._exhausted = True
                    break
                out.append(g)
            self._num_initial += len(out)
            return out
        if self.num_told < self._num_initial or not self.population:
            return []  # waiting for the initial population
        for _ in range(n):
            g = self._child(taken)
            if g is None:
                self._exhausted = True
                break
            out.append(g)
        return out

    def _tournament(self) -> str:
        idx = self.rng.sample(range(len(self.population)),
                              min(self.sample_size, len(self.population)))
        return self.population[max(idx, key=lambda i: rank_value(
            self._rewards[self.population[i]]))]

    def _child(self, taken: set):
        parent = self._tournament()
        while self.identity_prob and self.rng.random() < self.identity_prob:
            self._join(parent)  # identity: a rejuvenated copy, reward already known
            parent = self._tournament()
        g = self.genotype(parent)
        child = draw(self, lambda: self.space.mutate(g, self.rng), taken, self.max_tries)
        return child if child is not None else draw_random(self, taken, self.max_samples)

    def _join(self, key: str) -> None:
        self.population.append(key)
        if len(self.population) > self.population_size:
            self.population.pop(0)

    def _on_tell(self, genotype, reward: float) -> None:
        key = self.space.key(genotype)
        self._rewards[key] = reward
        self._join(key)

    def _finished(self) -> bool:
        return self._exhausted and not self.pending

    def _extra_state(self) -> dict:
        return {'population': list(self.population), 'num_initial': self._num_initial,
                'exhausted': self._exhausted}

    def _load_extra_state(self, state: dict) -> None:
        self.population = list(state['population'])
        self._num_initial = int(state['num_initial'])
        self._exhausted = bool(state['exhausted'])
        self._rewards = dict(self.history)


@register_strategy
class GeneticAlgorithm(Strategy):
    """The evolutionary search of DetNAS, generation by generation.

    Chen et al., "DetNAS: Backbone Search for Object Detection", NeurIPS 2019
    (https://arxiv.org/abs/1903.10979).

    The first generation is ``population`` uniformly random genotypes. Each next
    generation is formed from the ``top_k`` best of *all* told trials (failed ones rank
    last; ties go to the earlier asked): ``num_mutation`` mutations of a random top-k
    member (each decision resampled with probability ``mutation_prob``), then
    ``num_crossover`` uniform crossovers of two distinct random top-k members, then
    random genotypes up to ``population``. Every candidate is new (never asked in any
    generation) and passes the ``constraint`` (e.g. a FLOPs limit) before it is asked;
    a mutation or crossover that fails ``max_tries`` times is dropped and replaced by a
    random genotype.

    The natural batch is a whole generation: ``ask()`` returns nothing more until every
    candidate of the generation is told. The search is ``done`` after ``generations``
    generations are told (or ``max_trials`` tells, or when the space is exhausted).

    Args:
        space (SearchSpace): the space searched.
        population (int, optional): candidates per generation. Defaults to None: 50, or
            with ``max_trials`` ``max_trials // 5`` clipped to [10, 50] (about 5
            generations or more).
        top_k (int, optional): parents kept (<= population). Defaults to None:
            ``population // 5`` (at least 2; 10 for 50).
        num_mutation (int, optional): mutated children per generation. Defaults to
            None: ``2 * population // 5`` (20 for 50).
        mutation_prob (float): per-decision resample probability. Defaults to 0.1.
        num_crossover (int, optional): crossover children per generation (num_mutation
            + num_crossover <= population). Defaults to None: as ``num_mutation``.
        generations (int, optional): number of generations. Defaults to None: 20, or
            with ``max_trials`` as many as it takes to spend them.
        max_tries (int): tries per mutated or crossover child (late in a search the
            top-k are alike and most crossovers repeat an asked genotype).
            Defaults to 20.
        max_samples (int): random draws tried per random genotype; if none of the very
            first draws passes the constraint a ``ValueError`` is raised. Defaults to 10000.
        **kwargs: ``seed``, ``max_trials``, ``constraint`` of :class:`Strategy`.
    """

    aliases = ('detnas_ga',)

    def __init__(self, space, population: int | None = None, top_k: int | None = None,
                 num_mutation: int | None = None, mutation_prob: float = 0.1,
                 num_crossover: int | None = None, generations: int | None = None,
                 max_tries: int = 20, max_samples: int = 10000, **kwargs):
        super().__init__(space, **kwargs)
        budget = self.max_trials
        if population is None:
            population = 50 if budget is None else min(50, max(10, budget // 5))
        if isinstance(population, int) and population >= 1:
            top_k = min(population, max(2, population // 5)) if top_k is None else top_k
            num_mutation = 2 * population // 5 if num_mutation is None else num_mutation
            num_crossover = 2 * population // 5 if num_crossover is None else num_crossover
            if generations is None:
                generations = 20 if budget is None else max(1, -(-budget // population))
        budget_warning('GeneticAlgorithm', population, budget, f'population={population}')
        self.population_size = check_positive_int('population', population)
        self.top_k = check_positive_int('top_k', top_k)
        _check_le('top_k', top_k, 'population', population)
        self.num_mutation = check_positive_int('num_mutation', num_mutation, minimum=0)
        self.num_crossover = check_positive_int('num_crossover', num_crossover, minimum=0)
        _check_le('num_mutation + num_crossover', num_mutation + num_crossover,
                  'population', population)
        self.mutation_prob = check_prob('mutation_prob', mutation_prob)
        self.generations = check_positive_int('generations', generations)
        self.max_tries = check_positive_int('max_tries', max_tries)
        self.max_samples = check_positive_int('max_samples', max_samples)
        self.generation = 0     # generations formed so far
        self._queue: list = []  # candidates of the current generation not yet asked
        self._exhausted = False

    def topk(self) -> list:
        """``[(genotype, reward)]``: the ``top_k`` best told trials, best first."""
        order = {k: i for i, k in enumerate(self._genotypes)}
        ranked = sorted(self.history, key=lambda kr: (-rank_value(kr[1]), order[kr[0]]))
        return [(self.genotype(k), r) for k, r in ranked[:self.top_k]]

    def _propose(self, n):
        if not self._queue:
            if self.pending or self.generation >= self.generations or self._exhausted:
                return []
            self._queue = self._next_generation()
            self.generation += 1
            self._exhausted = not self._queue
        take = natural_batch(self, len(self._queue)) if n is None else n
        out, self._queue = self._queue[:take], self._queue[take:]
        return out

    def _next_generation(self) -> list:
        space, rng = self.space, self.rng
        out, taken = [], set()
        parents = [g for g, _ in self.topk()]
        if parents:
            for _ in range(self.num_mutation):
                g = draw(self, lambda: space.mutate(rng.choice(parents), rng,
                                                    prob=self.mutation_prob),
                         taken, self.max_tries)
                if g is not None:
                    out.append(g)
        if len(parents) >= 2:
            for _ in range(self.num_crossover):
                g = draw(self, lambda: space.crossover(*rng.sample(parents, 2), rng),
                         taken, self.max_tries)
                if g is not None:
                    out.append(g)
        while len(out) < self.population_size:
            g = draw_random(self, taken, self.max_samples)
            if g is None:
                break
            out.append(g)
        return out

    def _finished(self) -> bool:
        return not self._queue and not self.pending and (
            self.generation >= self.generations or self._exhausted)

    def _extra_state(self) -> dict:
        return {'generation': self.generation, 'exhausted': self._exhausted,
                'queue': [self.space.to_dict(g) for g in self._queue]}

    def _load_extra_state(self, state: dict) -> None:
        self.generation = int(state['generation'])
        self._exhausted = bool(state['exhausted'])
        self._queue = [self.space.from_dict(d) for d in state['queue']]
