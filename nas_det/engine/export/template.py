"""A NAS-FPN pyramid (or any genotype) into one template config, phase
``export_genotype``.

For searches whose candidates are built from a config with a genotype slot (the
proxy-training searches: NAS-FPN pyramids, cells): the template config, typically the
full-size detector or classifier to retrain (e.g. RetinaNet R-50 NAS-FPN on COCO), gets
the best genotype at ``genotype_key`` and is written, fully resolved, as one file that
runs with ``tools/search.py`` and with mmdet's or mmpretrain's own ``tools/train.py``.
Nothing is initialised from the search: the exported network is trained from its
template's initialisation (``load_from = None``, see :mod:`.core`).
"""
from __future__ import annotations

import os.path as osp

from .core import config_dir, draw, fill, phase_genotype, save_genotype, write


def export_genotype(template: str, genotype, genotype_key: str = 'model.neck.genotype',
                    out_dir: str = '.', name: str = 'searched', check: bool = True,
                    base_dir: str | None = None, draw_png: bool = False) -> dict:
    """Write ``<out_dir>/<name>.py``: ``template`` with ``genotype`` at ``genotype_key``.

    Args:
        template (str): config file to fill (as given, else beside ``base_dir``, else in
            the repository).
        genotype (str | dict): a ``best_genotype.json`` path or a genotype dict.
        genotype_key (str): dotted key of the slot; its parent must exist in the
            template. Defaults to 'model.neck.genotype'.
        out_dir (str): where to write. Defaults to '.'.
        name (str): file stem. Defaults to 'searched'.
        check (bool): build the written model on the 'meta' device, so a bad genotype
            fails here. Defaults to True.
        base_dir (str, optional): the search config's folder. Defaults to None.
        draw_png (bool): also draw the genotype (``<name>.png``) when its kind has a
            diagram. Defaults to False.

    Returns:
        dict: ``config`` (the written file), ``genotype`` (its JSON copy) and ``png``
        when drawn.
    """
    data, g = fill(template, genotype, genotype_key, base_dir=base_dir)
    out = {'config': osp.join(out_dir, f'{name}.py'),
           'genotype': osp.join(out_dir, f'{name}_genotype.json')}
    write(data, out['config'], check=check)
    save_genotype(g, out['genotype'])
    if draw_png:
        png = draw(g, osp.join(out_dir, f'{name}.png'), name)
        if png:
            out['png'] = png
    return out


def export_genotype_phase(cfg, ctx) -> dict:
    """Fill ``export.template`` with the search phase's best genotype (or
    ``export.genotype``). Config keys under ``export``: ``template`` (required),
    ``genotype_key`` (default ``'model.neck.genotype'``), ``genotype``, ``name``,
    ``draw`` (default False)."""
    exp = dict(cfg.get('export') or {})
    if not exp.get('template'):
        raise ValueError("phase 'export_genotype': export.template (the config to fill with "
                         'the genotype) is missing')
    genotype = phase_genotype(exp, ctx, 'export_genotype')
    return export_genotype(exp['template'], genotype,
                           genotype_key=exp.get('genotype_key', 'model.neck.genotype'),
                           out_dir=cfg.work_dir, name=exp.get('name', 'searched'),
                           base_dir=config_dir(cfg), draw_png=exp.get('draw', False))


__all__ = ['export_genotype', 'export_genotype_phase']
