"""The pure layers import and search with torch and mmengine unavailable."""
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow  # each test runs a Python subprocess (about a second each)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent('''
    import importlib
    import pkgutil
    import sys

    BLOCKED = ('torch', 'mmengine')

    class Block:
        """Import of torch / mmengine fails as if they were not installed."""
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in BLOCKED:
                raise ModuleNotFoundError(f'No module named {name!r} (blocked)', name=name)
            return None

    sys.meta_path.insert(0, Block())
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError as e:
        assert e.name == 'torch'
    else:
        raise AssertionError('the blocker does not work')

    import nas_det
    import nas_det.space
    spaces = sorted(m.name for m in pkgutil.iter_modules(nas_det.space.__path__))
    for name in spaces:
        importlib.import_module(f'nas_det.space.{name}')
    import nas_det.strategies
    import nas_det.strategies.random_search
    import nas_det.strategies.evolution
    from nas_det.space import ChoiceSpace
    from nas_det.strategies import build_strategy

    space = ChoiceSpace({'a': [0, 1, 2, 3], 'b': [0, 1, 2], 'c': [0, 1, 2, 3, 4]})
    for cfg in (dict(type='random'), dict(type='aging_evolution', population=5, sample_size=2),
                dict(type='detnas_ga', population=6, top_k=2, num_mutation=2,
                     num_crossover=2, generations=3)):
        s = build_strategy(cfg, space, seed=0, max_trials=15)
        while not s.done:
            for g in s.ask():
                s.tell(g, sum(space.to_tokens(g)))
        assert s.num_told == 15 and s.best()[1] > 0, cfg
    import tempfile
    from nas_det.strategies.driver import SearchDriver  # beside the strategies: no torch
    with tempfile.TemporaryDirectory() as wd:
        d = SearchDriver(space, dict(type='random'), work_dir=wd, seed=0, max_trials=6,
                         log=lambda *a: None)
        d.run_objective(lambda g: float(sum(space.to_tokens(g))))
        assert len(d.trials) == 6
    try:  # an unknown name tries the neural strategies, which skip without torch
        build_strategy(dict(type='no_such_strategy'), space)
    except ValueError as e:
        assert 'detnas_ga' in str(e), e
    leaked = sorted(m for m in sys.modules if m.split('.')[0] in BLOCKED)
    assert not leaked, leaked
    print('space modules:', ' '.join(spaces))
    print('pure layers OK')
''')


def test_pure_layers_import_and_search_without_torch():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, '-c', SCRIPT], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'pure layers OK' in proc.stdout
    for name in ('base', 'registry', 'cells', 'detnas', 'nasfpn', 'width'):
        assert name in proc.stdout.split('space modules:')[1].split()


def test_blocker_really_blocks():
    """The same subprocess fails on a torch import made after ``import nas_det``."""
    code = SCRIPT.split('import nas_det\n')[0] + 'import nas_det\nimport torch.nn\n'
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "No module named 'torch' (blocked)" in proc.stderr
