"""Export a searched cell genotype: configs that train the full network, and a drawing.

:mod:`nas_det.engine.export` replaces a supernet by its fixed subnet; a cell search has no
supernet (every candidate is a child network trained on its own), so here the best
genotype goes into *templates*: ordinary configs of the full network (an mmpretrain
classifier on CIFAR-10 or ImageNet layouts, a RetinaNet whose backbone is the cell
network, ...) that name some published genotype at ``model.backbone.genotype``. Each
template is written out flattened, with the genotype inline and the widths that depend
on it (an FPN's ``in_channels``, a classification head's ``in_channels``) recomputed
from the backbone, then parsed and built again as a check.

The ``cell_export`` phase (``phases = ['search', 'cell_export']``) does this for the
search phase's ``best_genotype.json`` and draws its cells (``best_cells.png``).
"""
from __future__ import annotations

import copy
import json
import os
import os.path as osp

from .export import dump_config, read_genotype
from .phases import PhaseContext, register_phase

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DROP_KEYS = ('phases', 'export', 'work_dir', 'launcher', 'resume', 'load_from')


def resolve_template(path: str, base_dir: str | None = None) -> str:
    """``path`` as given, else relative to ``base_dir`` (the search config's folder), else
    to the repository root."""
    tried = [path]
    if osp.isfile(path):
        return path
    for root in (base_dir, REPO_ROOT):
        if root and not osp.isabs(path):
            cand = osp.join(root, path)
            tried.append(cand)
            if osp.isfile(cand):
                return cand
    raise FileNotFoundError(f'export.templates: config {path!r} not found (tried {tried})')


def _parent(d: dict, dotted: str, field: str):
    parts = dotted.split('.')
    for part in parts[:-1]:
        if not isinstance(d, dict) or part not in d:
            raise ValueError(f'{field}: the config has no {".".join(parts[:-1])!r}')
        d = d[part]
    if not isinstance(d, dict):
        raise ValueError(f'{field}: {".".join(parts[:-1])!r} is not a dict')
    return d, parts[-1]


def _build_on_meta(module_cfg: dict, scope: str | None):
    """Build a module config without allocating weights (the 'meta' device)."""
    import torch
    from mmengine.registry import MODELS, DefaultScope
    import nas_det.models  # noqa: F401
    for mod in ('mmdet.registry', 'mmpretrain.registry'):
        try:
            __import__(mod)
        except ImportError:
            pass
    with DefaultScope.overwrite_default_scope(scope), torch.device('meta'):
        return MODELS.build(copy.deepcopy(module_cfg))


def fit_widths(model_cfg: dict, scope: str | None = None) -> dict:
    """Recompute, in place, the widths that follow the backbone: ``neck.in_channels`` (a
    list, e.g. FPN) and, for a ``CellClsHead`` without a neck, ``head.in_channels`` and
    ``head.aux_in_channels`` (unless they are left to a ``CellImageClassifier``).
    Returns ``{key: value}`` of what was set."""
    backbone = _build_on_meta(model_cfg['backbone'], scope)
    chans = [int(c) for c in backbone.out_channels]
    changed = {}
    neck = model_cfg.get('neck')
    if isinstance(neck, dict) and isinstance(neck.get('in_channels'), (list, tuple)):
        neck['in_channels'] = chans
        changed['model.neck.in_channels'] = chans
    head = model_cfg.get('head')
    if neck is None and isinstance(head, dict) and head.get('type') == 'CellClsHead':
        if head.get('in_channels') is not None:
            head['in_channels'] = chans[-1]
            changed['model.head.in_channels'] = chans[-1]
        aux = head.get('aux_in_channels')
        if aux is not None and aux != 'auto':
            if len(chans) < 2:
                raise ValueError('model.head.aux_in_channels: the backbone has one output')
            head['aux_in_channels'] = chans[-2]
            changed['model.head.aux_in_channels'] = chans[-2]
    return changed


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
    from mmengine.config import Config

    g = read_genotype(genotype, 'cells')  # a cell genotype, rebuilt and checked
    if not isinstance(templates, dict) or not templates:
        raise ValueError(f'export.templates: a dict name -> config path is expected, got '
                         f'{templates!r}')
    os.makedirs(out_dir, exist_ok=True)
    out = {}
    for name, path in templates.items():
        if not isinstance(name, str) or not name.replace('-', '_').replace('.', '_').isidentifier():
            raise ValueError(f'export.templates: {name!r} is not a usable file name')
        src = resolve_template(path, base_dir)
        data = Config.fromfile(src)._cfg_dict.to_dict()
        if not genotype_key.startswith('model.'):
            raise ValueError(f'export.genotype_key: a path into model is expected, got '
                             f'{genotype_key!r}')
        parent, slot = _parent(data, genotype_key, f'export.templates.{name}')
        parent[slot] = copy.deepcopy(g)
        for k in DROP_KEYS:
            data.pop(k, None)
        fit_widths(data['model'], data.get('default_scope'))
        dst = osp.join(out_dir, f'{name}.py')
        cfg = dump_config(data, dst)
        if check:
            _build_on_meta(cfg.model, cfg.get('default_scope'))
        out[name] = dst
    return out


@register_phase('cell_export')
def cell_export_phase(cfg, ctx: PhaseContext) -> dict:
    """Export the search phase's best cell genotype (or ``export.genotype``).

    Config keys under ``export``: ``templates`` (name -> config path), ``genotype``
    (a ``best_genotype.json`` or genotype dict, instead of the search's), ``genotype_key``
    (default ``'model.backbone.genotype'``), ``draw`` (default True: ``best_cells.png``).
    """
    from mmengine.dist import get_rank

    from .cell_plots import plot_cells
    exp = dict(cfg.get('export') or {})
    genotype = exp.get('genotype') or ctx.outputs.get('search', {}).get('best_genotype')
    if not genotype:
        raise ValueError("phase 'cell_export': no genotype: run a search phase first or set "
                         'export.genotype to a best_genotype.json')
    if 'templates' not in exp:
        raise ValueError("phase 'cell_export': export.templates (name -> config path) is missing")
    if get_rank() != 0:  # one writer; rank 0 records the phase's outputs
        return {}
    base_dir = osp.dirname(cfg.filename) if getattr(cfg, 'filename', None) else None
    out = export_cell_configs(genotype, exp['templates'], cfg.work_dir,
                              exp.get('genotype_key', 'model.backbone.genotype'), base_dir)
    result = {f'config_{k}': v for k, v in out.items()}
    g = read_genotype(genotype, 'cells')
    dst = osp.join(cfg.work_dir, 'best_genotype.json')
    if not (isinstance(genotype, str) and osp.abspath(genotype) == osp.abspath(dst)):
        with open(dst, 'w') as f:  # the canonical form, never the input's bytes
            json.dump({'genotype': g}, f, indent=2)
    result['best_genotype'] = dst
    if exp.get('draw', True):
        from ..space.cells import CellGenotype
        result['cells_png'] = plot_cells(CellGenotype.from_dict(g),
                                         osp.join(cfg.work_dir, 'best_cells.png'),
                                         title='best cells')
    return result


__all__ = ['export_cell_configs', 'fit_widths', 'resolve_template', 'cell_export_phase']
