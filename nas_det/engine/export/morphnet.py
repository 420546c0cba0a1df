"""MorphNet export: shrink a trained model to the channels its regularizer kept, expand it
to a cost budget, and export both networks (a ``WidthResNet`` config with the widths as data,
:mod:`.widths`, plus a sliced checkpoint); the ``morphnet`` phase of ``tools/search.py``."""
from __future__ import annotations

import copy
import json
import os
import os.path as osp

import torch
from mmengine.model import is_model_wrapper

from ...models.morphnet import (CostModel, channel_order, expand, group_names,
                                groups_from_widths, resnet_group_names, shrink,
                                trace_channels, transfer_state_dict, widths_from_groups)
from ...models.width_resnet import resnet_branches, resnet_widths
from ...space.base import bad_value
from ..optimizers.morphnet_optim_wrapper import SCOPES, build_regularizer, check_settings
from ..visualization.morphnet_plots import plot_morphnet
from .widths import model_cfg_for, write_widths_config  # noqa: F401


def total_cost(model, cost: str, input_shape) -> float:
    """FLOPs (``FlopAnalyzer``, conv + linear) or parameters of a whole detector or
    classifier for one image."""
    if cost == 'params':
        return float(sum(p.numel() for p in model.parameters()))
    was_training = model.training
    try:
        return _total_flops(model, input_shape)
    finally:
        model.train(was_training)


def _total_flops(model, input_shape) -> float:
    from ...models.flops import detector_flops, model_flops
    if hasattr(model, 'bbox_head') or hasattr(model, 'rpn_head'):
        return float(detector_flops(model, input_shape)['flops'])
    p = next(model.parameters())
    x = torch.zeros(1, *input_shape, dtype=p.dtype, device=p.device)

    class _Tensor(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(x, mode='tensor')
    return float(model_flops(_Tensor(model), x)['flops'])


def save_plain(obj, path: str) -> None:
    """``torch.save`` of plain data (loads with ``weights_only=True``), atomically."""
    from ..runner.checkpoint import to_plain
    tmp = path + '.tmp'
    torch.save(to_plain(obj), tmp)
    os.replace(tmp, path)


def history_from_checkpoint(ckpt: dict) -> dict:
    """``{name: list}`` of the per-iteration ``train/loss`` and ``train/morphnet_*``
    scalars stored in a checkpoint's message hub (empty when absent)."""
    scalars = (ckpt.get('message_hub') or {}).get('log_scalars', {}) if isinstance(ckpt, dict) \
        else {}
    out = {}
    for key, buf in scalars.items():
        if key == 'train/loss' or key.startswith('train/morphnet_'):
            logs = buf.data[0] if hasattr(buf, 'data') else buf
            out[key.split('/', 1)[1]] = [float(v) for v in logs]
    return out


def morphnet_export(cfg, model, out_dir: str, settings: dict | None = None,
                    budget: float | None = None, budget_ratio: float = 1.0,
                    budget_scope: str = 'backbone', divisor: int = 8, mode: str = 'under',
                    history: dict | None = None, min_width: int = 1) -> dict:
    """Shrink a trained model with a ResNet backbone, expand it to a budget and export
    both networks (config with the widths as data + sliced checkpoint).

    A block whose inner layer the threshold empties loses its residual branch (its mid
    widths are 0 in the exported genotypes, listed in the summary's ``removed_blocks``;
    the exported ``WidthResNet`` skips it); any other layer keeps at least
    ``min_width`` channels (see :func:`~nas_det.models.morphnet.shrink`).

    Args:
        cfg (Config): the training config (its model, data and schedule are reused).
        model (nn.Module): the trained model (weights loaded).
        out_dir (str): where ``shrunk/``, ``expanded/`` and ``uniform/`` (each
            ``config.py``, ``model.pth``, ``widths.json``), ``morphnet_summary.json`` and
            ``morphnet.png`` go. ``uniform`` is the paper's baseline: the original widths
            times one multiplier, at the expanded network's cost.
        settings (dict, optional): as the optimizer wrapper's ``morphnet`` (input shape,
            cost, threshold). Defaults to None.
        budget (float, optional): the cost to expand to; None: ``budget_ratio`` times the
            original's cost in ``budget_scope``. Defaults to None.
        budget_ratio (float): see ``budget``. Defaults to 1.0.
        budget_scope (str): ``'backbone'`` or ``'detector'`` (the whole model: neck and
            head count, their constant part measured once with ``FlopAnalyzer``).
            Defaults to ``'backbone'``.
        divisor (int): expanded widths are multiples of it. Defaults to 8.
        mode (str): ``'under'`` (the expanded cost never exceeds the budget) or
            ``'nearest'`` (closest, above or below). Defaults to ``'under'``.
        history (dict, optional): per-iteration scalars for the plot. Defaults to None.
        min_width (int): the fewest channels a layer outside a residual branch keeps;
            0: such a layer emptied is an error (no valid network). Defaults to 1.

    Returns:
        dict: the summary (also written to ``morphnet_summary.json``).
    """
    from mmengine.registry import MODELS
    if budget_scope not in SCOPES:
        raise bad_value('budget_scope', budget_scope, SCOPES)
    s = check_settings(dict(settings or {}, scope=budget_scope))
    if s['cost'] == 'latency' and budget_scope == 'detector':
        raise ValueError("budget_scope: cost='latency' covers the backbone's layers (and the "
                         "neck's input convs) only; use budget_scope='backbone'")
    if is_model_wrapper(model):
        model = model.module
    backbone = model.backbone
    depth = getattr(backbone, 'depth', None)
    if type(backbone).__name__ not in ('ResNet', 'WidthResNet') or depth not in (18, 34, 50, 101,
                                                                                152):
        raise ValueError(f'model.backbone: export builds a WidthResNet, so a ResNet backbone '
                         f'is expected, got {type(backbone).__name__}')
    for attr, ok in (('style', 'pytorch'), ('num_stages', 4), ('avg_down', False)):
        if getattr(backbone, attr, ok) != ok:
            raise ValueError(f'model.backbone.{attr}: WidthResNet builds {attr}={ok!r} only, '
                             f'got {getattr(backbone, attr)!r}')
    if any(d != 1 for d in getattr(backbone, 'dilations', (1, ))):
        raise ValueError(f'model.backbone.dilations: WidthResNet has no dilation, got '
                         f'{backbone.dilations!r}')
    names = resnet_group_names(backbone)
    order = resnet_widths(depth).names
    # consumers (the neck's input convs, a classifier's fc) are sliced whatever the scope;
    # their cost counts when budget_scope == 'detector'
    reg = build_regularizer(model, s, require_consumers=True)
    graph = reg.graph
    scores = reg.scores().detach().cpu()
    absent = [n for n, w in getattr(backbone, 'widths', resnet_widths(depth)).groups if w == 0]
    original = widths_from_groups(graph, [len(wg['cgs']) for wg in graph.width_groups],
                                  names, order, absent)
    # the residual branches as width-group indices: a block's mid groups
    branch_of = {n: b for b, ns in resnet_branches(depth).items() for n in ns}
    branches = {}
    for k, labels in enumerate(group_names(graph, names)):
        owners = {branch_of.get(n) for n in labels}
        if len(owners) == 1 and None not in owners:
            branches.setdefault(owners.pop(), []).append(k)
    shr = shrink(reg, min_width=min_width, branches=branches)
    shrunk = widths_from_groups(graph, shr.wg_widths, names, order, absent)
    const = 0.0
    if budget_scope == 'detector':
        const = total_cost(model, s['cost'], s['input_shape']) - reg.full_cost()
    cm = reg.model

    def cost_fn(widths):
        return cm.cost_of_widths(groups_from_widths(graph, widths, names)) + const
    orig_cost = cost_fn(original)
    if budget is None:
        if not isinstance(budget_ratio, (int, float)) or not budget_ratio > 0:
            raise ValueError(f'budget_ratio: a positive number is expected, got {budget_ratio!r}')
        budget = budget_ratio * orig_cost
    mult, expanded, exp_cost = expand(cost_fn, shrunk, budget, divisor, mode=mode)
    # the paper's baseline: the original widths times one multiplier, at the expanded
    # network's cost (the nearest that multiples of divisor allow)
    u_mult, uniform, u_cost = expand(cost_fn, original, exp_cost, divisor, mode='nearest')
    os.makedirs(out_dir, exist_ok=True)
    state = model.state_dict()
    summary = dict(cost=s['cost'], budget_scope=budget_scope, input_shape=list(s['input_shape']),
                   threshold=s['threshold'], divisor=divisor, mode=mode, budget=float(budget),
                   min_width=min_width,
                   removed_blocks=sorted(set(shr.removed) | set(
                       b for b, ns in resnet_branches(depth).items() if ns[0] in absent)),
                   widened_layers=[graph.width_groups[k]['bns'] for k in shr.widened],
                   original=dict(cost=orig_cost, widths=original.to_dict()),
                   shrunk=dict(cost=cost_fn(shrunk), widths=shrunk.to_dict()),
                   expanded=dict(cost=exp_cost, multiplier=mult, widths=expanded.to_dict()),
                   uniform=dict(cost=u_cost, multiplier=u_mult, widths=uniform.to_dict()))
    summary['expanded']['rel_error'] = (exp_cost - budget) / budget
    for key, widths in (('shrunk', shrunk), ('expanded', expanded), ('uniform', uniform)):
        sub = osp.join(out_dir, key)
        os.makedirs(sub, exist_ok=True)
        ckpt = osp.join(sub, 'model.pth')
        # the one export (engine/export): the shrunk net fine-tunes from its sliced
        # weights; the expanded one (and the uniform baseline) retrains from scratch
        # (MorphNet's protocol), its checkpoint holds the kept channels if wanted
        written = write_widths_config(cfg, depth, widths, osp.join(sub, 'config.py'),
                                      load_from=ckpt if key == 'shrunk' else None)
        new = MODELS.build(written.model)
        keep = channel_order(graph, groups_from_widths(graph, widths, names), scores)
        sd = transfer_state_dict(graph, state, new.state_dict(), keep, prefix='backbone.')
        new.load_state_dict(sd, strict=True)
        save_plain({'state_dict': sd, 'meta': {'morphnet': {'widths': widths.to_dict(),
                                                            'from': key}}}, ckpt)
        with open(osp.join(sub, 'widths.json'), 'w') as f:
            json.dump(widths.to_dict(), f, indent=1)
        measured = None if s['cost'] == 'latency' else total_cost(new, s['cost'],
                                                                   s['input_shape'])
        if budget_scope == 'backbone':
            if s['cost'] == 'latency':  # the roofline of the exported backbone, traced anew
                measured = CostModel(trace_channels(new.backbone, s['input_shape']), 'latency',
                                     False, s['platform']).cost(None)
            elif s['cost'] == 'params':
                measured = float(sum(p.numel() for p in new.backbone.parameters()))
            else:
                from ...models.flops import model_flops
                p = next(new.parameters())
                measured = float(model_flops(new.backbone, torch.zeros(
                    1, *s['input_shape'], dtype=p.dtype, device=p.device))['flops'])
        summary[key].update(config=osp.join(sub, 'config.py'), checkpoint=ckpt,
                            measured_cost=measured)
    summary['expanded']['measured_rel_error'] = (summary['expanded']['measured_cost'] - budget) \
        / budget
    summary['uniform']['measured_rel_to_expanded'] = (
        summary['uniform']['measured_cost'] / summary['expanded']['measured_cost'] - 1)
    summary['plot'] = plot_morphnet(history or {}, dict(original=original, shrunk=shrunk,
                                                        expanded=expanded),
                                    osp.join(out_dir, 'morphnet.png'), s['cost'])
    with open(osp.join(out_dir, 'morphnet_summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    return summary


def build_trained(cfg, checkpoint: str | None):
    """Build ``cfg.model`` in its default scope and load ``checkpoint`` (safely)."""
    from mmengine.registry import MODELS, init_default_scope
    from ..runner.checkpoint import safe_load
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(copy.deepcopy(cfg.model))
    ckpt = {}
    if checkpoint:
        ckpt = safe_load(checkpoint, map_location='cpu')
        model.load_state_dict(ckpt.get('state_dict', ckpt), strict=True)
    model.eval()
    return model, ckpt


def morphnet_phase(cfg, ctx) -> dict:
    """Shrink, expand and export the model an earlier phase trained with the MorphNet
    regularizer: the last checkpoint an earlier phase produced, or
    ``morphnet_export.checkpoint`` (a file). Settings: the optimizer wrapper's ``morphnet``
    dict, and ``morphnet_export=dict(budget=None, budget_ratio=1.0,
    budget_scope='backbone', divisor=8, mode='under', min_width=1, checkpoint=None)``."""
    ow = cfg.get('optim_wrapper', {}) or {}
    settings = dict(ow.get('morphnet', {}) or {})
    settings.pop('scope', None)
    export = dict(cfg.get('morphnet_export', {}) or {})
    allowed = ('budget', 'budget_ratio', 'budget_scope', 'divisor', 'mode', 'min_width',
               'checkpoint')
    for k in export:
        if k not in allowed:
            raise bad_value('morphnet_export', k, allowed)
    ckpt_file = export.pop('checkpoint', None)
    if ckpt_file is None:
        prev = [o.get('checkpoint') for o in ctx.outputs.values() if o.get('checkpoint')]
        if not prev:
            raise ValueError("phase 'morphnet': no earlier phase produced a checkpoint; run "
                             "'train' first or set morphnet_export.checkpoint")
        ckpt_file = prev[-1]
    if not osp.isfile(ckpt_file):
        raise FileNotFoundError(f'morphnet_export.checkpoint: {ckpt_file} does not exist')
    model, ckpt = build_trained(cfg, ckpt_file)
    out = morphnet_export(cfg, model, cfg.work_dir, settings, history=history_from_checkpoint(ckpt),
                          **export)
    e = out['expanded']
    return {'shrunk_config': out['shrunk']['config'], 'expanded_config': e['config'],
            'checkpoint': out['shrunk']['checkpoint'], 'budget': out['budget'],
            'cost_before': out['original']['cost'], 'cost_shrunk': out['shrunk']['cost'],
            'cost_expanded': e['measured_cost'], 'rel_error': e['measured_rel_error'],
            'uniform_config': out['uniform']['config'], 'removed_blocks': out['removed_blocks'],
            'plot': out['plot']}


__all__ = ['build_trained', 'history_from_checkpoint', 'model_cfg_for', 'morphnet_export',
           'morphnet_phase', 'save_plain', 'total_cost']
