"""Deprecated: moved to :mod:`nas_det.engine.export` (:mod:`nas_det.engine.export.template`).

A thin re-export kept for one release; import ``export_genotype`` from
``nas_det.engine.export`` instead.
"""
import warnings

from .export.core import dump_config, read_genotype  # noqa: F401
from .export.template import export_genotype, export_genotype_phase  # noqa: F401

warnings.warn('nas_det.engine.export_genotype moved to nas_det.engine.export; import '
              'export_genotype from there', DeprecationWarning, stacklevel=2)

__all__ = ['export_genotype', 'export_genotype_phase']
