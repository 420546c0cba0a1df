"""Latency tables of the DetNAS space (nas_det/models/latency.py, tools/latency_table.py)
(the search side: tests/engine/test_latency_search.py)."""
import json
import os
import os.path as osp
import random
import subprocess
import sys

import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('mmdet')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def small_table():
    """A table of the 300M space at 32x32 input, timed once per entry (mechanics only)."""
    import nas_det  # noqa: F401
    from nas_det.models.latency import build_latency_table
    return build_latency_table('300M', 1.0, (3, 32, 32), repeats=1, rounds=1, warmup=1,
                               calibrate=2)


def test_table_covers_every_block_and_predicts_the_sum(small_table, tmp_path):
    from nas_det.models.latency import LatencyTable, block_key
    from nas_det.models.shufflenet import OP_KERNELS, _plan
    t = small_table
    _, _, plan, space = _plan('300M', 1.0, (3, 32, 32), False)
    # 4 stages: the first (stride 2) block and the others (stride 1) differ: 8 x 4 ops
    assert len(set(plan)) == 8 and len(t.blocks) == 8 * len(OP_KERNELS)
    g = space.sample(random.Random(0))
    plain = t.fixed['stem'] + sum(t.blocks[block_key(op, *spec)] for op, spec in zip(g.ops, plan))
    assert t.predict(g, calibrated=False) == pytest.approx(plain, rel=1e-12)
    scale = t.meta['calibration']['scale']
    assert scale > 0 and t.predict(g) == pytest.approx(plain * scale, rel=1e-12)
    assert t.meta['platform']['peak_compute'] > 0 and t.meta['platform']['memory_bandwidth'] > 0
    path = tmp_path / 'lat.json'
    t.save(str(path))
    again = LatencyTable.load(str(path))
    assert again.predict(g) == t.predict(g) and again.meta == json.loads(path.read_text())


@pytest.mark.parametrize('edit, match', [
    (lambda m: m.update(format='x'), "not a latency table"),
    (lambda m: m.update(extra=1), r"unknown keys \['extra'\]"),
    (lambda m: m['blocks'].update({'shuffle3x3|1|1|1|1|1': -1.0}), r'blocks\.shuffle3x3.*>= 0'),
    (lambda m: m['fixed'].pop('stem'), 'the stem entry is missing'),
    (lambda m: m['calibration'].update(stat='mean'), 'calibration'),
    (lambda m: m.update(input_shape=[3, 0, 4]), 'input_shape'),
])
def test_a_bad_table_file_is_one_line_naming_the_field(small_table, tmp_path, edit, match):
    import copy

    from nas_det.models.latency import LatencyTable
    meta = copy.deepcopy(small_table.meta)
    edit(meta)
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=match) as e:
        LatencyTable.load(str(path), 'train_cfg.latency_table')
    assert str(e.value).startswith('train_cfg.latency_table') and '\n' not in str(e.value)
    path.write_text('{not json')
    with pytest.raises(ValueError, match='cannot read the latency table'):
        LatencyTable.load(str(path))


def test_table_refuses_another_backbone(small_table):
    with pytest.raises(ValueError, match=r"built for \{'arch': '300M', 'widen_factor': 1.0\}, "
                                         r"the backbone is \{'arch': '1.3G'"):
        small_table.check_backbone('1.3G', 1.0)
    with pytest.raises(ValueError, match='the backbone has a last conv'):
        small_table.check_backbone('300M', 1.0, with_last_conv=True)
    small_table.check_backbone('300M', 1.0)


@pytest.mark.slow
def test_table_predicts_whole_backbones_within_15_percent():
    """The issue's accuracy check on this machine: 10 random 300M paths at 224x224, one
    thread, each predicted within 15% of its measured latency (the command the guide
    quotes, with --max-error; 5 rounds, as the suite shares the cores with other tests)."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    out = subprocess.run([sys.executable, osp.join(ROOT, 'tools/latency_table.py'),
                          '--out', os.devnull, '--threads', '1', '--check', '10',
                          '--max-error', '0.15', '--rounds', '5'],
                         capture_output=True, text=True, env=env,
                         cwd=ROOT, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = [ln for ln in out.stdout.splitlines() if 'predicted' in ln]
    assert len(lines) == 10
    errors = [abs(float(ln.rsplit('error ', 1)[1].rstrip('%'))) for ln in lines]
    assert max(errors) <= 15.0, out.stdout


def test_tool_refuses_bad_arguments_in_one_line(tmp_path):
    for args, msg in [([], '--out: give the file'),
                      (['--out', 'x.json', '--batch', '0'], '--batch: an integer >= 1'),
                      (['--table', str(tmp_path / 'none.json')], '--table: cannot read')]:
        out = subprocess.run([sys.executable, osp.join(ROOT, 'tools/latency_table.py'), *args],
                             capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert out.returncode != 0 and msg in out.stderr, out.stderr
        assert 'Traceback' not in out.stderr
