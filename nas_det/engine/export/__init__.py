"""Export: a searched genotype into a config that trains the fixed network.

One implementation (:mod:`.core`: templates, the dotted slot, the dropped keys and the
``load_from`` rule, optional width fitting, the safe write that parses the file back and
builds its model, an optional drawing) behind thin adapters, one per family:

=====================  ====================  =================================================
adapter                phase                 what it writes
=====================  ====================  =================================================
:mod:`.subnet`         ``export``            DetNAS path: the search config, its supernet
                                             replaced by the fixed subnet (+ sliced weights)
:mod:`.template`       ``export_genotype``   NAS-FPN pyramid (any genotype) into one template
:mod:`.cells`          ``cell_export``       a cell genotype into several templates, widths
                                             fitted, cells drawn
:mod:`.widths`                               MorphNet widths: a ``WidthResNet`` config
:mod:`.morphnet`       ``morphnet``          a model trained with MorphNet's regularizer,
                                             shrunk and expanded to a budget, through
                                             :mod:`.widths` (+ sliced weights)
=====================  ====================  =================================================

The phase functions are registered as phases by :mod:`nas_det.engine.launch.phases`.
"""
from .core import (DROP_KEYS, build_on_meta, check_config_keys, config_dict, draw,
                   dump_config, fill, fit_widths, read_genotype, resolve_template,
                   save_genotype, set_key, slot, write)
from .cells import cell_export_phase, export_cell_configs
from .subnet import export_config, export_phase, slice_checkpoint
from .template import export_genotype, export_genotype_phase
from .widths import backbone_cfg_for, model_cfg_for, plain_optim_wrapper, write_widths_config
from .morphnet import morphnet_export, morphnet_phase

SEARCH_ONLY_KEYS = DROP_KEYS
"""The old name of :data:`DROP_KEYS`."""

__all__ = ['DROP_KEYS', 'SEARCH_ONLY_KEYS', 'backbone_cfg_for', 'build_on_meta',
           'cell_export_phase', 'check_config_keys', 'config_dict', 'draw', 'dump_config',
           'export_cell_configs', 'export_config', 'export_genotype', 'export_genotype_phase',
           'export_phase', 'fill', 'fit_widths', 'model_cfg_for', 'morphnet_export',
           'morphnet_phase', 'plain_optim_wrapper', 'read_genotype', 'resolve_template',
           'save_genotype', 'set_key', 'slice_checkpoint', 'slot', 'write', 'write_widths_config']
