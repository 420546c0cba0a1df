"""Fixtures and helpers shared by the test folders, which mirror the package:
``space/``, ``strategies/``, ``models/``, ``engine/``, ``data/`` and ``e2e/`` (whole tools
and configs). pytest puts this folder on ``sys.path``, so a test imports the helpers here
with ``from conftest import ...`` and the toy task with ``import nasfpn_toy``."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _path in (ROOT, HERE):  # the package; conftest and nasfpn_toy, whatever the import mode
    if _path not in sys.path:
        sys.path.insert(0, _path)


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: builds an mmengine Runner, runs a subprocess or '
                            'trains more than a few steps (-m "not slow" is the fast tier; '
                            'CI runs everything)')


@pytest.fixture(scope='module')
def one_thread():
    """Torch on one thread for a test module, restored after: tiny tensors run fastest on
    one thread, and much faster on a shared machine (``pytestmark =
    pytest.mark.usefixtures('one_thread')``)."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope='session')
def tiny_det_data(tmp_path_factory):
    """A tiny embedded detection set (real digits), shared by the slow tests."""
    from nas_det.data import make_detection_set
    out = tmp_path_factory.mktemp('digits_det')
    make_detection_set(out, num_train=16, num_val=8, seed=0)
    return str(out)


def run_tool(args, cwd=ROOT, env=None, timeout=600):
    """Run a python tool in a subprocess; fail with its output on a non-zero exit."""
    import subprocess
    e = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': ROOT, **(env or {})}
    p = subprocess.run([sys.executable, *args], cwd=cwd, env=e, capture_output=True,
                       text=True, timeout=timeout)
    assert p.returncode == 0, f'{args} failed ({p.returncode}):\n{p.stdout[-4000:]}\n{p.stderr[-6000:]}'
    return p.stdout + p.stderr


def kill_when(args, ready, env=None, timeout=300, poll=0.02):
    """Start a python tool, SIGKILL it as soon as ``ready()`` is true (or it exited, or
    ``timeout`` passed), and wait for it: the 'killed at any point' half of resume tests."""
    import signal
    import subprocess
    import time
    e = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': ROOT, **(env or {})}
    p = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=e,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while p.poll() is None and time.time() - t0 < timeout and not ready():
        time.sleep(poll)
    p.send_signal(signal.SIGKILL)
    p.wait()


def count_lines(path):
    """Lines of ``path`` so far (0 when it does not exist yet)."""
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return sum(1 for _ in f)


def correct_count(acc, num_images):
    """The number of correct images that a top-1 accuracy ``acc`` (percent) over
    ``num_images`` images stands for, or None when it is no such count."""
    k = acc * num_images / 100
    return round(k) if 0 <= acc <= 100 and abs(k - round(k)) < 1e-4 else None
