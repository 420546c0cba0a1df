"""A search you can watch: SearchLoop sends every trial's reward, cost and the running best
to mmengine's visualizer; with TensorBoard's backend they land in event files."""
import glob
import json
import math
from types import SimpleNamespace

import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('mmdet')
pytest.importorskip('tensorboard')

from test_search_loop import _Logger, _Model, _toy_evaluator  # noqa: E402


def read_events(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    files = glob.glob(f'{log_dir}/**/events.out.tfevents.*', recursive=True)
    assert len(files) == 1, f'one TensorBoard event file expected under {log_dir}: {files}'
    acc = EventAccumulator(files[0])
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)]
            for tag in acc.Tags()['scalars']}


def test_search_scalars_reach_tensorboard(tmp_path, monkeypatch):
    from mmengine.visualization import Visualizer

    import nas_det  # noqa: F401
    from nas_det.engine import evaluators
    from nas_det.engine.runner.search_loop import SearchLoop
    monkeypatch.setitem(evaluators.EVALUATORS, 'ToyFlopsEvaluator', _toy_evaluator([]))
    vis = Visualizer(name='search_scalars_test', save_dir=str(tmp_path / 'vis'),
                     vis_backends=[dict(type='TensorboardVisBackend')])
    runner = SimpleNamespace(model=_Model(), cfg={'randomness': {'seed': 0}},
                             work_dir=str(tmp_path), logger=_Logger(), visualizer=vis)
    strategy = dict(type='GeneticAlgorithm', population=6, top_k=2, num_mutation=3,
                    num_crossover=3, generations=2)
    SearchLoop(runner, None, strategy=strategy, evaluator=dict(type='ToyFlopsEvaluator'),
               max_flops=300e6, plot=False).run()
    vis.close()
    with open(tmp_path / 'trials.jsonl') as f:
        trials = [json.loads(line) for line in f]
    assert len(trials) >= 6
    events = read_events(str(tmp_path / 'vis'))
    reward = dict(events['search/reward'])
    best = dict(events['search/best_reward'])
    flops = dict(events['search/cost/flops'])
    assert sorted(reward) == list(range(1, len(trials) + 1))  # one step per trial
    running = -math.inf
    for step, rec in enumerate(trials, 1):
        running = max(running, rec['reward'])
        assert reward[step] == pytest.approx(rec['reward'], rel=1e-6)
        assert best[step] == pytest.approx(running, rel=1e-6)
        assert flops[step] == pytest.approx(rec['cost']['flops'], rel=1e-6)
        assert flops[step] <= 300e6


def test_failed_trials_and_no_visualizer():
    from nas_det.engine.visualization import SearchScalars, trial_scalars
    sent = []

    class Vis:
        def add_scalars(self, scalars, step):
            sent.append((step, scalars))

    trials = [{'reward': 0.5, 'failed': False, 'cost': {'flops': 2.0, 'tag': 'x'}},
              {'reward': float('nan'), 'failed': True, 'cost': {}},
              {'reward': 0.25, 'failed': False, 'cost': {'seconds': float('inf')}}]
    watch = SearchScalars(Vis())
    assert watch(trials[:2]) == 2 and watch(trials) == 1 and watch(trials) == 0
    assert [s for s, _ in sent] == [1, 2, 3]
    assert sent[0][1] == {'search/reward': 0.5, 'search/best_reward': 0.5,
                          'search/failed': 0.0, 'search/cost/flops': 2.0}
    assert 'search/reward' not in sent[1][1] and sent[1][1]['search/failed'] == 1.0
    assert sent[2][1]['search/best_reward'] == 0.5 and 'search/cost/seconds' not in sent[2][1]
    assert trial_scalars(trials[1], None) == {'search/failed': 1.0}
    assert SearchScalars.for_runner(SimpleNamespace())(trials) == 3  # no visualizer: no-op
