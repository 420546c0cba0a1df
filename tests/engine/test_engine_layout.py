"""``nas_det/engine/`` grouped by role: the folders' import graph (read from the source,
lazy imports counted) has no circle and follows the directions drawn in docs/layout.md; the
old flat module paths still import, with a DeprecationWarning; the registered names are
those of before."""
import ast
import importlib
import os
import re
import sys
import warnings

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENGINE = os.path.join(ROOT, 'nas_det', 'engine')
PKG = 'nas_det.engine'


def _folders() -> list:
    return sorted(d for d in os.listdir(ENGINE)
                  if os.path.isfile(os.path.join(ENGINE, d, '__init__.py')))


def _engine_files():
    """``(folder, file path, its package, is it a package's __init__)`` for every file
    of every folder of ``nas_det/engine``."""
    for folder in _folders():
        for dirpath, _, files in os.walk(os.path.join(ENGINE, folder)):
            for f in sorted(files):
                if f.endswith('.py'):
                    rel = os.path.relpath(dirpath, ROOT).replace(os.sep, '.')
                    yield folder, os.path.join(dirpath, f), rel


def _imports(path: str, package: str):
    """``(absolute module, [imported names])`` of every import of the file, those inside
    functions included (a lazy import still closes a circle)."""
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split('.')
                base = '.'.join(parts[:len(parts) - node.level + 1])
                base = f'{base}.{node.module}' if node.module else base
            else:
                base = node.module
            names = [a.name for a in node.names]
            yield base, names
            for n in names:  # `from . import x`: x may be a module
                yield f'{base}.{n}', []


def _folder_of(module: str):
    parts = module.split('.')
    return parts[2] if parts[:2] == ['nas_det', 'engine'] and len(parts) > 2 else None


def _engine_imports() -> dict:
    """``{folder: {(other folder, imported module)}}`` over ``nas_det/engine``."""
    graph = {f: set() for f in _folders()}
    for folder, path, package in _engine_files():
        for module, _ in _imports(path, package):
            other = _folder_of(module)
            if other in graph and other != folder:
                graph[folder].add((other, module))
    return graph


def _allowed() -> dict:
    """The allowed directions drawn in docs/layout.md."""
    with open(os.path.join(ROOT, 'docs', 'layout.md')) as f:
        text = f.read()
    block = text.split('<!-- allowed engine imports: begin -->')[1].split(
        '<!-- allowed engine imports: end -->')[0]
    out = {}
    for line in block.splitlines():
        m = re.match(r'^(\w+)\s+->\s+(.*)$', line.strip())
        if m:
            targets = m.group(2).strip()
            out[m.group(1)] = set() if targets == '(none)' else {
                t.strip() for t in targets.split(',')}
    return out


def test_engine_is_folders_only():
    """No flat module besides ``__init__`` and the table of moved paths."""
    flat = sorted(f for f in os.listdir(ENGINE) if f.endswith('.py'))
    assert flat == ['__init__.py', '_moved.py'], flat
    assert _folders() == ['evaluators', 'export', 'hooks', 'launch', 'optimizers', 'runner',
                          'visualization']


def test_engine_folders_import_no_circle_and_follow_the_drawing():
    graph = _engine_imports()
    allowed = _allowed()
    assert set(allowed) == set(graph), (sorted(allowed), sorted(graph))
    deps = {k: {d for d, _ in v} for k, v in graph.items()}
    for folder, edges in graph.items():
        bad = sorted(name for d, name in edges if d not in allowed[folder])
        assert not bad, f'{folder} imports {bad}, not allowed by docs/layout.md'

    def visit(m, stack):
        for d in sorted(deps[m]):
            assert d not in stack, f'import circle: {" -> ".join(stack + [d])}'
            visit(d, stack + [d])
    for m in sorted(deps):
        visit(m, [m])


def test_no_private_names_across_folders():
    """A folder imports only public names of another (proxy.py's ``_build_dataset`` is
    ``build_dataset`` now)."""
    for folder, path, package in _engine_files():
        for module, names in _imports(path, package):
            if _folder_of(module) not in (None, folder):
                private = [n for n in names if n.startswith('_')]
                assert not private, (path, module, private)


def test_engine_docstring_names_every_folder():
    import nas_det.engine as engine
    for folder in _folders():
        assert f'``{folder}/``' in engine.__doc__, folder


OLD = {  # old module path -> (a name it had, the module that holds it now)
    'driver': ('SearchDriver', 'nas_det.strategies.driver'),
    'search_loop': ('SearchLoop', 'nas_det.engine.runner.search_loop'),
    'checkpoint': ('safe_load', 'nas_det.engine.runner.checkpoint'),
    'phases': ('register_phase', 'nas_det.engine.launch.phases'),
    'split_phase': ('heldout_paths', 'nas_det.engine.launch.split_phase'),
    'dist': ('setup_distributed', 'nas_det.engine.launch.dist'),
    'offline': ('check_offline', 'nas_det.engine.launch.offline'),
    'checks': ('check_data', 'nas_det.engine.launch.checks'),
    'config_moves': ('MOVED_CONFIGS', 'nas_det.utils.config_moves'),
    'proxy': ('ProxyTrainEvaluator', 'nas_det.engine.evaluators.proxy'),
    'cell_hooks': ('DropPathScheduleHook', 'nas_det.engine.hooks.drop_path_schedule_hook'),
    'plots': ('plot_search', 'nas_det.engine.visualization.plots'),
    'cell_plots': ('plot_cells', 'nas_det.engine.visualization.cell_plots'),
    'pareto': ('write_pareto', 'nas_det.engine.visualization.pareto'),
    'search_scalars': ('SearchScalars', 'nas_det.engine.visualization.search_scalars'),
    'cell_export': ('export_cell_configs', 'nas_det.engine.export.cells'),
    'export_genotype': ('export_genotype', 'nas_det.engine.export.template'),
    'morphnet': ('MorphNetOptimWrapper', 'nas_det.engine.optimizers.morphnet_optim_wrapper'),
}


def test_every_moved_module_is_in_the_table():
    from nas_det.engine._moved import MOVED
    assert set(MOVED) == set(OLD)


@pytest.mark.parametrize('old', sorted(OLD))
def test_old_module_path_warns_and_re_exports(old):
    name, new = OLD[old]
    full = f'{PKG}.{old}'
    sys.modules.pop(full, None)
    with pytest.warns(DeprecationWarning, match=rf'{re.escape(full)} moved to {re.escape(new)}') \
            as record:
        mod = importlib.import_module(full)
    # the warning points at the import statement, not at the import machinery
    assert any(w.filename == __file__ for w in record), [w.filename for w in record]
    assert getattr(mod, name) is getattr(importlib.import_module(new), name)
    with pytest.raises(AttributeError):
        mod.no_such_name


def test_old_paths_in_docs_and_private_names():
    """The README's example import, ``from nas_det.engine import <old>``, a private name
    and the old morphnet module's three new homes."""
    for m in ('nas_det.engine.driver', 'nas_det.engine.morphnet', 'nas_det.engine.search_loop'):
        sys.modules.pop(m, None)
    with pytest.warns(DeprecationWarning, match='nas_det.strategies.driver'):
        from nas_det.engine.driver import SearchDriver
    from nas_det.strategies.driver import SearchDriver as new
    assert SearchDriver is new
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        from nas_det.engine import morphnet, search_loop
    from nas_det.engine.export import morphnet as exp
    from nas_det.engine.visualization import plot_morphnet
    assert morphnet.morphnet_export is exp.morphnet_export
    assert morphnet.plot_morphnet is plot_morphnet
    assert morphnet._total_flops is exp._total_flops  # private names are found too
    with pytest.warns(DeprecationWarning, match='SearchCostModel'):
        assert search_loop.CostModel is search_loop.SearchCostModel
    # the packages at the old module paths export the old public names
    from nas_det.engine.evaluators import (SupernetEvaluator, bn_recalibration,  # noqa: F401
                                           local_metrics, recalibrate_bn, reward_from_metrics)
    from nas_det.engine.hooks import (SamplingRecipe, UniformSamplingHook,  # noqa: F401
                                      inherit_choice_weights, searchable_modules)
    from nas_det.engine.launch import cli, load_config, main, one_line_errors  # noqa: F401


def test_registered_names_unchanged():
    import nas_det  # noqa: F401
    from mmengine.registry import (HOOKS, LOOPS, OPTIM_WRAPPER_CONSTRUCTORS,
                                   OPTIM_WRAPPERS)
    from nas_det.engine.evaluators import EVALUATORS
    from nas_det.engine.launch.phases import PHASES
    assert sorted(PHASES) == ['cell_export', 'export', 'export_genotype', 'morphnet', 'search',
                              'split', 'train']
    assert sorted(EVALUATORS) == ['ProxyTrainEvaluator', 'SupernetEvaluator']
    for registry, name in ((HOOKS, 'UniformSamplingHook'), (HOOKS, 'DropPathScheduleHook'),
                           (LOOPS, 'SearchLoop'), (OPTIM_WRAPPERS, 'MorphNetOptimWrapper'),
                           (OPTIM_WRAPPER_CONSTRUCTORS, 'MorphNetOptimWrapperConstructor')):
        assert registry.get(name) is not None, name
