"""The tabular strategy benchmark (bench/data/digits_cells.json) and its reader."""
import importlib.util
import os
import statistics

import pytest

from nas_det.strategies import build_strategy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module')
def bench():
    spec = importlib.util.spec_from_file_location('bench_strategies',
                                                  os.path.join(ROOT, 'bench', 'strategies.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_table_covers_the_space_with_real_accuracies(bench):
    d = bench.Digits()
    assert d.space.size() == len(d.acc) == 750
    assert [len(b) for b in d.space.blocks()] == [1, 2, 2]
    import json
    with open(bench.TABLE) as f:
        rows = json.load(f)['rows']
    assert all(len(accs) == 2 and all(10 < a <= 100 for a in accs) for _, accs in rows)
    vals = sorted(d.acc.values())
    assert vals[-1] - statistics.median(vals) > 2  # architectures differ beyond seed noise
    assert len(set(vals)) > 150  # isomorphic networks share their accuracies


def test_random_expectation_is_exact(bench):
    d = bench.Digits()
    vals = list(d.acc.values())
    assert d.random_expectation(1) == pytest.approx(statistics.mean(vals))
    assert d.random_expectation(len(vals)) == pytest.approx(max(vals))
    e = [d.random_expectation(b) for b in (10, 50, 100, 300)]
    assert e == sorted(e) and e[-1] < max(vals)


def test_ga_beats_random_expectation(bench):
    d = bench.Digits()
    found = [bench.run(dict(type='detnas_ga'), d, seed, 100) for seed in range(10)]
    assert statistics.mean(found) > d.random_expectation(100)
