"""The DetNAS supernet training recipe: SamplingRecipe / UniformSamplingHook options
(warm-up path, weight inheritance, op curriculum) and the backbone's
inherit_choice_weights; and bench/detnas_ranking.py."""
import os
import random
import re
import subprocess
import sys
import types

import pytest
import torch

from conftest import ROOT, run_tool

pytest.importorskip('mmcv')

from nas_det.engine.hooks import SamplingRecipe, UniformSamplingHook  # noqa: E402
from nas_det.models.shufflenet import ShuffleNetV2Supernet  # noqa: E402
from nas_det.space.detnas import DETNAS_OPS, DetNASSpace  # noqa: E402

SPACE = DetNASSpace('300M')


def tiny_supernet():
    torch.manual_seed(0)
    bb = ShuffleNetV2Supernet(widen_factor=0.25, out_indices=(3, ))
    bb.init_weights()
    return bb


def test_paper_recipe_is_uniform_sampling():
    """No option: the same draws as space.sample with the same RNG (the old hook)."""
    r = SamplingRecipe()
    assert r.is_uniform
    a, b = random.Random(3), random.Random(3)
    assert [r.sample(SPACE, it, a) for it in range(5)] == [SPACE.sample(b) for _ in range(5)]


def test_warmup_then_curriculum():
    r = SamplingRecipe(warmup_path='shuffle3x3', warmup_iters=10,
                       op_curriculum=dict(xception3x3=20), ramp_iters=10)
    r.check(SPACE)
    rng = random.Random(0)
    assert set(r.sample(SPACE, 9, rng).ops) == {'shuffle3x3'}
    before = [op for it in range(10, 20) for op in r.sample(SPACE, it, rng).ops]
    assert 'xception3x3' not in before and set(before) == set(DETNAS_OPS[:3])
    assert r.weight('xception3x3', 19) == 0 and r.weight('xception3x3', 20) == 0.1
    assert r.weight('xception3x3', 29) == 1 and r.weight('shuffle5x5', 10) == 1
    after = [op for it in range(40, 60) for op in r.sample(SPACE, it, rng).ops]
    assert 0.15 < after.count('xception3x3') / len(after) < 0.35


@pytest.mark.parametrize('kwargs, field', [
    (dict(warmup_path='shuffle3x3'), 'warmup_path and warmup_iters'),
    (dict(warmup_iters=5), 'warmup_path and warmup_iters'),
    (dict(warmup_iters=-1), 'warmup_iters'),
    (dict(ramp_iters=1.5), 'ramp_iters'),
    (dict(op_curriculum=dict(xception3x3=-2)), 'op_curriculum'),
    (dict(inherit_weights='yes'), 'inherit_weights'),
])
def test_bad_options(kwargs, field):
    with pytest.raises(ValueError, match=f'^{re.escape(field)}'):
        SamplingRecipe(**kwargs)


@pytest.mark.parametrize('kwargs, field', [
    (dict(warmup_path='conv9x9', warmup_iters=5), 'warmup_path'),
    (dict(warmup_path=['shuffle3x3'] * 3, warmup_iters=5), 'warmup_path'),
    (dict(op_curriculum=dict(conv9x9=3)), 'op_curriculum'),
    (dict(op_curriculum={op: 5 for op in DETNAS_OPS}), 'op_curriculum'),
])
def test_recipe_that_does_not_fit_the_space(kwargs, field):
    with pytest.raises(ValueError, match=f'^{field}'):
        SamplingRecipe(**kwargs).check(SPACE)


def test_inherit_copies_kernels_into_independent_choices():
    bb = tiny_supernet()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():  # make the running statistics non-trivial
        bb.set_choices(['shuffle3x3'] * 20)
        bb(x)
    bb.eval()
    before = bb(x)[0]
    assert bb.inherit_choice_weights('shuffle3x3') == 60  # 3 other choices x 20 blocks
    for op in ('shuffle5x5', 'shuffle7x7'):  # zero-padded kernels: the same function
        bb.set_choices([op] * 20)
        torch.testing.assert_close(bb(x)[0], before)
    bb.set_choices(['xception3x3'] * 20)  # close, not equal; but not at random init either
    assert bb(x)[0].shape == before.shape
    unit = bb.stages[1][1].choices
    k3, k7 = unit['shuffle3x3'].main[1].conv.weight, unit['shuffle7x7'].main[1].conv.weight
    assert k7.data_ptr() != k3.data_ptr()
    with torch.no_grad():
        k7.add_(1)
    assert not torch.equal(k7[..., 2:5, 2:5], k3)  # copies, not shared weights
    x_first = unit['xception3x3'].main[0].conv.weight  # the identity depthwise kernel
    assert x_first[:, 0, 1, 1].eq(1).all() and x_first.sum() == x_first.shape[0]
    with pytest.raises(ValueError, match='^source'):
        bb.inherit_choice_weights('conv9x9')
    with pytest.raises(ValueError, match='^ops'):
        bb.inherit_choice_weights('shuffle3x3', ['conv9x9'])


def test_hook_warm_start_inherits_once_then_samples():
    bb = tiny_supernet()
    runner = types.SimpleNamespace(model=torch.nn.ModuleDict(dict(backbone=bb)), iter=0,
                                   work_dir='.')
    hook = UniformSamplingHook(seed=0, warmup_path='shuffle3x3', warmup_iters=2,
                               op_curriculum=dict(xception3x3=4), ramp_iters=2)
    hook.before_train(runner)
    seen = []
    for it in range(8):
        runner.iter = it
        if it == 1:
            with torch.no_grad():
                bb.stages[0][0].choices['shuffle3x3'].main[1].conv.weight.fill_(0.5)
        hook.before_train_iter(runner, it)
        seen.append(set(bb.choices.ops))
    assert seen[0] == seen[1] == {'shuffle3x3'}
    assert 'xception3x3' not in seen[2] | seen[3]
    assert any('xception3x3' in s for s in seen[5:])
    k5 = bb.stages[0][0].choices['shuffle5x5'].main[1].conv.weight
    assert k5[..., 1:4, 1:4].eq(0.5).all() and k5[..., 0, :].eq(0).all()
    with pytest.raises(ValueError, match='^warmup_path'):
        UniformSamplingHook(warmup_path='conv9x9', warmup_iters=2).before_train(runner)


@pytest.mark.slow
def test_ranking_bench_tiny(tmp_path):
    args = ['bench/detnas_ranking.py', '--tiny', '--work-dir', str(tmp_path),
            '--recipes', 'paper', 'new']
    out = run_tool(args)
    num = r'(-?[0-9.]+|nan)'
    ceil = re.search(rf'^ceiling \(standalone seed vs seed\): tau {num} \[{num}, {num}\]', out,
                     re.M)
    assert ceil, out
    rows = re.findall(rf'^recipe (\S+): tau {num} \[{num}, {num}\] against the mean of the '
                      rf'seeds, top-2 overlap (\d)/2, mean supernet acc {num}%; against one '
                      rf'seed at a time tau {num}, / ceiling {num}', out, re.M)
    assert [r[0] for r in rows] == ['paper', 'new'], out
    for r in rows:
        t, lo, hi = (float(v) for v in r[1:4])
        assert -1 <= t <= 1 and (lo <= hi or t != t)
        assert 0 <= float(r[5]) <= 100
        assert r[6] == 'nan' or -1 <= float(r[6]) <= 1
    assert len(re.findall(r'^\s+\d+ \S', out, re.M)) >= 4  # the table of 4 paths
    again = run_tool(args)  # finished jobs are reused
    assert again.count('reused') == 4 * 2 + 2
    assert re.findall(r'^recipe .*$', again, re.M) == re.findall(r'^recipe .*$', out, re.M)
    p = subprocess.run([sys.executable, *args, '--lr', '0.05'], cwd=ROOT, capture_output=True,
                       text=True, env={**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': ROOT})
    assert p.returncode != 0 and '--work-dir' in p.stderr and 'lr=0.1' in p.stderr
