"""MorphNet in mmengine training: the regularizer's optimizer wrapper and its settings
(shrink / expand / export of the trained model: :mod:`nas_det.engine.export.morphnet`).

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
pass and logs ``morphnet_flops`` (``morphnet_params``, ``morphnet_latency``: the live
cost; ``cost='latency'`` is the roofline estimate in seconds per image on the ``platform``
figures, read from a ``tools/latency_table.py`` file or given), ``morphnet_loss``
(the term added) and ``morphnet_strength`` to the message hub (so to the logger and
``scalars.json``).
"""
from __future__ import annotations

import torch
from mmengine.logging import MessageHub, print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS

from ...models.morphnet import (COSTS, MorphNetRegularizer, add_consumers, read_platform,
                                trace_channels)
from ...space.base import bad_value

SCOPES = ('backbone', 'detector')
_SETTINGS = dict(input_shape=(3, 224, 224), cost='flops', threshold=0.1, strength=None,
                 strength_factor=1.0, warmup_iters=0, scope='backbone', module='backbone',
                 platform=None)


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
    if s['cost'] == 'latency':
        if s['platform'] is None:
            raise ValueError("morphnet.platform: cost='latency' needs the device's figures: a "
                             'latency table file (tools/latency_table.py) or '
                             'dict(peak_compute=MAC/s, memory_bandwidth=bytes/s)')
        s['platform'] = read_platform(s['platform'], 'morphnet.platform')
    elif s['platform'] is not None:
        raise ValueError(f"morphnet.platform: only read with cost='latency' (cost is "
                         f"{s['cost']!r}); remove it")
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
                               consumers=s['scope'] == 'detector', platform=s['platform'])


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


__all__ = ['MorphNetOptimWrapper', 'MorphNetOptimWrapperConstructor', 'SCOPES', 'build_regularizer',
           'check_settings', 'find_consumers']
