"""The module paths of ``nas_det.engine`` from before it was grouped by role.

``import nas_det.engine.<old>`` (or ``from nas_det.engine import <old>``) still works, with
a ``DeprecationWarning`` naming the new module(s): the old path is a thin re-export, made
from :data:`MOVED` when it is first imported (a finder on ``sys.meta_path``, installed by
``import nas_det.engine``), so no stub files are left among the role folders. Its names
are those of the new module(s); any other name is looked up there as well.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

PACKAGE = 'nas_det.engine'

MOVED = {
    'cell_export': ('nas_det.engine.export.cells', 'nas_det.engine.export.core'),
    'cell_hooks': ('nas_det.engine.hooks.drop_path_schedule_hook', ),
    'cell_plots': ('nas_det.engine.visualization.cell_plots', ),
    'checkpoint': ('nas_det.engine.runner.checkpoint', ),
    'checks': ('nas_det.engine.launch.checks', ),
    'config_moves': ('nas_det.utils.config_moves', ),
    'dist': ('nas_det.engine.launch.dist', ),
    'driver': ('nas_det.strategies.driver', ),
    'export_genotype': ('nas_det.engine.export.template', 'nas_det.engine.export.core'),
    'morphnet': ('nas_det.engine.optimizers.morphnet_optim_wrapper',
                 'nas_det.engine.export.morphnet', 'nas_det.engine.visualization.morphnet_plots'),
    'offline': ('nas_det.engine.launch.offline', ),
    'pareto': ('nas_det.engine.visualization.pareto', ),
    'phases': ('nas_det.engine.launch.phases', ),
    'plots': ('nas_det.engine.visualization.plots', ),
    'proxy': ('nas_det.engine.evaluators.proxy', ),
    'search_loop': ('nas_det.engine.runner.search_loop', ),
    'search_scalars': ('nas_det.engine.visualization.search_scalars', ),
    'split_phase': ('nas_det.engine.launch.split_phase', ),
}
"""``{old module under nas_det.engine: the module(s) that hold its names now}``. The old
``hooks``, ``evaluators`` and ``launch`` modules are packages of the same name now, which
export the same public names."""


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the import statement that asked for the
    old path, past this file and ``importlib.import_module`` (``warnings.warn`` skips the
    frames of ``importlib._bootstrap`` by itself)."""
    machinery = (__file__, importlib.__file__)
    level, frame = 1, sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        if 'importlib' in name and '_bootstrap' in name:
            pass  # not counted by warnings.warn
        elif name in machinery:
            level += 1
        else:
            return level
        frame = frame.f_back
    return level


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``nas_det.engine.<old>`` for an ``<old>`` of :data:`MOVED` and loads it as a
    re-export of its new module(s)."""

    def find_spec(self, fullname, path=None, target=None):
        parent, _, name = fullname.rpartition('.')
        if parent != PACKAGE or name not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return None  # a plain new module

    def exec_module(self, module) -> None:
        new = MOVED[module.__name__.rpartition('.')[2]]
        warnings.warn(f'{module.__name__} moved to {" and ".join(new)}; import it from there',
                      DeprecationWarning, stacklevel=_caller_stacklevel())
        targets = [importlib.import_module(n) for n in new]
        for t in reversed(targets):  # the first module's names win
            names = getattr(t, '__all__', None) or [n for n in vars(t) if not n.startswith('_')]
            module.__dict__.update((n, getattr(t, n)) for n in names)
        module.__doc__ = f'Deprecated: moved to {" and ".join(new)} (a re-export).'
        module.__all__ = sorted({n for t in targets
                                 for n in (getattr(t, '__all__', None)
                                           or [n for n in vars(t) if not n.startswith('_')])})

        def __getattr__(name):
            if name.startswith('__') and name.endswith('__'):
                raise AttributeError(name)
            for t in targets:
                try:
                    return getattr(t, name)
                except AttributeError:
                    pass
            raise AttributeError(f'module {module.__name__!r} has no attribute {name!r}')
        module.__getattr__ = __getattr__


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
