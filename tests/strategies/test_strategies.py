"""Pure search strategies (random, aging evolution, DetNAS GA) on toy objectives."""
import json
import math
import random

import pytest

from nas_det.space import ChoiceSpace
from nas_det.strategies import (STRATEGIES, GeneticAlgorithm, RandomSearch,
                                RegularizedEvolution, build_strategy)

NUM_OPTIONS = (4, 5, 6, 8, 4, 6, 5, 8, 6, 4, 7, 6)  # 12 decisions, 4-8 options each
SPACE = ChoiceSpace([(f'd{i}', list(range(n))) for i, n in enumerate(NUM_OPTIONS)])
TARGET = tuple(random.Random(1234).randrange(n) for n in NUM_OPTIONS)
OPTIMUM = len(NUM_OPTIONS) + 0.5

# Small-budget settings of each strategy (the defaults suit budgets of thousands).
CONFIGS = {
    'random': dict(type='random'),
    'aging_evolution': dict(type='aging_evolution', population=20, sample_size=8),
    'detnas_ga': dict(type='detnas_ga', population=20, top_k=5, num_mutation=8,
                      num_crossover=8, mutation_prob=0.1, generations=50),
}


def toy(g, space=SPACE):
    """Decisions equal to the hidden target, plus a smooth closeness term in [0, 0.5]."""
    toks = space.to_tokens(g)
    dist = sum(abs(t - x) / (n - 1) for t, x, n in zip(toks, TARGET, NUM_OPTIONS))
    return sum(t == x for t, x in zip(toks, TARGET)) + 0.5 * (1 - dist / len(toks))


def run(strategy, objective=toy, chunk=None, cut=None, rebuild=None):
    """Drive a strategy to its end: ask ``chunk`` at a time (None: natural batches),
    tell the oldest asked one by one. After ``cut`` tells, save the state as JSON and
    continue on a fresh strategy from ``rebuild()``. Returns (asked keys, strategy)."""
    asked, queue, told = [], [], 0
    while not strategy.done:
        if len(queue) < 2:
            new = strategy.ask(chunk)
            asked += [strategy.space.key(g) for g in new]
            queue += new
        if not queue:
            break
        g = queue.pop(0)
        strategy.tell(g, objective(g))
        told += 1
        if told == cut:
            state = json.loads(json.dumps(strategy.state_dict(), allow_nan=False))
            strategy = rebuild()
            strategy.load_state_dict(state)
    return asked, strategy


def mean_best(cfg, budget, seeds):
    bests = []
    for seed in seeds:
        _, s = run(build_strategy(cfg, SPACE, seed=seed, max_trials=budget))
        assert s.num_told == budget
        bests.append(s.best()[1])
    return sum(bests) / len(bests)


def test_toy_optimum():
    assert toy(SPACE.from_tokens(TARGET)) == OPTIMUM
    g = SPACE.sample(random.Random(0))
    assert toy(g) < OPTIMUM


@pytest.fixture(scope='module')
def random_baseline():
    return mean_best(CONFIGS['random'], 120, range(12))


@pytest.mark.parametrize('name', ['aging_evolution', 'detnas_ga'])
def test_beats_random_search(name, random_baseline):
    got = mean_best(CONFIGS[name], 120, range(12))
    # measured (12 seeds, 120 trials): random 6.5, aging evolution 10.2, GA 9.6 (optimum 12.5)
    assert got > random_baseline + 2.0, (name, got, random_baseline)


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_same_seed_same_asks(name):
    a, _ = run(build_strategy(CONFIGS[name], SPACE, seed=3, max_trials=60))
    b, _ = run(build_strategy(CONFIGS[name], SPACE, seed=3, max_trials=60))
    c, _ = run(build_strategy(CONFIGS[name], SPACE, seed=4, max_trials=60))
    assert a == b and len(a) == 60
    assert a != c


@pytest.mark.parametrize('name', sorted(CONFIGS))
@pytest.mark.parametrize('chunk', [None, 3])
@pytest.mark.parametrize('cut', [1, 7, 23, 41])
def test_resume_equals_uninterrupted(name, chunk, cut):
    def make():
        return build_strategy(CONFIGS[name], SPACE, seed=11, max_trials=70)

    ref_asked, ref = run(make(), chunk=chunk)
    asked, resumed = run(make(), chunk=chunk, cut=cut, rebuild=make)
    assert asked == ref_asked
    assert resumed is not ref and resumed.num_told == ref.num_told == 70
    assert json.dumps(resumed.state_dict()) == json.dumps(ref.state_dict())
    assert resumed.best() == ref.best()


def test_resume_mid_generation_with_pending():
    def make():
        return GeneticAlgorithm(SPACE, seed=5, population=10, top_k=3, num_mutation=4,
                                num_crossover=3, generations=4)

    ref_asked, _ = run(make(), chunk=4)
    s = make()
    gen1 = s.ask()
    for g in gen1:
        s.tell(g, toy(g))
    part = s.ask(4)  # 4 of generation 2 asked, 2 of them told
    for g in part[:2]:
        s.tell(g, toy(g))
    state = json.loads(json.dumps(s.state_dict(), allow_nan=False))
    assert len(state['pending']) == 2 and len(state['extra']['queue']) == 6
    r = make()
    r.load_state_dict(state)
    assert r.pending == s.pending and r.generation == s.generation == 2
    for g in part[2:]:
        r.tell(g, toy(g))
    asked = [SPACE.key(g) for g in gen1 + part]
    while not r.done:
        new = r.ask(4)
        asked += [SPACE.key(g) for g in new]
        for g in new:
            r.tell(g, toy(g))
    assert asked == ref_asked and len(asked) == 40


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_asks_valid_and_unique_until_space_exhausted(name):
    space = ChoiceSpace({'a': [0, 1, 2], 'b': ['x', 'y', 'z'], 'c': [True, False]})
    cfg = dict(CONFIGS[name], **({'population': 4, 'sample_size': 2}
                                 if name == 'aging_evolution' else {}))
    if name == 'detnas_ga':
        cfg.update(population=6, top_k=2, num_mutation=2, num_crossover=2)
    s = build_strategy(cfg, space, seed=0)
    asked, s = run(s, objective=lambda g: float(space.to_tokens(g)[0]))
    assert len(asked) == len(set(asked)) == 18  # every one of the 18, none twice
    assert all(space.validate(s.genotype(k)) for k in asked)
    assert s.done and s.ask() == []
    assert s.best()[1] == 2.0


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_failed_rewards_rank_last_and_search_goes_on(name):
    def objective(g):
        t = SPACE.to_tokens(g)
        return (math.nan if t[0] == TARGET[0] else math.inf if t[1] == TARGET[1]
                else -math.inf if t[2] == TARGET[2] else toy(g))

    _, s = run(build_strategy(CONFIGS[name], SPACE, seed=2, max_trials=120), objective)
    rewards = [r for _, r in s.history]
    assert s.num_told == 120 and s.done
    assert any(math.isnan(r) for r in rewards) and any(r == math.inf for r in rewards)
    g, best = s.best()
    assert math.isfinite(best) and best == max(r for r in rewards if math.isfinite(r))
    assert math.isfinite(objective(g))


def test_all_failures_do_not_stop_the_search():
    for name in sorted(CONFIGS):
        _, s = run(build_strategy(CONFIGS[name], SPACE, seed=0, max_trials=50),
                   lambda g: math.nan)
        assert s.num_told == 50 and s.best() is None


def test_ga_topk_ranks_failures_last():
    s = GeneticAlgorithm(SPACE, seed=0, population=8, top_k=5, num_mutation=2,
                         num_crossover=2, generations=2)
    gen = s.ask()
    rewards = [math.nan, 3.0, -math.inf, 1.0, math.inf, 2.0, 3.0, float('nan')]
    for g, r in zip(gen, rewards):
        s.tell(g, r)
    top = s.topk()
    assert [r for _, r in top[:4]] == [3.0, 3.0, 2.0, 1.0]
    assert top[0][0] == gen[1] and top[1][0] == gen[6]  # ties: the earlier asked first
    assert not math.isfinite(top[4][1])


def test_ga_generations():
    s = GeneticAlgorithm(SPACE, seed=1, population=10, top_k=3, num_mutation=4,
                         mutation_prob=0.1, num_crossover=4, generations=3)
    gen1 = s.ask()
    assert len(gen1) == 10 and s.ask() == [] and s.generation == 1
    for g in gen1[:-1]:
        s.tell(g, toy(g))
    assert s.ask() == []  # the generation is not told yet
    s.tell(gen1[-1], toy(gen1[-1]))
    parents = [SPACE.to_tokens(g) for g, _ in s.topk()]
    assert len(parents) == 3
    gen2 = s.ask()
    assert len(gen2) == 10 and s.generation == 2
    toks = [SPACE.to_tokens(g) for g in gen2]
    for t in toks[:4]:  # mutations: close to a parent, not equal
        assert 1 <= min(sum(a != b for a, b in zip(t, p)) for p in parents) <= 5
    for t in toks[4:8]:  # crossovers: every gene from a parent
        assert all(x in {p[i] for p in parents} for i, x in enumerate(t))
    for g in gen2:
        s.tell(g, toy(g))
    for g in s.ask():
        s.tell(g, toy(g))
    assert s.done and s.num_told == 30 and s.ask() == []


def test_natural_batches_cut_to_max_trials():
    s = RandomSearch(SPACE, batch_size=5, max_trials=7)
    first = s.ask()
    assert len(first) == 5
    s.tell_many((g, 1.0) for g in first)
    assert len(s.ask()) == 2
    s = RegularizedEvolution(SPACE, population=6, sample_size=2, batch_size=4, max_trials=12)
    assert [len(s.ask()) for _ in range(3)] == [4, 2, 0]  # waits for the population
    s.tell_many((g, toy(g)) for g in [s.genotype(k) for k in list(s.pending)])
    assert len(s.ask()) == 4 and len(s.ask()) == 2 and s.ask() == []
    s = GeneticAlgorithm(SPACE, population=10, top_k=2, num_mutation=3, num_crossover=3,
                         max_trials=15)
    s.tell_many((g, toy(g)) for g in s.ask())
    second = s.ask()
    assert len(second) == 5
    s.tell_many((g, toy(g)) for g in second)
    assert s.done and s.num_told == 15


def test_aging_population():
    s = RegularizedEvolution(SPACE, seed=0, population=10, sample_size=3, identity_prob=0.0)
    for _ in range(40):
        for g in s.ask():
            s.tell(g, toy(g))
    # the population is the last P told, oldest first; nothing is asked twice
    assert s.population == [k for k, _ in s.history[-10:]]
    keys = [k for k, _ in s.history]
    assert len(keys) == len(set(keys)) == 40


def test_identity_rejuvenates_without_reasking():
    s = RegularizedEvolution(SPACE, seed=0, population=10, sample_size=3, identity_prob=0.7)
    for _ in range(60):
        for g in s.ask():
            s.tell(g, toy(g))
    keys = [k for k, _ in s.history]
    assert len(keys) == len(set(keys)) == 60
    assert len(s.population) == 10
    # copies of tournament winners: members told long ago, or a member twice
    recent = set(keys[-10:])
    assert any(k not in recent for k in s.population) or \
        len(set(s.population)) < len(s.population)


def test_batch_children_come_from_population():
    s = RegularizedEvolution(SPACE, seed=0, population=8, sample_size=4, batch_size=4)
    init = s.ask(8)
    s.tell_many((g, toy(g)) for g in init)
    children = s.ask()
    assert len(children) == 4
    pop = [SPACE.to_tokens(s.genotype(k)) for k in s.population]
    for c in children:  # one-step mutations of a member (default mutate: ~1 decision)
        t = SPACE.to_tokens(c)
        assert min(sum(a != b for a, b in zip(t, p)) for p in pop) <= 4


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_constraint_respected(name):
    calls = []

    def small(g):
        calls.append(g)
        return sum(SPACE.to_tokens(g)) <= 20

    asked, s = run(build_strategy(CONFIGS[name], SPACE, seed=0, max_trials=80,
                                  constraint=small))
    assert len(asked) == 80
    assert all(sum(SPACE.to_tokens(s.genotype(k))) <= 20 for k in asked)
    assert len(calls) > 80  # rejected candidates were checked, never asked


@pytest.mark.parametrize('name, max_samples', [('random', None), ('aging_evolution', 300),
                                               ('detnas_ga', 300)])
def test_impossible_constraint_raises(name, max_samples):
    def flops_below_zero(g):
        return False

    cfg = dict(CONFIGS[name], **({'max_samples': max_samples} if max_samples else {}))
    s = build_strategy(cfg, SPACE, seed=0, constraint=flops_below_zero)
    with pytest.raises(ValueError, match=f'could not be met.*flops_below_zero.* '
                                         f'{max_samples or 10000} random samples'):
        s.ask()


@pytest.mark.parametrize('cfg, message', [
    (dict(type='detnas_ga', top_k=60), r'top_k: must be <= population \(50\), got 60'),
    (dict(type='detnas_ga', population=0), 'population'),
    (dict(type='detnas_ga', num_mutation=30, num_crossover=30),
     r'num_mutation \+ num_crossover: must be <= population \(50\), got 60'),
    (dict(type='detnas_ga', num_crossover=-1), 'num_crossover'),
    (dict(type='detnas_ga', mutation_prob=1.5), 'mutation_prob'),
    (dict(type='detnas_ga', generations=0), 'generations'),
    (dict(type='detnas_ga', max_tries=0), 'max_tries'),
    (dict(type='aging_evolution', sample_size=101),
     r'sample_size: must be <= population \(100\), got 101'),
    (dict(type='aging_evolution', identity_prob=1.0), 'identity_prob'),
    (dict(type='aging_evolution', identity_prob=-0.1), 'identity_prob'),
    (dict(type='aging_evolution', population=2.5), 'population'),
    (dict(type='aging_evolution', batch_size=0), 'batch_size'),
    (dict(type='random', batch_size='4'), 'batch_size'),
    (dict(type='random', max_samples=0), 'max_samples'),
    (dict(type='random', max_trials=0), 'max_trials'),
    (dict(type='random', population=3), 'population'),
])
def test_bad_config_names_the_field(cfg, message):
    with pytest.raises(ValueError, match=message):
        build_strategy(cfg, SPACE)


def test_build_by_name_and_alias():
    assert isinstance(build_strategy(dict(type='RandomSearch'), SPACE), RandomSearch)
    assert isinstance(build_strategy(dict(type='aging_evolution'), SPACE),
                      RegularizedEvolution)
    s = build_strategy(dict(type='detnas_ga', population=12, top_k=3, num_mutation=4,
                            num_crossover=4), SPACE, seed=7)
    assert isinstance(s, GeneticAlgorithm) and s.seed == 7 and s.population_size == 12
    for name in ('random', 'aging_evolution', 'detnas_ga', 'RandomSearch',
                 'RegularizedEvolution', 'GeneticAlgorithm'):
        assert name in STRATEGIES
    with pytest.raises(ValueError) as e:
        build_strategy(dict(type='simulated_annealing'), SPACE)
    msg = str(e.value)
    assert 'simulated_annealing' in msg
    assert all(n in msg for n in ('aging_evolution', 'detnas_ga', 'random', 'RandomSearch'))


def test_load_state_checks_type():
    s = RandomSearch(SPACE)
    with pytest.raises(ValueError, match='RandomSearch'):
        s.load_state_dict(GeneticAlgorithm(SPACE).state_dict())


# ---- every registered space --------------------------------------------------------
SPACE_CONFIGS = {
    'ChoiceSpace': dict(choices=[[f'd{i}', list(range(n))] for i, n in enumerate(NUM_OPTIONS)]),
    'DetNASSpace': dict(stage_blocks='300M'),
    'CellSpace': dict(),
    'NASFPNSpace': dict(),
    'WidthSpace': dict(max_widths={'stem': 32, 'stage1': 64, 'stage2': 128, 'stage3': 256}),
}
SMALL = {
    'random': dict(type='random', batch_size=3),
    'aging_evolution': dict(type='aging_evolution', population=6, sample_size=3,
                            identity_prob=0.2, batch_size=2),
    'detnas_ga': dict(type='detnas_ga', population=6, top_k=3, num_mutation=2,
                      num_crossover=2, mutation_prob=0.2),
}


def test_every_registered_space_has_a_config_here():
    from nas_det.space import SPACES
    assert sorted(SPACES) == sorted(SPACE_CONFIGS), 'add new spaces to SPACE_CONFIGS'


@pytest.mark.parametrize('space_name', sorted(SPACE_CONFIGS))
@pytest.mark.parametrize('name', sorted(SMALL))
def test_strategies_on_every_space(space_name, name):
    from nas_det.space import build_space
    space = build_space(dict(type=space_name, **SPACE_CONFIGS[space_name]))

    def objective(g):  # deterministic, rewards the last options of every decision
        toks = space.to_tokens(g)
        return sum(t / (n - 1) for t, n in zip(toks, space.cardinalities) if n > 1)

    def make():
        return build_strategy(SMALL[name], space, seed=1, max_trials=24)

    ref_asked, ref = run(make(), objective, chunk=None)
    asked, resumed = run(make(), objective, chunk=None, cut=10, rebuild=make)
    assert asked == ref_asked and len(asked) == len(set(asked)) == 24
    for k in asked:
        g = resumed.genotype(k)
        assert space.validate(g) is g and space.key(space.from_dict(space.to_dict(g))) == k
    assert resumed.best() == ref.best() and resumed.best()[1] == max(
        objective(resumed.genotype(k)) for k in asked)


# ---- defaults that fit the budget ------------------------------------------------------
def test_defaults_scale_with_max_trials():
    ae = build_strategy(dict(type='aging_evolution'), SPACE, max_trials=100)
    assert (ae.population_size, ae.sample_size) == (20, 10)
    ae = build_strategy(dict(type='aging_evolution'), SPACE)  # no budget: AmoebaNet's
    assert (ae.population_size, ae.sample_size) == (100, 25)
    ae = build_strategy(dict(type='aging_evolution', population=40), SPACE, max_trials=1000)
    assert ae.sample_size == 10  # a given population keeps the P / 4 tournament
    ga = build_strategy(dict(type='detnas_ga'), SPACE, max_trials=100)
    assert (ga.population_size, ga.top_k, ga.num_mutation, ga.num_crossover,
            ga.generations) == (20, 4, 8, 8, 5)
    ga = build_strategy(dict(type='detnas_ga'), SPACE)
    assert (ga.population_size, ga.top_k, ga.num_mutation, ga.num_crossover,
            ga.generations) == (50, 10, 20, 20, 20)
    for cfg in (dict(type='aging_evolution'), dict(type='detnas_ga')):  # spends the budget
        _, s = run(build_strategy(cfg, SPACE, seed=0, max_trials=130))
        assert s.num_told == 130


@pytest.mark.parametrize('cfg, budget, message', [
    (dict(type='aging_evolution', population=100, sample_size=25), 100,
     'RegularizedEvolution: max_trials=100 ends the search within its 100 random trials '
     r'\(population=100\)'),
    (dict(type='detnas_ga', population=50, top_k=10), 40,
     'GeneticAlgorithm: max_trials=40 ends the search within its 50 random trials'),
])
def test_budget_inside_the_random_phase_warns_in_one_line(cfg, budget, message):
    with pytest.warns(UserWarning, match=message) as record:
        build_strategy(cfg, SPACE, max_trials=budget)
    assert len(record) == 1 and '\n' not in str(record[0].message)


def test_no_warning_when_the_budget_fits(recwarn):
    for name in ('aging_evolution', 'detnas_ga', 'nsga2'):
        build_strategy(dict(type=name), SPACE, max_trials=25)
    assert not [w for w in recwarn if 'random trials' in str(w.message)]


def test_spearman():
    from nas_det.strategies.base import ranks, spearman
    assert ranks([3, 1, 2, 1]) == [3.0, 0.5, 2.0, 0.5]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match='equal length'):
        spearman([1, 2], [1])
