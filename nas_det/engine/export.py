"""Export a searched genotype as a ready-to-train config (and an initial checkpoint).

The exported config is the search config with the searchable module (the supernet
backbone) replaced by its fixed counterpart built from the genotype, the search-only
parts removed (phases, sampling hook), and ``load_from`` set to a checkpoint sliced from
the supernet when asked. It runs with ``tools/search.py`` and with mmdet's own
``tools/train.py``.
"""
from __future__ import annotations

import copy
import os
import os.path as osp

from ..space.loading import genotype_dict
from .phases import PhaseContext, register_phase

SEARCH_ONLY_KEYS = ('phases', 'export', 'work_dir', 'launcher', 'resume', 'load_from')


def _get(d, dotted):
    for part in dotted.split('.'):
        if not isinstance(d, dict) or part not in d:
            raise ValueError(f'export.module: the config has no {dotted!r}')
        d = d[part]
    return d


def _set(d, dotted, value):
    parts = dotted.split('.')
    for part in parts[:-1]:
        d = d[part]
    d[parts[-1]] = value


def read_genotype(genotype, kind: str | None = None) -> dict:
    """The canonical genotype dict of a ``best_genotype.json``, a genotype dict or object.

    The genotype is rebuilt through its space (:func:`nas_det.space.loading.genotype_dict`):
    the returned dict is made by the genotype object, so nothing of the input but
    validated values reaches a written config; an unknown key is refused.
    """
    return genotype_dict(genotype, kind)


def check_config_keys(data, path: str = '') -> None:
    """Refuse a dict key that ``Config.dump`` could not write as a plain string literal.

    mmengine writes dict keys between quotes without escaping them (values go through
    ``repr``), so a key holding a quote, a backslash or a control character would become
    code in the written file.
    """
    if isinstance(data, dict):
        for k, v in data.items():
            key = f'{path}.{k}' if path else str(k)
            plain = (isinstance(k, str) and k.isprintable() and not any(c in k for c in '\'"\\')) \
                or (k is None or isinstance(k, (bool, int, float)))
            if not plain:
                raise ValueError(f'{path or "config"}: the key {k!r} cannot be written into a '
                                 'config file (quotes, backslashes and control characters are '
                                 'refused)')
            check_config_keys(v, key)
    elif isinstance(data, (list, tuple)):
        for i, v in enumerate(data):
            check_config_keys(v, f'{path}[{i}]')


def dump_config(data: dict, path: str):
    """Write ``data`` as a config file (after :func:`check_config_keys`) and parse it back.

    Returns:
        Config: the written file, parsed.
    """
    from mmengine.config import Config
    check_config_keys(data)
    Config(data).dump(path)
    return Config.fromfile(path)


def slice_checkpoint(checkpoint: str, module_cfg: dict, module: str, out: str) -> dict:
    """Keep, from a supernet checkpoint, every weight outside ``module`` and those of the
    fixed module (a subset of the supernet's keys, by name). Returns counts."""
    import torch
    from mmengine.registry import MODELS

    from .checkpoint import safe_load
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
                  checkpoint: str | None = None, out_dir: str = '.', name: str = 'subnet') -> dict:
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
    """
    g = read_genotype(genotype)
    data = copy.deepcopy(cfg._cfg_dict.to_dict())
    mod_cfg = copy.deepcopy(_get(data['model'], module))
    st = mod_cfg.get('type', '')
    subnet_type = subnet_type or (st.replace('Supernet', 'Subnet') if 'Supernet' in st else None)
    if not subnet_type:
        raise ValueError(f'export.subnet_type: model.{module} is {st!r}; name the fixed type to '
                         'export to')
    mod_cfg['type'] = subnet_type
    mod_cfg['genotype'] = g
    mod_cfg.pop('init_cfg', None)
    _set(data['model'], module, mod_cfg)
    for k in SEARCH_ONLY_KEYS:
        data.pop(k, None)
    data['custom_hooks'] = [h for h in data.get('custom_hooks', [])
                            if h.get('type') != 'UniformSamplingHook']
    os.makedirs(out_dir, exist_ok=True)
    out = {'config': osp.join(out_dir, f'{name}.py')}
    if checkpoint:
        init = osp.join(out_dir, f'{name}_init.pth')
        out.update(slice_checkpoint(checkpoint, mod_cfg, module, init))
        data['load_from'] = osp.abspath(init)
        out['checkpoint'] = init
    dump_config(data, out['config'])
    return out


@register_phase('export')
def export_phase(cfg, ctx: PhaseContext) -> dict:
    """Export the search phase's best genotype (or ``export.genotype``) as a config.

    Config keys under ``export``: ``module``, ``subnet_type``, ``genotype``,
    ``init_from_supernet`` (default True), ``name``.
    """
    exp = dict(cfg.get('export') or {})
    search = ctx.outputs.get('search', {})
    genotype = exp.get('genotype') or search.get('best_genotype')
    if not genotype:
        raise ValueError("phase 'export': no genotype: run a search phase first or set "
                         'export.genotype to a best_genotype.json')
    ckpt = None
    if exp.get('init_from_supernet', True):
        ckpt = exp.get('checkpoint') or search.get('supernet_checkpoint')
    return export_config(cfg, genotype, module=exp.get('module', 'backbone'),
                         subnet_type=exp.get('subnet_type'), checkpoint=ckpt,
                         out_dir=cfg.work_dir, name=exp.get('name', 'subnet'))
