"""MorphNet in mmengine: the regularizer in the optimizer wrapper, shrink / expand /
export of a trained model, the ``morphnet`` phase of ``tools/search.py`` and its plot.

The regularizer reaches the loss through the optimizer wrapper (``BaseModel.train_step``
leaves hooks no way to add a loss term, and wrapping the detector would change its
checkpoint keys)::

    optim_wrapper = dict(
        type='MorphNetOptimWrapper',
        constructor='MorphNetOptimWrapperConstructor',  # hands the model to the wrapper
        optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
        morphnet=dict(input_shape=(3, 256, 256), cost='flops', threshold=0.1,
                      strength_factor=1.0, warmup_iters=0, scope='backbone'))

At every step the wrapper adds ``strength * penalty`` to the loss before the backward
pass and logs ``morphnet_flops`` (or ``morphnet_params``: the live cost), ``morphnet_loss``
(the term added) and ``morphnet_strength`` to the message hub (so to the logger and
``scalars.json``).
"""
from __future__ import annotations

import copy
import json
import os
import os.path as osp

import torch
from mmengine.logging import MessageHub, print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS

from ..models.morphnet import (COSTS, MorphNetRegularizer, add_consumers,
                               channel_order, expand, group_names, groups_from_widths,
                               resnet_group_names, shrink, trace_channels,
                               transfer_state_dict, widths_from_groups)
from ..models.width_resnet import resnet_branches, resnet_widths
from ..space.base import bad_value
from .phases import PhaseContext, register_phase
from .export.widths import model_cfg_for, write_widths_config  # noqa: F401

SCOPES = ('backbone', 'detector')
_SETTINGS = dict(input_shape=(3, 224, 224), cost='flops', threshold=0.1, strength=None,
                 strength_factor=1.0, warmup_iters=0, scope='backbone', module='backbone')


def check_settings(settings) -> dict:
    """The MorphNet settings with defaults, checked (``ValueError`` naming the field)."""
    if settings is None:
        settings = {}
    unknown = [k for k in settings if k not in _SETTINGS]
    if unknown:
        raise bad_value('morphnet', unknown[0], sorted(_SETTINGS))
    s = dict(_SETTINGS, **settings)
    shape = s['input_shape']
    if not isinstance(shape, (list, tuple)) or len(shape) != 3 or \
            not all(isinstance(v, int) and v > 0 for v in shape):
        raise ValueError(f'morphnet.input_shape: (C, H, W) positive ints are expected, got '
                         f'{shape!r}')
    s['input_shape'] = tuple(shape)
    if s['cost'] not in COSTS:
        raise bad_value('morphnet.cost', s['cost'], COSTS)
    if s['scope'] not in SCOPES:
        raise bad_value('morphnet.scope', s['scope'], SCOPES)
    for key in ('threshold', 'strength_factor'):
        v = s[key]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not v >= 0:
            raise ValueError(f'morphnet.{key}: a number >= 0 is expected, got {v!r}')
    if s['strength'] is not None and (not isinstance(s['strength'], (int, float))
                                      or not s['strength'] >= 0):
        raise ValueError(f'morphnet.strength: None or a number >= 0 is expected, got '
                         f'{s["strength"]!r}')
    if not isinstance(s['warmup_iters'], int) or s['warmup_iters'] < 0:
        raise ValueError(f'morphnet.warmup_iters: an int >= 0 is expected, got '
                         f'{s["warmup_iters"]!r}')
    return s


def find_consumers(model) -> list:
    """``(name, module, backbone output index)`` of the layers that read a backbone's
    outputs: an mmdet ``FPN``'s lateral convs (and its ``add_extra_convs='on_input'``
    conv), or a classifier's ``fc`` after global pooling. Models without neck and head
    give []."""
    neck = getattr(model, 'neck', None)
    head = getattr(model, 'head', None)
    out = []
    if neck is not None and type(neck).__name__ == 'FPN':
        for i, lc in enumerate(neck.lateral_convs):
            out.append((f'neck.lateral_convs.{i}.conv', lc.conv, i + neck.start_level))
        if neck.add_extra_convs == 'on_input':
            k = len(neck.lateral_convs)
            out.append((f'neck.fpn_convs.{k}.conv', neck.fpn_convs[k].conv,
                        neck.backbone_end_level - 1))
        return out
    if head is not None and (neck is None or type(neck).__name__ == 'GlobalAveragePooling'):
        fc = getattr(head, 'fc', None)
        if isinstance(fc, torch.nn.Linear):
            return [('head.fc', fc, -1)]
    if neck is None and head is None:
        return []
    raise ValueError(f'model: MorphNet reaches the inputs of an mmdet FPN neck or of a '
                     f'classifier fc head after GlobalAveragePooling; got neck '
                     f'{type(neck).__name__}, head {type(head).__name__}')


def build_regularizer(model, settings: dict, require_consumers: bool | None = None
                      ) -> MorphNetRegularizer:
    """Trace ``model.<module>`` and build its regularizer.

    The layers that read the backbone (:func:`find_consumers`) join the graph: their cost
    counts when ``scope`` is ``'detector'``, and export slices them. A neck or head of
    another kind is an error when ``require_consumers`` (default: scope ``'detector'``),
    else left out.
    """
    s = check_settings(settings)
    if require_consumers is None:
        require_consumers = s['scope'] == 'detector'
    try:
        module = model.get_submodule(s['module'])
    except AttributeError:
        raise ValueError(f'morphnet.module: the model has no submodule {s["module"]!r}') from None
    graph = trace_channels(module, s['input_shape'])
    consumers = []
    if s['module'] == 'backbone':
        try:
            consumers = find_consumers(model)
        except ValueError:
            if require_consumers:
                raise
    if consumers:
        n = len(graph.outputs)
        add_consumers(graph, [(name, mod, idx % n) for name, mod, idx in consumers])
    return MorphNetRegularizer(module, graph, s['cost'], s['threshold'],
                               consumers=s['scope'] == 'detector')


@OPTIM_WRAPPERS.register_module()
class MorphNetOptimWrapper(OptimWrapper):
    """An ``OptimWrapper`` that adds MorphNet's penalty to the loss before backward.

    Build it with ``constructor='MorphNetOptimWrapperConstructor'`` (which calls
    :meth:`attach` with the model) or call :meth:`attach` yourself.

    Args:
        optimizer: the optimizer.
        morphnet (dict): settings: ``input_shape`` (C, H, W) the costs refer to;
            ``cost`` ``'flops'`` (FLOP-weighted) or ``'params'`` (size-weighted);
            ``threshold`` on ``|gamma|`` (default 0.1); ``strength`` (None: 
            ``strength_factor`` / initial cost, the paper's rule of thumb);
            ``strength_factor`` (default 1.0); ``warmup_iters`` (linear ramp of the
            strength, default 0); ``scope`` ``'backbone'`` or ``'detector'`` (the
            neck's / classifier's input layers count too); ``module`` (default
            ``'backbone'``). Defaults to None (all defaults).
        **kwargs: the other ``OptimWrapper`` arguments.
    """

    def __init__(self, optimizer, morphnet: dict | None = None, **kwargs):
        super().__init__(optimizer, **kwargs)
        self.settings = check_settings(morphnet)
        self.regularizer = None
        self.base_strength = None
        self.initial_cost = None
        self._calls = 0

    def attach(self, model) -> None:
        """Trace ``model`` and set the strength (``strength`` or factor / initial cost)."""
        if is_model_wrapper(model):
            model = model.module
        self.regularizer = build_regularizer(model, self.settings)
        self.initial_cost = self.regularizer.full_cost()
        s = self.settings
        self.base_strength = (s['strength'] if s['strength'] is not None
                              else s['strength_factor'] / self.initial_cost)
        print_log(f'MorphNet: {len(self.regularizer.graph.width_groups)} width groups, '
                  f'initial {s["cost"]} {self.initial_cost:.4g}, strength '
                  f'{self.base_strength:.4g}', logger='current')

    def strength(self) -> float:
        """The strength at the current step (linear warm-up over the runner's iterations,
        so a resumed run continues the ramp; counted calls without a runner)."""
        w = self.settings['warmup_iters']
        if w == 0:
            return self.base_strength
        it = MessageHub.get_current_instance().get_info('iter')
        step = it if isinstance(it, int) else self._calls
        return self.base_strength * min(1.0, (step + 1) / w)

    def update_params(self, loss, step_kwargs=None, zero_kwargs=None) -> None:
        if self.regularizer is None:
            raise RuntimeError("MorphNetOptimWrapper: no model attached; set optim_wrapper's "
                               "constructor='MorphNetOptimWrapperConstructor'")
        penalty, live = self.regularizer()
        strength = self.strength()
        self._calls += 1
        hub = MessageHub.get_current_instance()
        hub.update_scalar(f'train/morphnet_{self.settings["cost"]}', float(live))
        term = strength * penalty.to(loss.dtype)
        hub.update_scalar('train/morphnet_loss', float(term.detach()))
        hub.update_scalar('train/morphnet_strength', strength)
        super().update_params(loss + term, step_kwargs, zero_kwargs)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class MorphNetOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """The default constructor, then :meth:`MorphNetOptimWrapper.attach` with the model."""

    def __call__(self, model):
        wrapper = super().__call__(model)
        if not isinstance(wrapper, MorphNetOptimWrapper):
            raise ValueError("optim_wrapper.type: 'MorphNetOptimWrapper' is expected with "
                             f"this constructor, got {type(wrapper).__name__}")
        wrapper.attach(model)
        return wrapper


# ---------------------------------------------------------------------------------------
# shrink, expand, export
# ---------------------------------------------------------------------------------------
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
    from ..models.flops import detector_flops, model_flops
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
    from .checkpoint import to_plain
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


def plot_morphnet(history: dict, widths: dict, path: str, cost: str = 'flops',
                  title: str = 'MorphNet') -> str:
    """PNG: live cost and loss over iterations, and the width of every layer group for
    each entry of ``widths`` (``{label: Widths}``, e.g. original / shrunk / expanded)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4), gridspec_kw=dict(width_ratios=[1, 1, 2]))
    live = history.get(f'morphnet_{cost}', [])
    ax = axes[0]
    if live:
        ax.plot(range(1, len(live) + 1), live, color='tab:blue')
    ax.set_xlabel('iteration')
    ax.set_ylabel(f'live {cost}')
    ax.set_title(f'live {cost} (threshold on |gamma|)')
    ax.grid(alpha=0.3)
    ax = axes[1]
    loss = history.get('loss', [])
    if loss:
        ax.plot(range(1, len(loss) + 1), loss, color='tab:red', label='task loss')
    term = history.get('morphnet_loss', [])
    if term:
        ax.plot(range(1, len(term) + 1), term, color='tab:green',
                label='MorphNet term (strength x penalty)')
    ax.set_xlabel('iteration')
    ax.set_ylabel('loss')
    ax.set_title('loss')
    if loss or term:
        ax.legend(loc='upper right')
    ax.grid(alpha=0.3)
    ax = axes[2]
    labels = list(widths)
    if labels:
        names = list(widths[labels[0]].names)
        step = 0.8 / len(labels)
        for k, lab in enumerate(labels):
            w = widths[lab].as_dict()
            ax.bar([i + k * step for i in range(len(names))], [w.get(n, 0) for n in names],
                   width=step, label=lab)
        ax.set_xticks([i + 0.4 - step / 2 for i in range(len(names))])
        ax.set_xticklabels(names, rotation=90, fontsize=6)
        ax.legend(loc='upper left')
    ax.set_ylabel('channels')
    ax.set_title('width per layer group')
    ax.grid(alpha=0.3, axis='y')
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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
        measured = total_cost(new, s['cost'], s['input_shape'])
        if budget_scope == 'backbone':
            if s['cost'] == 'params':
                measured = float(sum(p.numel() for p in new.backbone.parameters()))
            else:
                from ..models.flops import model_flops
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
    from .checkpoint import safe_load
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(copy.deepcopy(cfg.model))
    ckpt = {}
    if checkpoint:
        ckpt = safe_load(checkpoint, map_location='cpu')
        model.load_state_dict(ckpt.get('state_dict', ckpt), strict=True)
    model.eval()
    return model, ckpt


@register_phase('morphnet')
def morphnet_phase(cfg, ctx: PhaseContext) -> dict:
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


__all__ = ['MorphNetOptimWrapper', 'MorphNetOptimWrapperConstructor', 'check_settings',
           'find_consumers', 'build_regularizer', 'morphnet_export', 'plot_morphnet',
           'history_from_checkpoint', 'build_trained', 'total_cost', 'model_cfg_for', 'SCOPES']

