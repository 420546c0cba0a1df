"""Deprecated: moved to :mod:`nas_det.engine.export` (:mod:`nas_det.engine.export.cells`).

A thin re-export kept for one release; import ``export_cell_configs``, ``fit_widths`` and
``resolve_template`` from ``nas_det.engine.export`` instead.
"""
import warnings

from .export.cells import cell_export_phase, export_cell_configs  # noqa: F401
from .export.core import REPO_ROOT, dump_config, fit_widths, read_genotype  # noqa: F401
from .export.core import DROP_KEYS, resolve_template  # noqa: F401

warnings.warn('nas_det.engine.cell_export moved to nas_det.engine.export; import '
              'export_cell_configs from there', DeprecationWarning, stacklevel=2)

__all__ = ['export_cell_configs', 'fit_widths', 'resolve_template', 'cell_export_phase']
