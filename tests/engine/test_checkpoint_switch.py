"""``NAS_DET_PATCH_CHECKPOINT``: ``import nas_det`` patches mmengine's checkpoint save and
load by default (and with ``1``), leaves them as shipped with ``0``, and refuses any other
value in one line naming the variable and the allowed values. Each case in a fresh
interpreter: the patch is process-wide."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from conftest import ROOT

PROBE = r'''
import json
from mmengine.runner import checkpoint as mm, runner as mm_runner
ATTRS = ('load_from_local', 'load_from_http', 'load_from_torchvision', 'load_from_openmmlab',
         'load_from_mmcls', 'load_from_pavi', 'load_from_ceph', 'load_url', 'save_checkpoint')
def state():
    return ({p: fn for p, fn in mm.CheckpointLoader._schemes.items()},
            {a: getattr(mm, a) for a in ATTRS}, mm_runner.save_checkpoint)
before = state()
import nas_det
from nas_det.engine.runner import checkpoint as ck
after = state()
print(json.dumps(dict(
    unchanged=after[0] == before[0] and after[1] == before[1] and after[2] is before[2],
    ours=all(fn in (ck.load_from_url, ck._load_from_local) for fn in after[0].values())
         and after[1]['load_from_local'] is ck._load_from_local
         and getattr(after[2], '__wrapped__', None) is before[2]
         and after[1]['save_checkpoint'] is after[2],
    local=after[0][''].__module__, installed=ck._installed)))
'''


def _run(args, value):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': ROOT}
    env.pop('NAS_DET_PATCH_CHECKPOINT', None)
    env.pop('NAS_DET_DEBUG', None)
    if value is not None:
        env['NAS_DET_PATCH_CHECKPOINT'] = value
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize('value', [None, '0', '1'])
def test_switch_leaves_mmengine_as_shipped_or_patches_it(value):
    p = _run(['-c', PROBE], value)
    assert p.returncode == 0, p.stderr[-3000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    if value == '0':
        assert got == dict(unchanged=True, ours=False, local='mmengine.runner.checkpoint',
                           installed=False)
    else:
        assert not got['unchanged'] and got['ours'] and got['installed'], got
        assert got['local'].startswith('nas_det.'), got


@pytest.mark.slow
def test_other_values_are_one_line_errors():
    want = ("NAS_DET_PATCH_CHECKPOINT: 'yes' is not allowed; allowed values: '0' "
            "(leave mmengine's checkpoint loading as shipped), '1' (the default: safe loading)")
    p = _run(['-c', 'import nas_det'], 'yes')  # a plain import, as custom_imports does
    assert p.returncode == 1 and p.stderr.strip().splitlines()[-1] == f'ValueError: {want}'
    p = _run([osp.join(ROOT, 'tools', 'search.py'), 'no_such_config.py'], 'yes')
    assert p.returncode == 2 and p.stderr.strip().splitlines() == [f'search.py: error: {want}']


def test_patch_enabled_reads_the_variable(monkeypatch):
    from nas_det.engine.runner import checkpoint as ck
    for value, want in ((None, True), ('1', True), ('0', False), (' 0 ', False)):
        if value is None:
            monkeypatch.delenv(ck.PATCH_ENV, raising=False)
        else:
            monkeypatch.setenv(ck.PATCH_ENV, value)
        assert ck.patch_enabled() is want
    for bad in ('', 'true', '2', 'off'):
        monkeypatch.setenv(ck.PATCH_ENV, bad)
        with pytest.raises(ValueError, match=f"NAS_DET_PATCH_CHECKPOINT: {bad!r} is not "
                                             r"allowed; allowed values: '0' .*'1'"):
            ck.patch_enabled()
