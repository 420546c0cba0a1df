"""Multiply-add (FLOPs) and parameter counts.

Convention (``/work/shared/ANCHORS.md``): FLOPs are the multiply-adds of conv and linear
layers, groups-aware (a depthwise kxk conv costs ``k*k*H_out*W_out`` per channel); norm
layers, additions and pooling are not counted. This is what ``mmengine.analysis``
``FlopAnalyzer(...).by_operator()['conv'] + ['linear']`` reports.

:func:`conv2d_cost` / :func:`linear_cost` give the cost of one layer without running it
(:func:`~nas_det.models.shufflenet.backbone_cost` adds them up over a DetNAS path);
:func:`model_flops` / :func:`detector_flops` run a model through ``FlopAnalyzer``. This
module imports no model family: the families import it.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn as nn

COUNTED_OPS = ('conv', 'linear', 'addmm')
"""``FlopAnalyzer`` operator names counted as FLOPs (a linear layer may trace as addmm)."""


def conv_out_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                  dilation: int = 1) -> int:
    """Output length of a conv or pooling window along one spatial axis."""
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def conv2d_cost(in_channels: int, out_channels: int, kernel_size: int, height: int, width: int,
                stride: int = 1, padding: int | None = None, groups: int = 1, bias: bool = False,
                norm: bool = True) -> tuple:
    """Cost of a square 2D conv (+ optional affine norm layer).

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels.
        kernel_size (int): square kernel size.
        height (int): input height.
        width (int): input width.
        stride (int): stride. Defaults to 1.
        padding (int, optional): padding; None means ``kernel_size // 2``. Defaults to None.
        groups (int): conv groups. Defaults to 1.
        bias (bool): whether the conv has a bias. Defaults to False.
        norm (bool): whether an affine norm layer (2 params per channel) follows.
            Defaults to True.

    Returns:
        tuple: ``(flops, params, out_height, out_width)``.
    """
    if in_channels % groups or out_channels % groups:
        raise ValueError(f'groups: {groups} must divide in_channels ({in_channels}) and '
                         f'out_channels ({out_channels})')
    padding = kernel_size // 2 if padding is None else padding
    h = conv_out_size(height, kernel_size, stride, padding)
    w = conv_out_size(width, kernel_size, stride, padding)
    weights = out_channels * (in_channels // groups) * kernel_size * kernel_size
    params = weights + out_channels * (bias + 2 * norm)
    return weights * h * w, params, h, w


def linear_cost(in_features: int, out_features: int, bias: bool = True) -> tuple:
    """``(flops, params)`` of a linear layer applied to one vector."""
    return in_features * out_features, in_features * out_features + out_features * bias


class _TensorForward(nn.Module):
    """Calls ``model(inputs, data_samples, mode='tensor')`` (an mmdet detector's raw path)."""

    def __init__(self, model, data_samples):
        super().__init__()
        self.model = model
        self.data_samples = data_samples

    def forward(self, inputs):
        return self.model(inputs, self.data_samples, mode='tensor')


def _counted(by_op: Mapping) -> int:
    return sum(by_op.get(k, 0) for k in COUNTED_OPS)


def model_flops(model: nn.Module, inputs, submodules: Sequence[str] = ()) -> dict:
    """Count a model's FLOPs by tracing it with ``mmengine.analysis.FlopAnalyzer``.

    Args:
        model (nn.Module): the model (run in eval mode, then restored).
        inputs (torch.Tensor | tuple): the forward arguments.
        submodules (Sequence[str]): names of submodules whose FLOPs to report too.
            Defaults to ().

    Returns:
        dict: ``flops`` (conv + linear multiply-adds, the project convention),
        ``by_operator`` (every operator FlopAnalyzer counted), ``params`` and
        ``by_module`` (``{name: flops}`` of ``submodules``).
    """
    from mmengine.analysis import FlopAnalyzer

    # every module's own mode, restored one by one: a wrapper's flag (e.g. a fresh
    # module around a detector in eval mode) must not spread to what it wraps
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            analyzer = FlopAnalyzer(model, inputs)
            analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            by_op = dict(analyzer.by_operator())
            by_module = analyzer.by_module_and_operator() if submodules else {}
    finally:
        for m, mode in modes:
            m.training = mode
    return dict(flops=_counted(by_op), by_operator=by_op,
                params=sum(p.numel() for p in model.parameters()),
                by_module={name: _counted(by_module.get(name, {})) for name in submodules})


def detector_flops(detector: nn.Module, input_shape: Sequence[int] = (3, 800, 1333)) -> dict:
    """FLOPs of an mmdet detector's tensor forward (backbone, neck, heads) on one image.

    Post-processing (NMS, box decoding) is not part of the tensor forward. Two-stage
    detectors get a data sample with the image metainfo, which their RPN needs.

    Args:
        detector (nn.Module): an mmdet ``BaseDetector``.
        input_shape (Sequence[int]): ``(C, H, W)``. Defaults to ``(3, 800, 1333)``.

    Returns:
        dict: as :func:`model_flops`, plus ``backbone_flops`` / ``neck_flops`` (those of
        its parts the detector has).
    """
    from mmdet.structures import DetDataSample

    c, h, w = input_shape
    param = next(detector.parameters())
    x = torch.zeros(1, c, h, w, dtype=param.dtype, device=param.device)
    sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                                         batch_input_shape=(h, w), scale_factor=(1.0, 1.0)))
    parts = [p for p in ('backbone', 'neck') if hasattr(detector, p)]
    out = model_flops(_TensorForward(detector, [sample]), x, [f'model.{p}' for p in parts])
    for p in parts:
        out[f'{p}_flops'] = out['by_module'][f'model.{p}']
    return out


_MOVED = ('specs_cost', 'unit_cost', 'backbone_cost')
"""The analytic DetNAS costs, now beside the layers they count (importing them from here
would make this module and :mod:`nas_det.models.shufflenet` import each other)."""


def __getattr__(name):
    if name in _MOVED:
        raise ImportError(f'nas_det.models.flops.{name} moved to nas_det.models.shufflenet.'
                          f'{name}: use `from nas_det.models.shufflenet import {name}`')
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = ['COUNTED_OPS', 'conv_out_size', 'conv2d_cost', 'linear_cost', 'model_flops',
           'detector_flops']
