"""Latency as a search cost (``train_cfg.latency_table``, ``max_latency``,
``cost_objective='latency'``): SearchLoop with a stub runner, a real DetNAS supernet and a
small measured latency table."""
import json
import random
from types import SimpleNamespace

import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('mmdet')

from test_search_loop import _Logger  # noqa: E402


@pytest.fixture(scope='module')
def small_table():
    """A table of the 300M space at 32x32 input, timed once per entry (mechanics only)."""
    import nas_det  # noqa: F401
    from nas_det.models.latency import build_latency_table
    return build_latency_table('300M', 1.0, (3, 32, 32), repeats=1, rounds=1, warmup=1,
                               calibrate=2)


class _Model(torch.nn.Module):
    def __init__(self, arch='300M'):
        super().__init__()
        from nas_det.models.shufflenet import ShuffleNetV2Supernet
        self.backbone = ShuffleNetV2Supernet(arch)


def _search(tmp_path, monkeypatch, strategy, model=None, **kwargs):
    """A search with a reward of the path's FLOPs (costly paths win) plus jitter."""
    from nas_det.engine import evaluators
    from nas_det.engine.runner.search_loop import SearchLoop
    from nas_det.strategies.driver import Result

    class FlopsReward:
        metric = 'acc'

        def __init__(self, runner, modules):
            self.module = modules[0][1]

        def __call__(self, g):
            return Result(self.module.path_cost(g)['flops'] / 1e6
                          + random.Random(str(g)).uniform(-20, 20))
    monkeypatch.setitem(evaluators.EVALUATORS, 'FlopsReward', FlopsReward)
    runner = SimpleNamespace(model=model or _Model(), cfg={'randomness': {'seed': 0}},
                             work_dir=str(tmp_path), logger=_Logger())
    SearchLoop(runner, None, strategy=strategy, evaluator=dict(type='FlopsReward'),
               plot=False, **kwargs).run()
    with open(tmp_path / 'trials.jsonl') as f:
        return runner, [json.loads(line) for line in f]


GA = dict(type='GeneticAlgorithm', population=8, top_k=3, num_mutation=4, num_crossover=4,
          generations=2)


def test_max_latency_holds_every_trial(small_table, tmp_path, monkeypatch):
    path = tmp_path / 'lat.json'
    small_table.save(str(path))
    space = _Model().backbone.search_space
    rng = random.Random(3)
    lat = sorted(small_table.predict(space.sample(rng)) for _ in range(200))
    limit = lat[len(lat) // 2]  # the median: half of the paths are refused
    runner, trials = _search(tmp_path / 'w', monkeypatch, GA, latency_table=str(path),
                             max_latency=limit)
    assert len(trials) == 16
    for t in trials:
        assert t['cost']['latency'] <= limit
        assert t['cost']['latency'] == round(small_table.predict(t['genotype']), 4)
    assert any('latency table' in ln for ln in runner.logger.lines)
    with pytest.raises(ValueError, match=r'train_cfg\.max_latency: no candidate meets'):
        _search(tmp_path / 'w2', monkeypatch, GA, latency_table=str(path),
                max_latency=lat[0] / 10)


def test_nsga2_minimises_latency_beside_the_reward(small_table, tmp_path, monkeypatch):
    path = tmp_path / 'lat.json'
    small_table.save(str(path))
    _, trials = _search(tmp_path / 'w', monkeypatch, dict(type='NSGA2', population=8),
                        max_trials=16, latency_table=str(path), cost_objective='latency')
    with open(tmp_path / 'w' / 'pareto.json') as f:
        front = json.load(f)
    assert front['cost'] == 'latency'
    lat = [e['latency'] for e in front['front']]
    assert lat == sorted(lat) and len(lat) >= 1
    with open(tmp_path / 'w' / 'search_state.json') as f:
        objectives = json.load(f)['strategy']['extra']['objectives']
    for t in trials:
        assert objectives[t['key']] == [t['reward'], t['cost']['latency']]


@pytest.mark.parametrize('kwargs, match', [
    (dict(max_latency=5.0), r'train_cfg\.max_latency: latency needs train_cfg\.latency_table'),
    (dict(cost_objective='latency'), r'train_cfg\.cost_objective: latency needs'),
    (dict(cost_objective='energy'), r"train_cfg\.cost_objective: 'energy' is not allowed"),
    (dict(latency_table='x.json', max_latency=-1), r'train_cfg\.max_latency: a positive'),
])
def test_latency_settings_are_checked_in_one_line(tmp_path, kwargs, match):
    from nas_det.engine.runner.search_loop import check_search_args
    with pytest.raises(ValueError, match=match):
        check_search_args(**kwargs)


def test_a_table_of_another_backbone_is_refused_before_the_search(small_table, tmp_path,
                                                                  monkeypatch):
    path = tmp_path / 'lat.json'
    small_table.save(str(path))
    with pytest.raises(ValueError, match=r'train_cfg\.latency_table: the table was built for'):
        _search(tmp_path / 'w', monkeypatch, GA, model=_Model('1.3G'), latency_table=str(path),
                max_latency=1.0)
    assert not (tmp_path / 'w' / 'trials.jsonl').exists()


def test_the_dry_check_reads_the_table_before_any_phase_trains(small_table, tmp_path):
    """``check_search_config`` (run before the supernet trains) refuses a missing table
    and a table of another backbone, so a typo does not surface hours later."""
    from mmengine.config import Config

    from nas_det.engine.runner.search_loop import check_search_config
    path = tmp_path / 'lat.json'
    small_table.save(str(path))

    def cfg(table, arch='300M'):
        return Config(dict(
            model=dict(type='RetinaNet', backbone=dict(type='ShuffleNetV2Supernet', arch=arch)),
            train_cfg=dict(type='SearchLoop', strategy=dict(type='RandomSearch'),
                           evaluator=dict(type='SupernetEvaluator'), latency_table=table,
                           max_latency=1.0)))
    check_search_config(cfg(str(path)))
    with pytest.raises(ValueError, match=r'train_cfg\.latency_table: cannot read'):
        check_search_config(cfg(str(tmp_path / 'missing.json')))
    with pytest.raises(ValueError, match=r'train_cfg\.latency_table: the table was built for'):
        check_search_config(cfg(str(path), arch='1.3G'))
