"""SearchLoop's reward / FLOPs front: ``pareto.json`` for any strategy, and NSGA-II with
FLOPs as a minimised objective (stub runner, real DetNAS supernet path costs)."""
import json
import random

import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('mmdet')

from test_search_loop import _Logger, model  # noqa: E402,F401  (the supernet fixture)


def _noisy_flops_evaluator(calls):
    """Reward: FLOPs in millions plus a fixed per-path jitter, so cost and reward trade
    off but not in lock step (a real front, not every trial)."""
    class NoisyFlopsEvaluator:
        metric = 'acc'

        def __init__(self, runner, modules):
            self.module = modules[0][1]

        def __call__(self, genotype):
            from nas_det.strategies.driver import Result
            calls.append(genotype)
            jitter = random.Random(str(genotype)).uniform(-40, 40)
            return Result(self.module.path_cost(genotype)['flops'] / 1e6 + jitter)
    return NoisyFlopsEvaluator


def _run(model, tmp_path, monkeypatch, strategy, **kwargs):  # noqa: F811
    from types import SimpleNamespace

    from nas_det.engine import evaluators
    from nas_det.engine.runner.search_loop import SearchLoop
    calls = []
    monkeypatch.setitem(evaluators.EVALUATORS, 'NoisyFlopsEvaluator',
                        _noisy_flops_evaluator(calls))
    runner = SimpleNamespace(model=model, cfg={'randomness': {'seed': 0}},
                             work_dir=str(tmp_path), logger=_Logger())
    SearchLoop(runner, None, strategy=strategy, evaluator=dict(type='NoisyFlopsEvaluator'),
               plot=False, **kwargs).run()
    with open(tmp_path / 'trials.jsonl') as f:
        trials = [json.loads(line) for line in f]
    with open(tmp_path / 'pareto.json') as f:
        front = json.load(f)
    return calls, trials, front


def _check_front(trials, front):
    pts = {t['key']: (t['cost']['flops'], t['reward']) for t in trials}
    on = [e['key'] for e in front['front']]
    assert front['cost'] == 'flops' and front['reward'] == 'acc'
    assert front['trials'] == len(trials) and 1 < len(on) < len(trials)
    flops = [e['flops'] for e in front['front']]
    assert flops == sorted(flops)  # cheapest first, reward rising along it
    assert [e['reward'] for e in front['front']] == sorted(e['reward'] for e in front['front'])
    for k, (c, r) in pts.items():
        beaten = any(c2 <= c and r2 >= r and (c2, r2) != (c, r) for c2, r2 in pts.values())
        assert beaten == (k not in on), k


def test_pareto_json_for_a_single_objective_search(model, tmp_path, monkeypatch):  # noqa: F811
    strategy = dict(type='GeneticAlgorithm', population=8, top_k=3, num_mutation=4,
                    num_crossover=4, generations=2)
    _, trials, front = _run(model, tmp_path, monkeypatch, strategy)
    _check_front(trials, front)


def test_nsga2_minimises_flops_beside_the_reward(model, tmp_path, monkeypatch):  # noqa: F811
    calls, trials, front = _run(model, tmp_path, monkeypatch,
                                dict(type='NSGA2', population=8), max_trials=24,
                                max_flops=320e6)
    assert len(calls) == len(trials) == 24
    assert all(t['cost']['flops'] <= 320e6 for t in trials)  # the limit still holds
    _check_front(trials, front)
    with open(tmp_path / 'search_state.json') as f:
        objectives = json.load(f)['strategy']['extra']['objectives']
    for t in trials:  # the strategy saw (reward, FLOPs) of every trial
        assert objectives[t['key']] == [t['reward'], t['cost']['flops']]


def test_multi_objective_needs_a_searchable_module(tmp_path):
    from types import SimpleNamespace

    from nas_det.engine.runner.search_loop import SearchLoop
    runner = SimpleNamespace(model=torch.nn.Linear(1, 1), cfg={}, work_dir=str(tmp_path),
                             logger=_Logger())
    loop = SearchLoop(runner, None, strategy=dict(type='NSGA2'),
                      evaluator=dict(type='ProxyTrainEvaluator'),
                      search_space=dict(type='ChoiceSpace', choices={'a': [1, 2]}))
    with pytest.raises(ValueError, match='NSGA2 minimises FLOPs beside the reward and needs '
                                         'a searchable module'):
        loop.run()
