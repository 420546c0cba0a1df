"""NSGA-II (pure Python) on 2-objective choice problems with an exactly computed front."""
import itertools
import json
import math
import random

import pytest

from nas_det.space import ChoiceSpace
from nas_det.strategies import NSGA2, build_strategy
from nas_det.strategies.multi_objective import (crowding_distance, dominates,
                                                hypervolume_2d, non_dominated_sort)

CARDS = (4, 4, 4, 4, 4, 4)
SPACE = ChoiceSpace([(f'd{i}', list(range(n))) for i, n in enumerate(CARDS)])
_R = random.Random(7)
# per-option cost, and an accuracy that grows with the cost but not in step with it:
# a knapsack-like trade-off whose exact front is computed by enumerating the 4,096 genotypes
COST = [[_R.uniform(0, 10) for _ in range(n)] for n in CARDS]
GAIN = [[c + _R.uniform(-4, 4) for c in row] for row in COST]


def objectives(g):
    toks = SPACE.to_tokens(g)
    return (sum(GAIN[i][t] for i, t in enumerate(toks)),
            sum(COST[i][t] for i, t in enumerate(toks)))


def exact_front():
    """(accuracy, cost) of the non-dominated genotypes (accuracy up, cost down)."""
    pts = sorted({objectives(SPACE.from_tokens(t))
                  for t in itertools.product(*(range(n) for n in CARDS))},
                 key=lambda p: (p[1], -p[0]))
    front, best = [], -math.inf
    for acc, cost in pts:
        if acc > best:
            front.append((acc, cost))
            best = acc
    return front


FRONT = exact_front()
REF = (min(a for a, _ in FRONT) - 1, -(max(c for _, c in FRONT) + 1))  # (acc, -cost)


def hv(points):
    return hypervolume_2d([(a, -c) for a, c in points], REF)


def drive(strategy, objective=objectives):
    while not strategy.done:
        batch = strategy.ask()
        if not batch:
            break
        for g in batch:
            strategy.tell(g, objective(g))
    return strategy


def test_helpers():
    assert dominates((2, 2), (1, 2)) and not dominates((1, 2), (1, 2))
    assert not dominates((2, 1), (1, 2))
    pts = [(1, 1), (3, 0), (0, 3), (2, 2), (0, 0), (1, 1)]
    assert non_dominated_sort(pts) == [[1, 2, 3], [0, 5], [4]]
    d = crowding_distance([(0, 3), (1, 2), (3, 0)])
    assert d[0] == d[2] == math.inf and d[1] == pytest.approx(2.0)
    assert hypervolume_2d([(1, 2), (2, 1)], (0, 0)) == pytest.approx(3.0)


def test_recovers_the_exact_front():
    assert 8 <= len(FRONT) <= 60  # a real trade-off, not a single point
    exact = hv(FRONT)
    budget = 400  # ~10 % of the space
    s = drive(build_strategy(dict(type='NSGA2', population=20), SPACE, seed=0,
                             max_trials=budget))
    assert s.num_told == budget
    front = [v for _, v in s.pareto_front()]
    hits = sum(p in set(FRONT) for p in front)
    assert hits >= 0.75 * len(FRONT), (hits, len(FRONT))
    assert hv(front) >= 0.99 * exact
    r = drive(build_strategy(dict(type='random'), SPACE, seed=0, max_trials=budget),
              lambda g: objectives(g)[0])
    pts = [objectives(r.genotype(k)) for k, _ in r.history]
    rand_front = [p for p in pts if not any(dominates((q[0], -q[1]), (p[0], -p[1]))
                                            for q in pts)]
    assert sum(p in set(FRONT) for p in rand_front) < hits
    assert hypervolume_2d([(a, -c) for a, c in pts], REF) < hv(front)


def test_deterministic_and_resumable():
    def asks(cut=None):
        s = build_strategy(dict(type='NSGA2', population=10), SPACE, seed=3, max_trials=60)
        out, told = [], 0
        while not s.done:
            batch = s.ask()
            out += [SPACE.key(g) for g in batch]
            for g in batch:
                s.tell(g, objectives(g))
                told += 1
                if told == cut:
                    state = json.loads(json.dumps(s.state_dict()))
                    s = build_strategy(dict(type='NSGA2', population=10), SPACE, seed=3,
                                       max_trials=60)
                    s.load_state_dict(state)
        return out, s.pareto_front()
    a, front = asks()
    assert len(a) == len(set(a)) == 60
    assert asks() == (a, front)
    assert asks(cut=25) == (a, front)  # mid-generation save / load
    other = build_strategy(dict(type='NSGA2', population=10), SPACE, seed=4, max_trials=60)
    assert [SPACE.key(g) for g in other.ask()] != a[:10]


def test_failures_rank_last_and_search_goes_on():
    def flaky(g):
        acc, cost = objectives(g)
        return (float('nan'), cost) if SPACE.to_tokens(g)[0] == 0 else (acc, cost)
    s = drive(build_strategy(dict(type='NSGA2', population=10), SPACE, seed=0,
                             max_trials=80), flaky)
    assert s.num_told == 80
    assert all(SPACE.to_tokens(g)[0] != 0 for g, _ in s.pareto_front())
    assert SPACE.to_tokens(s.best()[0])[0] != 0
    assert json.loads(json.dumps(s.state_dict()))['extra']['objectives']


def test_scalar_reward_with_cost_and_directions():
    """A search loop tells the scalar reward; the strategy appends the cost."""
    s = build_strategy(dict(type='NSGA2', population=8), SPACE, seed=0, max_trials=40,
                       cost=lambda g: objectives(g)[1])
    drive(s, lambda g: objectives(g)[0])
    assert s.best()[1] == max(v[0] for v in s.objectives.values())
    front = s.pareto_front()
    costs = [v[1] for _, v in front]
    assert costs == sorted(costs, reverse=True)  # best accuracy first = most expensive first
    # both maximised: the front is then one point per best accuracy
    s2 = drive(build_strategy(dict(type='NSGA2', population=8, directions=['max', 'max']),
                              SPACE, seed=0, max_trials=40))
    top = max(objectives(s2.genotype(k)) for k, _ in s2.history)
    assert s2.pareto_front()[0][1] == top


@pytest.mark.parametrize('cfg, message', [
    (dict(directions=['max', 'up']), "directions[1]: 'up' is not allowed"),
    (dict(directions='max'), 'directions: a list'),
    (dict(population=1), 'population: an integer >= 2'),
    (dict(crossover_prob=2), 'crossover_prob'),
])
def test_bad_config_names_the_field(cfg, message):
    with pytest.raises(ValueError, match=message.replace('[', r'\[').replace(']', r'\]')):
        build_strategy(dict(type='NSGA2', **cfg), SPACE)


def test_bad_reward_and_budget_warning():
    s = build_strategy(dict(type='nsga2'), SPACE, seed=0, max_trials=100)
    assert isinstance(s, NSGA2) and s.population_size == 16  # scaled from max_trials
    unlimited = drive(build_strategy(dict(type='nsga2', population=8), SPACE, seed=0))
    assert unlimited.done and unlimited.num_told == 20 * 8  # 20 generations by default
    g = s.ask()[0]
    with pytest.raises(ValueError, match='reward: a sequence of 2 values'):
        s.tell(g, 1.0)
    with pytest.raises(ValueError, match='2 values expected'):
        s.tell(g, (1.0, 2.0, 3.0))
    with pytest.warns(UserWarning, match='NSGA2: max_trials=50 ends the search within its 50 random trials'):
        build_strategy(dict(type='nsga2', population=50), SPACE, max_trials=50)
