"""A searched cell genotype into several templates, with the widths that follow it and a
drawing, phase ``cell_export``.

A cell search has no supernet (every candidate is a child network trained on its own),
so the best genotype goes into *templates*: ordinary configs of the full network (an
mmpretrain classifier on CIFAR-10 or ImageNet layouts, a RetinaNet whose backbone is the
cell network, ...) that name some published genotype at ``model.backbone.genotype``. Each
template is written out flattened, with the genotype inline and the widths that depend
on it (an FPN's ``in_channels``, a classification head's ``in_channels``) recomputed
from the backbone (:func:`~.core.fit_widths`), then parsed and built again as a check.

The ``cell_export`` phase (``phases = ['search', 'cell_export']``) does this for the
search phase's ``best_genotype.json`` and draws its cells (``best_cells.png``).
"""
from __future__ import annotations

import os
import os.path as osp

from .core import config_dir, draw, fill, phase_genotype, read_genotype, save_genotype, write


def export_cell_configs(genotype, templates: dict, out_dir: str,
                        genotype_key: str = 'model.backbone.genotype',
                        base_dir: str | None = None, check: bool = True) -> dict:
    """Write ``<out_dir>/<name>.py`` for every ``name: template path`` in ``templates``.

    Args:
        genotype (CellGenotype | dict | str): the genotype, its dict, or a
            ``best_genotype.json``.
        templates (dict): output name -> config path.
        out_dir (str): where to write.
        genotype_key (str): where the genotype goes in each config.
            Defaults to 'model.backbone.genotype'.
        base_dir (str, optional): folder against which relative template paths are also
            tried (the search config's).
        check (bool): build every written model on the 'meta' device. Defaults to True.

    Returns:
        dict: ``{name: path}`` of the written configs.
    """
    read_genotype(genotype, 'cells')  # a cell genotype, rebuilt and checked, first
    if not isinstance(templates, dict) or not templates:
        raise ValueError(f'export.templates: a dict name -> config path is expected, got '
                         f'{templates!r}')
    if not isinstance(genotype_key, str) or not genotype_key.startswith('model.'):
        raise ValueError(f'export.genotype_key: a path into model is expected, got '
                         f'{genotype_key!r}')
    os.makedirs(out_dir, exist_ok=True)
    out = {}
    for name, path in templates.items():
        if not isinstance(name, str) or not name.replace('-', '_').replace('.', '_').isidentifier():
            raise ValueError(f'export.templates: {name!r} is not a usable file name')
        field = f'export.templates.{name}'
        data, _ = fill(path, genotype, genotype_key, 'cells', base_dir, field, field)
        dst = osp.join(out_dir, f'{name}.py')
        write(data, dst, fit=True, check=check)
        out[name] = dst
    return out


def cell_export_phase(cfg, ctx) -> dict:
    """Export the search phase's best cell genotype (or ``export.genotype``).

    Config keys under ``export``: ``templates`` (name -> config path), ``genotype``
    (a ``best_genotype.json`` or genotype dict, instead of the search's), ``genotype_key``
    (default ``'model.backbone.genotype'``), ``draw`` (default True: ``best_cells.png``).
    """
    from mmengine.dist import get_rank
    exp = dict(cfg.get('export') or {})
    genotype = phase_genotype(exp, ctx, 'cell_export')
    if 'templates' not in exp:
        raise ValueError("phase 'cell_export': export.templates (name -> config path) is missing")
    if get_rank() != 0:  # one writer; rank 0 records the phase's outputs
        return {}
    out = export_cell_configs(genotype, exp['templates'], cfg.work_dir,
                              exp.get('genotype_key', 'model.backbone.genotype'),
                              config_dir(cfg))
    result = {f'config_{k}': v for k, v in out.items()}
    g = read_genotype(genotype, 'cells')
    dst = osp.join(cfg.work_dir, 'best_genotype.json')
    if not (isinstance(genotype, str) and osp.abspath(genotype) == osp.abspath(dst)):
        save_genotype(g, dst)
    result['best_genotype'] = dst
    if exp.get('draw', True):
        result['cells_png'] = draw(g, osp.join(cfg.work_dir, 'best_cells.png'), 'best cells')
    return result


__all__ = ['export_cell_configs', 'cell_export_phase']
