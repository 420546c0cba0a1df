"""The set-up: pinned build tools on every pip call, a wheel key that follows the recipe,
and a refusal of a CPU-only mmcv where torch sees CUDA."""
import os
import re
import shutil
import subprocess
import sys

import pytest

from nas_det.utils.check_mmcv import check_mmcv_ops, mmcv_cuda_version

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'tools', 'setup_env.sh')


def test_cpu_only_mmcv_refused_where_cuda_is_seen():
    with pytest.raises(RuntimeError, match=r'without CUDA ops.*setup_env\.sh --cuda'):
        check_mmcv_ops(cuda_available=True, compiled_cuda='not available')
    assert 'CUDA 13.0' in check_mmcv_ops(cuda_available=True, compiled_cuda='13.0')
    assert 'CPU only' in check_mmcv_ops(cuda_available=False, compiled_cuda='not available')


def test_installed_mmcv_matches_torch():
    """The real reading: on a GPU machine a CPU-only mmcv fails here with the fix named."""
    compiled = mmcv_cuda_version()
    assert isinstance(compiled, str) and compiled
    check_mmcv_ops(compiled_cuda=compiled)


def test_every_pip_call_takes_the_build_constraints():
    text = open(SCRIPT).read()
    calls = [line for line in text.splitlines()
             if re.search(r'-m pip (install|download|wheel)', line)]
    assert len(calls) >= 3, calls
    for line in calls:
        assert '-c "$build"' in line, f'pip call without the build constraints: {line.strip()}'
    pins = dict(line.split('==') for line in open(os.path.join(ROOT, 'requirements', 'build.txt'))
                if '==' in line and not line.startswith('#'))
    major = int(pins['setuptools'].split('.')[0])
    # mmcv 2.1.0's setup.py imports pkg_resources (gone from setuptools 80's default
    # install); torch 2.14 asks for setuptools >= 77.0.3
    assert 77 <= major < 80, pins['setuptools']


def _key(root, *args, env=None):
    out = subprocess.run(['bash', os.path.join(root, 'tools', 'setup_env.sh'), '--wheel-key',
                          *args], capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})})
    return out.stdout.strip()


@pytest.mark.slow
def test_wheel_key_follows_recipe_pins_and_variant(tmp_path):
    for sub in ('tools', 'requirements'):
        shutil.copytree(os.path.join(ROOT, sub), tmp_path / sub)
    root = str(tmp_path)
    cpu = _key(root)
    assert cpu == _key(root) and cpu.startswith('mmcv2.1.0-torch2.14.1-') and '-cpu-' in cpu
    cuda = _key(root, '--cuda', env={'TORCH_CUDA_ARCH_LIST': '9.0'})
    assert '-cuda-9.0-' in cuda and cuda != cpu
    assert _key(root, '--cuda', env={'TORCH_CUDA_ARCH_LIST': '8.0;9.0'}) != cuda
    # a changed pin or a changed recipe line gives a new key (so the wheel is rebuilt)
    build = tmp_path / 'requirements' / 'build.txt'
    build.write_text(build.read_text().replace('wheel==', 'wheel==0.0.1\n#'))
    assert _key(root) != cpu
    shutil.copy(os.path.join(ROOT, 'requirements', 'build.txt'), build)
    assert _key(root) == cpu
    script = tmp_path / 'tools' / 'setup_env.sh'
    original = script.read_text()
    script.write_text(original.replace("'-std=c++20'/g", "'-std=c++23'/g"))
    assert _key(root) != cpu
    # the CUDA-only settings (CPATH for the nvidia/*/include headers) key the CUDA wheel only
    assert "glob.glob(os.path.join(sp, 'nvidia', '*', 'include'))" in original
    script.write_text(original.replace("'nvidia', '*', 'include'", "'nvidia', 'include'"))
    assert _key(root) == cpu
    assert _key(root, '--cuda', env={'TORCH_CUDA_ARCH_LIST': '9.0'}) != cuda


@pytest.mark.slow
def test_unknown_option_is_one_line():
    out = subprocess.run(['bash', SCRIPT, '--gpu'], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().count('\n') == 0 and "unknown option '--gpu'" in out.stderr


@pytest.mark.slow
def test_gpu_check_script_runs_at_tiny_size_on_cpu(tmp_path):
    """tools/gpu_check.py is the GPU machine's check; on CPU at a few steps it must still run
    its op checks, both trainings and print its figures (so that it cannot rot here). It runs
    as on the GPU machine: OpenCV replaced by tools/gpu_check_shim, Pillow backends."""
    env = {**os.environ, 'PYTHONPATH': os.path.join(ROOT, 'tools', 'gpu_check_shim')}
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', 'gpu_check.py'),
         '--device', 'cpu', '--iters', '6', '--subnet-iters', '3', '--batch', '2',
         '--work-dir', str(tmp_path / 'w'), '--data-root', str(tmp_path / 'data'), '--pillow'],
        capture_output=True, text=True, timeout=900, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    assert 'mmcv ops on cpu: nms kept' in text
    m = re.search(r'img/s supernet ([\d.]+), subnet ([\d.]+), ratio subnet/supernet ([\d.]+)',
                  text)
    assert m and all(float(v) > 0 for v in m.groups()), text[-2000:]
    curve = re.search(r'supernet loss curve: (.*)', text).group(1).split(', ')
    assert len(curve) >= 2 and all(float(c.split(':')[1]) > 0 for c in curve)
