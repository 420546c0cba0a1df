"""Every script in bench/ runs at its ``--tiny`` size and prints its figures.

Each test (marked slow: a subprocess that imports torch takes tens of seconds on a
loaded machine) runs a bench as a subprocess (one torch thread), with a temporary work dir or
data dir where the bench takes one, and reads the printed figures back: they must be
numbers in sane ranges, not only a zero exit code. The full-size runs stay manual (their
commands are in each bench's docstring and in the README).
"""
import math
import os
import os.path as osp
import re

import pytest

from conftest import ROOT, run_tool

NUM = r'[-+]?\d[\d,]*(?:\.\d+)?'


def grab(pattern: str, text: str, kind=float):
    """The groups of the first match of ``pattern`` (with ``{n}`` standing for a number)
    in ``text``, converted; fails the test naming the pattern when absent."""
    m = re.search(pattern.replace('{n}', f'({NUM})'), text)
    assert m, f'no line matches {pattern!r} in the output:\n{text[-3000:]}'
    vals = [kind(g.replace(',', '')) for g in m.groups()]
    return vals[0] if len(vals) == 1 else vals


def test_every_bench_has_a_tiny_flag_and_a_test():
    """No bench script escapes CI: each has a --tiny flag and a test runs it (here, or
    in the test file of its feature)."""
    benches = sorted(f for f in os.listdir(osp.join(ROOT, 'bench'))
                     if f.endswith('.py') and not f.startswith('_'))  # _*.py: shared helpers
    src = ''
    for folder, _, names in os.walk(osp.join(ROOT, 'tests')):
        for name in names:
            if name.startswith('test_') and name.endswith('.py'):
                with open(osp.join(folder, name)) as f:
                    src += f.read()
    missing = [b for b in benches if f"'bench/{b}'" not in src]
    assert not missing, f'benches no test runs: {missing}'
    for b in benches:
        with open(osp.join(ROOT, 'bench', b)) as f:
            assert "'--tiny'" in f.read(), f'bench/{b} has no --tiny flag'


@pytest.mark.slow
def test_cells_bench_tiny():
    out = run_tool(['bench/cells.py', '--tiny'])
    rows = {ln.split()[0]: ln.split() for ln in out.splitlines()
            if ln.startswith(('nasnet_', 'pnasnet_', 'amoebanet_'))}
    assert len(rows) == 7
    for name, r in rows.items():
        params = int(r[3].replace(',', ''))
        assert 1e5 < params < 2e8, name
    # NASNet-A Mobile: the paper's 5.3M parameters and 564M mult-adds, within 10%
    mobile = rows['nasnet_a_mobile']
    assert 0.9 * 5.3e6 < int(mobile[3].replace(',', '')) < 1.1 * 5.3e6
    assert 0.9 * 564 < float(mobile[5].rstrip('M')) < 1.1 * 564
    ips = grab(r'batch 1 at 224: {n} images/s', out)
    assert 0 < ips < 1e4


@pytest.mark.slow
def test_nasfpn_bench_tiny():
    out = run_tool(['bench/nasfpn.py', '--tiny'])
    ours, ref = grab(r'parameters: ours {n}  mmdet {n}', out, int)
    assert ours == ref > 1e6
    assert grab(r'max \|ours - mmdet\| over the 5 outputs: {n}', out) < 1e-4
    ratio = grab(r'ratio ours / mmdet \(medians\): {n}', out)
    assert 0.1 < ratio < 10


@pytest.mark.slow
def test_strategies_bench_tiny():
    out = run_tool(['bench/strategies.py', '--tiny'])
    optimum = grab(r'optimum {n};', out)
    table = out.split('time (s)')[1]
    cells = re.findall(rf'({NUM}) ± ({NUM})', table)
    assert len(cells) >= 2 * 3    # at least 3 strategies x 2 budgets
    for mean, std in cells:
        assert 0 <= float(mean) <= optimum and 0 <= float(std) <= optimum


@pytest.mark.slow
def test_supernet_cls_bench_tiny(tmp_path):
    data = str(tmp_path / 'digits_cls')
    out = run_tool(['bench/supernet_cls.py', '--tiny', '--data', data])
    assert f'building {data}' in out
    for sampling in ('fixed', 'random'):
        loss, acc = grab(rf'{sampling}: 3 iterations.*train loss {{n}}.*val top-1 {{n}}%', out)
        assert 0 < loss < 100 and 0 <= acc <= 100   # 3 steps at lr 0.2: loss not settled


@pytest.mark.slow
def test_detnas_bench_tiny(tmp_path):
    data = tmp_path / 'digits_det'   # built there, with the search's held-out split
    out = run_tool(['bench/detnas.py', '--tiny', '--data-root', str(data)], timeout=900)
    assert (data / 'annotations' / 'instances_train_search-heldout.json').is_file()
    step = grab(r'supernet step, fresh random path : median {n} s', out)
    assert 0 < step < 120
    ratio = grab(r'median of per-pair ratios {n}', out)
    assert 0.1 < ratio < 10
    sup, sub = grab(r'parameters: supernet {n}M, subnet {n}M', out)
    assert sup > sub > 0
    assert 'losses finite: True' in out
    peak = grab(r'supernet: +{n} MiB', out)
    assert 10 < peak < 1e5
    per_cand = grab(r'5\. search, per candidate: {n} s', out)
    assert 0 < per_cand < 300
    # both BN modes, each with the speed-ups off and on, the same rewards, a profile each
    assert re.findall(r"bn_mode='(\w+)': 1 BN batches", out) == ['recalibrate', 'train']
    assert re.findall(r'rewards on vs off: largest difference (\S+) over 2 paths', out) == ['0'] * 2
    assert len(re.findall(r'ratio on/off: ' + NUM, out)) == 2
    for w, c in re.findall(rf'profile, s per candidate \(wall/cpu\): data ({NUM})/({NUM})', out):
        assert float(w) >= 0 and float(c) >= 0
    assert len(re.findall(r'profile, s per candidate', out)) == 4
    assert len(re.findall(r'top-k selections by torch.topk .*: \d+ of \d+ levels', out)) == 2
    # the options of the README's throughput figure: both supernets trained first, ours
    # reading with a worker process and nothing cached, two val batches at once; still
    # the same rewards
    out = run_tool(['bench/detnas.py', '--tiny', '--only-search', '--data-root', str(data),
                    '--train-iters', '2', '--workers', '1', '--stream', '--val-images', '4',
                    '--parallel-batches', '2'], timeout=900)
    assert re.findall(r'\[search\] training 2/2 .*: loss ours ' + NUM, out)
    assert len(re.findall(r'weights: trained 2 iterations here \(both\); .*reading: 1 '
                          r'worker\(s\) .*, streamed \(no cache\); val batches predicted '
                          r'at once by ours with the speed-ups: 2', out)) == 2
    assert re.findall(r'rewards on vs off: largest difference (\S+) over 2 paths', out) == ['0'] * 2


@pytest.mark.slow
def test_morphnet_bench_tiny(tmp_path):
    wd, data = tmp_path / 'wd', tmp_path / 'digits_cls'
    out = run_tool(['bench/morphnet.py', '--tiny', '--work-dir', str(wd), '--data-root',
                    str(data)], timeout=900)
    assert f'building {data}' in out
    before = grab(r'backbone FLOPs before \(multiply-adds, 1x3x32x32\) +{n}', out)
    model, measured = grab(r'backbone FLOPs after shrink \(model / FlopAnalyzer\) +{n} / {n}', out)
    assert model == measured < before    # the exported shrunk net costs what shrink said
    budget = grab(r'budget +{n}', out)
    assert budget == before
    err = grab(r'budget error of the expanded network +{n}%', out)
    assert abs(err) < 20       # tiny widths: multiples of 8 are coarse steps
    assert abs(grab(r'uniform vs expanded FLOPs +{n}%', out)) < 20
    for label in ('MorphNet shrunk\\+expanded ', 'uniform width scaling '):
        mean, std = grab(label + r' +{n} \+- {n}%', out)
        assert 0 <= mean <= 100 and 0 <= std <= 100
    for seed in (0, 1):
        for label in ('MorphNet shrunk\\+expanded', 'uniform width'):
            assert 0 <= grab(rf'val top-1, {label}, seed {seed} +{{n}}%', out) <= 100
    diff = grab(r'MorphNet - uniform +{n} \+-', out)
    assert math.isfinite(diff) and abs(diff) <= 100
    assert osp.isfile(wd / 'bench_morphnet.json')


@pytest.mark.slow
def test_nasfpn_compare_bench_tiny(tmp_path):
    wd = tmp_path / 'wd'
    out = run_tool(['bench/nasfpn_compare.py', '--tiny', '--work-dir', str(wd)], timeout=1200)
    assert f'built the easy detection set in {wd}/digits_det_easy_tiny' in out
    rows = [ln.split() for ln in out.splitlines() if ln.startswith(('controller ', 'fpn '))
            and 'retrained' not in ln]
    assert [r[:2] for r in rows] == [['controller', '0'], ['fpn', '0']]
    for r in rows:
        assert int(r[4].replace(',', '')) > 1000            # neck parameters
        assert 0 <= float(r[5]) <= 1 and 0 <= float(r[6]) <= 1   # mAP, mAP@50
    assert 0 <= float(rows[0][3]) <= 1     # the controller's best proxy reward (an mAP)
    for mode in ('controller', 'fpn'):
        mean, std = grab(rf'{mode} +retrained mAP over 1 seed\(s\): mean {{n}}, std {{n}}', out)
        assert 0 <= mean <= 1 and std == 0


@pytest.mark.slow
def test_make_digits_cells_tiny():
    out = run_tool(['bench/make_digits_cells.py', '--tiny'])
    rows = re.findall(rf'^(\d)/2 .* \[({NUM}), ({NUM})\] \(({NUM}) s per architecture\)', out,
                      re.M)
    assert [r[0] for r in rows] == ['1', '2']
    for _, a, b, secs in rows:
        assert 10 <= float(a) <= 100 and 10 <= float(b) <= 100   # above chance level
        assert 0 < float(secs) < 300
