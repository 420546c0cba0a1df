"""DetNAS path (any supernet): the search config with its supernet replaced by the fixed
subnet of the genotype, phase ``export``.

The exported config is the search config with the searchable module (the supernet
backbone) replaced by its fixed counterpart built from the genotype, the search-only parts
removed (the ``DROP_KEYS`` of :mod:`.core`, the sampling hook), and ``load_from`` set to a
checkpoint sliced from the supernet when asked. It runs with ``tools/search.py`` and with
mmdet's own ``tools/train.py``.
"""
from __future__ import annotations

import copy
import os
import os.path as osp

from .core import draw, fill, phase_genotype, read_genotype, slot, write

SUPERNET_ONLY_HOOKS = ('UniformSamplingHook', )


def slice_checkpoint(checkpoint: str, module_cfg: dict, module: str, out: str) -> dict:
    """Keep, from a supernet checkpoint, every weight outside ``module`` and those of the
    fixed module (a subset of the supernet's keys, by name). Returns counts."""
    import torch
    from mmengine.registry import MODELS

    from ..runner.checkpoint import safe_load
    import nas_det.models  # noqa: F401
    ckpt = safe_load(checkpoint, map_location='cpu')
    sd = ckpt.get('state_dict', ckpt)
    sub = MODELS.build(copy.deepcopy(module_cfg))
    prefix = module + '.'
    want = {prefix + k for k in sub.state_dict()}
    missing = sorted(want - set(sd))
    if missing:
        raise ValueError(f'{checkpoint}: lacks {len(missing)} weights of the exported '
                         f'{module} (e.g. {missing[:3]}); is it a checkpoint of this supernet?')
    kept = {k: v for k, v in sd.items() if not k.startswith(prefix) or k in want}
    torch.save({'state_dict': kept, 'meta': {'sliced_from': osp.abspath(checkpoint)}}, out)
    return {'kept': len(kept), 'dropped': len(sd) - len(kept)}


def export_config(cfg, genotype, module: str = 'backbone', subnet_type: str | None = None,
                  checkpoint: str | None = None, out_dir: str = '.', name: str = 'subnet',
                  check: bool = True) -> dict:
    """Write ``<out_dir>/<name>.py`` (and ``<name>_init.pth`` when ``checkpoint``).

    Args:
        cfg (Config): the (search) config.
        genotype (str | dict): ``best_genotype.json`` path or genotype dict.
        module (str): dotted path of the searchable module in ``cfg.model``.
            Defaults to 'backbone'.
        subnet_type (str, optional): registered type of the fixed module. Defaults to the
            supernet type with ``Supernet`` replaced by ``Subnet``.
        checkpoint (str, optional): supernet checkpoint to initialise from.
        out_dir (str): where to write. Defaults to '.'.
        name (str): file stem. Defaults to 'subnet'.
        check (bool): build the written model on the 'meta' device. Defaults to True.
    """
    data, _ = fill(cfg, genotype, f'model.{module}.genotype', field='export.module')
    mod_cfg = slot(data, f'model.{module}.genotype', 'export.module')[0]
    st = mod_cfg.get('type', '')
    subnet_type = subnet_type or (st.replace('Supernet', 'Subnet') if 'Supernet' in st else None)
    if not subnet_type:
        raise ValueError(f'export.subnet_type: model.{module} is {st!r}; name the fixed type to '
                         'export to')
    mod_cfg['type'] = subnet_type
    mod_cfg.pop('init_cfg', None)
    data['custom_hooks'] = [h for h in data.get('custom_hooks', [])
                            if h.get('type') not in SUPERNET_ONLY_HOOKS]
    out = {'config': osp.join(out_dir, f'{name}.py')}
    init = None
    if checkpoint:
        os.makedirs(out_dir, exist_ok=True)
        init = osp.join(out_dir, f'{name}_init.pth')
        out.update(slice_checkpoint(checkpoint, mod_cfg, module, init))
        out['checkpoint'] = init
    write(data, out['config'], load_from=init, check=check)
    return out


def export_phase(cfg, ctx) -> dict:
    """Export the search phase's best genotype (or ``export.genotype``) as a config.

    Config keys under ``export``: ``module``, ``subnet_type``, ``genotype``,
    ``init_from_supernet`` (default True), ``checkpoint``, ``name``, ``draw`` (default
    False: ``<name>.png`` for the kinds that have a diagram).
    """
    exp = dict(cfg.get('export') or {})
    search = ctx.outputs.get('search', {})
    genotype = phase_genotype(exp, ctx, 'export')
    ckpt = None
    if exp.get('init_from_supernet', True):
        ckpt = exp.get('checkpoint') or search.get('supernet_checkpoint')
    name = exp.get('name', 'subnet')
    out = export_config(cfg, genotype, module=exp.get('module', 'backbone'),
                        subnet_type=exp.get('subnet_type'), checkpoint=ckpt,
                        out_dir=cfg.work_dir, name=name)
    if exp.get('draw', False):
        png = draw(read_genotype(genotype), osp.join(cfg.work_dir, f'{name}.png'), name)
        if png:
            out['png'] = png
    return out


__all__ = ['export_config', 'export_phase', 'slice_checkpoint', 'SUPERNET_ONLY_HOOKS']
