"""SearchLoop in-process with a stub runner, a real DetNAS supernet backbone (its analytic
path costs) and a toy evaluator: the FLOPs limit and the random-path comparison."""
import json
import random
from types import SimpleNamespace

import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('mmdet')

LIMIT = 290e6  # DetNAS 300M paths cost about 254M to 329M at 224x224


class _Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        from nas_det.models.shufflenet import ShuffleNetV2Supernet
        self.backbone = ShuffleNetV2Supernet('300M')


@pytest.fixture(scope='module')
def model():
    import nas_det  # noqa: F401
    return _Model()


class _Logger:
    def __init__(self):
        self.lines = []

    def info(self, msg):
        self.lines.append(msg)

    warning = info


def _toy_evaluator(calls):
    """An evaluator whose reward is the path's FLOPs in millions (a search without a
    limit would climb to the most expensive paths); it records what it evaluates."""
    class ToyFlopsEvaluator:
        metric = 'reward'

        def __init__(self, runner, modules):
            self.module = modules[0][1]

        def __call__(self, genotype):
            from nas_det.strategies.driver import Result
            calls.append(genotype)
            return Result(self.module.path_cost(genotype)['flops'] / 1e6)
    return ToyFlopsEvaluator


def _run_loop(model, tmp_path, monkeypatch, calls, **kwargs):
    from nas_det.engine import evaluators
    from nas_det.engine.runner.search_loop import SearchLoop
    monkeypatch.setitem(evaluators.EVALUATORS, 'ToyFlopsEvaluator', _toy_evaluator(calls))
    runner = SimpleNamespace(model=model, cfg={'randomness': {'seed': 0}},
                             work_dir=str(tmp_path), logger=_Logger())
    strategy = dict(type='GeneticAlgorithm', population=8, top_k=3, num_mutation=4,
                    num_crossover=4, generations=3)
    loop = SearchLoop(runner, None, strategy=strategy,
                      evaluator=dict(type='ToyFlopsEvaluator'), plot=False, **kwargs)
    loop.run()
    return runner


def _trials(tmp_path):
    with open(tmp_path / 'trials.jsonl') as f:
        return [json.loads(line) for line in f]


def test_flops_limit_holds_every_trial(model, tmp_path, monkeypatch):
    space = model.backbone.search_space
    rng = random.Random(1)
    flops = [model.backbone.path_cost(space.sample(rng))['flops'] for _ in range(500)]
    over = sum(f > LIMIT for f in flops) / len(flops)
    assert 0.2 < over < 0.8, over  # the limit rejects a real share of the paths
    calls = []
    _run_loop(model, tmp_path, monkeypatch, calls, max_flops=LIMIT)
    trials = _trials(tmp_path)
    assert len(trials) == len(calls) == 8 + 2 * 8   # 3 generations of 8
    assert all(t['cost']['flops'] <= LIMIT for t in trials)
    assert all(model.backbone.path_cost(g)['flops'] <= LIMIT for g in calls)
    # the reward pushes against the limit: the best is close under it
    best = json.load(open(tmp_path / 'best_genotype.json'))
    assert LIMIT - 10e6 < best['reward'] * 1e6 <= LIMIT


def test_flops_limit_no_path_meets_fails_before_any_evaluation(model, tmp_path, monkeypatch):
    calls = []
    with pytest.raises(ValueError, match=r'train_cfg\.max_flops: no candidate meets 100\.0M '
                                         r'FLOPs at \(3, 224, 224\)'):
        _run_loop(model, tmp_path, monkeypatch, calls, max_flops=100e6)
    assert calls == [] and list(tmp_path.iterdir()) == []


def test_compare_random_evaluates_distinct_paths_of_similar_flops(model, tmp_path, monkeypatch):
    calls = []
    runner = _run_loop(model, tmp_path, monkeypatch, calls, compare_random=5,
                       compare_tolerance=0.05)
    summary = json.load(open(tmp_path / 'search_summary.json'))
    best_flops = summary['cost']['flops']
    rp = summary['random_paths']
    picks = calls[summary['trials']:]
    assert summary['trials'] == 24 and len(picks) == rp['n'] == 5
    assert len({str(g) for g in picks}) == 5 and summary['best'] not in {str(g) for g in picks}
    for g in picks:  # within 5% of the best path's FLOPs
        assert abs(model.backbone.path_cost(g)['flops'] - best_flops) <= 0.05 * best_flops
    assert rp['flops_band'] == pytest.approx([0.95 * best_flops, 1.05 * best_flops])
    expected = [model.backbone.path_cost(g)['flops'] / 1e6 for g in picks]
    assert rp['rewards'] == pytest.approx(expected)
    assert rp['mean'] == pytest.approx(sum(expected) / 5)
    assert any(f'random paths of similar FLOPs (5): mean reward {rp["mean"]:.4g}' in ln
               for ln in runner.logger.lines)
