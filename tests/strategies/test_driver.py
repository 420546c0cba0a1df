"""The search driver: files, resume after a kill at any point, failures, plots."""
import json
import math
import os.path as osp

import pytest

from nas_det.strategies.driver import BEST_FILE, STATE_FILE, SearchDriver, read_trials
from nas_det.engine.visualization import pareto_front
from nas_det.space import ChoiceSpace

SPACE = ChoiceSpace({f'x{i}': list(range(5)) for i in range(8)})
TARGET = [3, 1, 4, 1, 0, 2, 3, 4]


def objective(g):
    v = [g[f'x{i}'] for i in range(8)]
    return sum(a == b for a, b in zip(v, TARGET)) - 0.01 * sum(abs(a - b) for a, b in zip(v, TARGET))


def evaluate(g):
    return {'reward': objective(g), 'cost': {'flops': sum(g[f'x{i}'] for i in range(8))}}


STRATS = [dict(type='GeneticAlgorithm', population=10, top_k=3, num_mutation=4,
               num_crossover=4, generations=4),
          dict(type='RegularizedEvolution', population=8, sample_size=3, batch_size=3),
          dict(type='RandomSearch', batch_size=4)]


@pytest.mark.parametrize('cfg', STRATS, ids=lambda c: c['type'])
def test_killed_search_ends_like_uninterrupted(tmp_path, cfg):
    ref = SearchDriver(SPACE, cfg, work_dir=str(tmp_path / 'ref'), seed=3, max_trials=40,
                       log=lambda *_: None)
    best_ref = ref.run_objective(evaluate)
    ref_trials = read_trials(str(tmp_path / 'ref'))
    # kill after k evaluations, in the middle of a batch, then resume (repeatedly)
    wd = str(tmp_path / 'cut')
    calls = {'n': 0}

    class Killed(BaseException):  # not an evaluation error: a stop (as a kill would)
        pass

    def dying_eval(limit):
        def ev(g):
            if calls['n'] >= limit:
                raise Killed
            calls['n'] += 1
            return evaluate(g)
        return ev

    for limit in (7, 15, 23, 10 ** 9):
        d = SearchDriver(SPACE, cfg, work_dir=wd, seed=3, max_trials=40, log=lambda *_: None)
        try:
            best = d.run_objective(dying_eval(limit))
        except Killed:
            continue
    # killed mid-batch three times, and still nothing was evaluated twice
    assert calls['n'] == len(ref_trials)
    cut_trials = read_trials(wd)
    strip = lambda ts: [{k: v for k, v in t.items() if k not in ('wall_time', 'crc')} for t in ts]
    assert strip(cut_trials) == strip(ref_trials)
    assert SPACE.key(best[0]) == SPACE.key(best_ref[0]) and best[1] == best_ref[1]
    with open(osp.join(wd, BEST_FILE)) as f:
        assert json.load(f)['key'] == SPACE.key(best_ref[0])
    assert len({t['key'] for t in ref_trials}) == len(ref_trials)


def test_failures_are_logged_and_search_goes_on(tmp_path):
    def ev(g):
        return float('nan') if g['x0'] == 0 else objective(g)
    d = SearchDriver(SPACE, dict(type='RandomSearch', batch_size=5), work_dir=str(tmp_path),
                     seed=0, max_trials=30, log=lambda *_: None)
    best = d.run_objective(ev)
    trials = read_trials(str(tmp_path))
    assert len(trials) == 30
    failed = [t for t in trials if t['failed']]
    assert failed and all(t['reward'] == 'nan' for t in failed)
    assert best is not None and math.isfinite(best[1]) and best[0]['x0'] != 0


def test_state_is_plain_json_and_space_mismatch_is_refused(tmp_path):
    d = SearchDriver(SPACE, STRATS[0], work_dir=str(tmp_path), max_trials=10, log=lambda *_: None)
    d.run_objective(evaluate)
    with open(osp.join(str(tmp_path), STATE_FILE)) as f:
        state = json.load(f)
    assert state['space'] == 'choices' and state['strategy']['type'] == 'GeneticAlgorithm'
    other = ChoiceSpace({'a': [1, 2]}, name='other')
    with pytest.raises(ValueError, match='other work dir'):
        SearchDriver(other, STRATS[0], work_dir=str(tmp_path), log=lambda *_: None)


def test_pareto_front():
    pts = [(1, 0.1), (2, 0.5), (3, 0.4), (4, 0.9), (0.5, 0.05)]
    assert pareto_front(pts) == [4, 0, 1, 3]


def test_plots_written(tmp_path):
    from nas_det.engine.visualization import plot_search
    d = SearchDriver(SPACE, STRATS[2], work_dir=str(tmp_path), max_trials=12, log=lambda *_: None)
    d.run_objective(evaluate)
    files = plot_search(read_trials(str(tmp_path)), str(tmp_path), cost_key='flops')
    assert [osp.basename(f) for f in files] == ['search_progress.png', 'search_pareto.png']
    assert all(osp.getsize(f) > 1000 for f in files)
