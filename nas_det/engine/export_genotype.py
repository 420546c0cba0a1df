"""Export a searched genotype into a template config (phase ``export_genotype``).

For searches whose candidates are built from a config with a genotype slot (the
proxy-training searches: NAS-FPN pyramids, cells): the template config, typically the
full-size detector or classifier to retrain (e.g. RetinaNet R-50 NAS-FPN on COCO), gets
the best genotype at ``genotype_key`` and is written, fully resolved, as one file that
runs with ``tools/search.py`` and with mmdet's or mmpretrain's own ``tools/train.py``.
Nothing is initialised from the search: the exported network is trained from its
template's initialisation.
"""
from __future__ import annotations

import json
import os
import os.path as osp

from .export import dump_config, read_genotype
from .phases import PhaseContext, register_phase

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _resolve(path: str) -> str:
    for p in (path, osp.join(ROOT, path)):
        if osp.isfile(p):
            return p
    raise FileNotFoundError(f'export.template: config {path} does not exist (relative paths '
                            f'are read from the working directory or {ROOT})')


def export_genotype(template: str, genotype, genotype_key: str = 'model.neck.genotype',
                    out_dir: str = '.', name: str = 'searched', check: bool = True) -> dict:
    """Write ``<out_dir>/<name>.py``: ``template`` with ``genotype`` at ``genotype_key``.

    Args:
        template (str): config file to fill.
        genotype (str | dict): a ``best_genotype.json`` path or a genotype dict.
        genotype_key (str): dotted key of the slot; its parent must exist in the
            template. Defaults to 'model.neck.genotype'.
        out_dir (str): where to write. Defaults to '.'.
        name (str): file stem. Defaults to 'searched'.
        check (bool): build the module that holds the slot (e.g. the neck) from the
            written config, so a bad genotype fails here. Defaults to True.

    Returns:
        dict: ``config`` (the written file) and ``genotype`` (its JSON copy).
    """
    from mmengine.config import Config
    g = read_genotype(genotype)
    cfg = Config.fromfile(_resolve(template))
    data = cfg._cfg_dict.to_dict()
    parts = genotype_key.split('.')
    node = data
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node, dict) or not isinstance(node.get(part), dict):
            raise ValueError(f'export.genotype_key: {template} has no '
                             f'{".".join(parts[:i + 1])!r} (a dict) to put the genotype in')
        node = node[part]
    node[parts[-1]] = g
    for k in ('work_dir', 'phases', 'export', 'launcher', 'resume'):
        data.pop(k, None)
    os.makedirs(out_dir, exist_ok=True)
    out = {'config': osp.join(out_dir, f'{name}.py'),
           'genotype': osp.join(out_dir, f'{name}_genotype.json')}
    written = dump_config(data, out['config'])
    with open(out['genotype'], 'w') as f:
        json.dump({'genotype': g}, f, indent=2)
    if check and parts[0] == 'model' and len(parts) > 2:
        from mmengine.registry import MODELS, DefaultScope
        mod_cfg = written.model
        for part in parts[1:-1]:
            mod_cfg = mod_cfg[part]
        scope = written.get('default_scope', 'mmdet')
        with DefaultScope.overwrite_default_scope(scope):
            MODELS.build(mod_cfg)
    return out


@register_phase('export_genotype')
def export_genotype_phase(cfg, ctx: PhaseContext) -> dict:
    """Fill ``export.template`` with the search phase's best genotype (or
    ``export.genotype``). Config keys under ``export``: ``template`` (required),
    ``genotype_key`` (default ``'model.neck.genotype'``), ``genotype``, ``name``."""
    exp = dict(cfg.get('export') or {})
    if not exp.get('template'):
        raise ValueError("phase 'export_genotype': export.template (the config to fill with "
                         'the genotype) is missing')
    genotype = exp.get('genotype') or ctx.outputs.get('search', {}).get('best_genotype')
    if not genotype:
        raise ValueError("phase 'export_genotype': no genotype: run a search phase first or "
                         'set export.genotype to a best_genotype.json')
    return export_genotype(exp['template'], genotype,
                           genotype_key=exp.get('genotype_key', 'model.neck.genotype'),
                           out_dir=cfg.work_dir, name=exp.get('name', 'searched'))
