"""MorphNet widths: a training config with its ResNet backbone replaced by a
``WidthResNet`` of given widths, the neck / head input widths to match and a plain
optimizer wrapper (the regularizer's wrapper is for the search run only).

Used by :func:`nas_det.engine.export.morphnet.morphnet_export` (phase ``morphnet``) for its
shrunk, expanded and uniform networks; the file goes through :func:`~.core.write`
(dropped keys, the ``load_from`` rule: the shrunk network names its sliced weights, the
others retrain from scratch; the key check; parse back; build on 'meta').
"""
from __future__ import annotations

import copy

from ...space.loading import load_genotype
from .core import config_dict, write


def backbone_cfg_for(src: dict, depth: int, widths) -> dict:
    """A ``WidthResNet`` config with ``widths`` as data and ``src``'s other settings."""
    keep = ('in_channels', 'strides', 'out_indices', 'frozen_stages', 'conv_cfg', 'norm_cfg',
            'norm_eval', 'zero_init_residual', 'stem')
    out = dict(type='WidthResNet', depth=depth,
               widths=[[n, int(w)] for n, w in widths.groups], init_cfg=None)
    for k in keep:
        if k in src:
            out[k] = copy.deepcopy(src[k])
    return out


def model_cfg_for(model_cfg: dict, depth: int, widths) -> dict:
    """The model config with a ``WidthResNet`` backbone of ``widths`` and the neck /
    head input widths to match."""
    cfg = copy.deepcopy(model_cfg)
    bb = backbone_cfg_for(cfg['backbone'], depth, widths)
    cfg['backbone'] = bb
    outs = bb.get('out_indices', (0, 1, 2, 3))
    stage_w = [widths[f'stage{i + 1}'] for i in outs]
    neck = cfg.get('neck')
    if isinstance(neck, dict) and 'in_channels' in neck:
        neck['in_channels'] = stage_w if isinstance(neck['in_channels'], (list, tuple)) \
            else stage_w[-1]
    head = cfg.get('head')
    if isinstance(head, dict) and 'in_channels' in head:
        head['in_channels'] = stage_w[-1]
    return cfg


def plain_optim_wrapper(ow: dict) -> dict:
    """The optimizer wrapper without MorphNet's regularizer (a plain ``OptimWrapper``)."""
    ow = copy.deepcopy(dict(ow))
    ow.pop('constructor', None)
    ow.pop('morphnet', None)
    if ow.get('type') == 'MorphNetOptimWrapper':
        ow['type'] = 'OptimWrapper'
    return ow


def write_widths_config(cfg, depth: int, widths, path: str, load_from: str | None = None,
                        check: bool = True):
    """Write ``path``: ``cfg`` with a ``WidthResNet`` of ``widths`` (rebuilt through
    :func:`~nas_det.space.loading.load_genotype`) and a plain optimizer wrapper.

    Args:
        cfg (Config | dict): the training config.
        depth (int): the ResNet depth.
        widths (Widths | dict): the widths.
        path (str): the file to write.
        load_from (str, optional): the checkpoint the export wrote for this network.
            Defaults to None.
        check (bool): build the written model on the 'meta' device. Defaults to True.

    Returns:
        Config: the written file, parsed.
    """
    widths = load_genotype(widths.to_dict() if hasattr(widths, 'to_dict') else widths,
                           'widths')
    data = config_dict(cfg)
    data['model'] = model_cfg_for(data['model'], depth, widths)
    if 'optim_wrapper' in data:
        data['optim_wrapper'] = plain_optim_wrapper(data['optim_wrapper'])
    return write(data, path, load_from=load_from, check=check)


__all__ = ['backbone_cfg_for', 'model_cfg_for', 'plain_optim_wrapper', 'write_widths_config']
