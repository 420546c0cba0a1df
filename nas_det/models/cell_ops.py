"""The op vocabulary of the NASNet / PNASNet / AmoebaNet cells, and the layers under it.

:data:`OPS` maps every op name of :data:`~nas_det.space.cells.NASNET_OPS`, ``AMOEBA_OPS``
and ``PNAS_OPS`` to a factory ``(in_channels, out_channels, stride, padding=, norm_cfg=)``;
:func:`build_op` builds one by name. The layers follow the TF reference code
(``nasnet_utils.py``, ``pnasnet.py``, AmoebaNet's ``network_utils.py``): separable convs
are ReLU-dwconv-pwconv-BN twice, the plain convs sit in AmoebaNet's 1x1 bottleneck, pools
get a conv1x1-BN fix-up when their input width differs from the output's. Three padding
modes (:data:`PADDING_MODES`) give PyTorch's symmetric padding, TF's 'SAME' padding, or
timm's port of it. The cells and networks built from these ops are in
:mod:`nas_det.models.cells`.
"""
from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.utils import _pair

from ..space.base import bad_value

PADDING_MODES = ('pytorch', 'tf', 'timm')
"""``'pytorch'``: symmetric ``k // 2`` padding, pooling windows ignore padding.
``'tf'``: TF 'SAME' padding, computed from the input size (the extra pixel goes at the
end), average pooling ignores padding (TF semantics). ``'timm'``: as ``'tf'`` but
stride-2 average pools count the zero padding, as timm's ports of NASNet / PNASNet do."""

DEFAULT_NORM = dict(type='BN', eps=1e-3, momentum=0.1)
"""Batch norm as in the TF code (epsilon 1e-3); PyTorch's usual momentum."""


# ---------------------------------------------------------------------------- layers

def build_norm(norm_cfg: Mapping | None, channels: int) -> nn.Module:
    """A norm layer from an mmcv-style config (``BN``, ``SyncBN``, or any type mmcv knows).

    Args:
        norm_cfg (dict, optional): e.g. ``dict(type='BN', eps=1e-3)``; extra keys (such as
            ``affine=False``) go to the layer. Defaults to :data:`DEFAULT_NORM`.
        channels (int): number of channels.
    """
    cfg = dict(DEFAULT_NORM if norm_cfg is None else norm_cfg)
    kind = cfg.pop('type', 'BN')
    requires_grad = cfg.pop('requires_grad', True)
    if kind in ('BN', 'BN2d'):
        layer = nn.BatchNorm2d(channels, **cfg)
    elif kind == 'SyncBN':
        layer = nn.SyncBatchNorm(channels, **cfg)
    else:
        try:
            from mmcv.cnn import build_norm_layer
        except ImportError as e:  # pragma: no cover - mmcv is part of the stack
            raise ValueError(f'norm_cfg: type {kind!r} needs mmcv; without it allowed '
                             "values: ['BN', 'SyncBN']") from e
        layer = build_norm_layer(dict(cfg, type=kind), channels)[1]
    for p in layer.parameters():
        p.requires_grad = requires_grad
    return layer


def same_padding(size: int, kernel_size: int, stride: int = 1, dilation: int = 1) -> tuple:
    """TF 'SAME' padding ``(before, after)`` along one axis of length ``size``."""
    total = max((math.ceil(size / stride) - 1) * stride + (kernel_size - 1) * dilation + 1
                - size, 0)
    return total // 2, total - total // 2


def _static(kernel_size, stride, dilation) -> bool:
    """Whether TF 'SAME' padding is symmetric whatever the input size."""
    return all(k == 1 or (s == 1 and d * (k - 1) % 2 == 0)
               for k, s, d in zip(kernel_size, stride, dilation))


def _same_pads(x: torch.Tensor, kernel_size, stride, dilation=(1, 1)) -> tuple:
    ph = same_padding(x.shape[-2], kernel_size[0], stride[0], dilation[0])
    pw = same_padding(x.shape[-1], kernel_size[1], stride[1], dilation[1])
    return (*pw, *ph)


class Conv2dSame(nn.Conv2d):
    """A conv with TF 'SAME' zero padding computed from each input's size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, _same_pads(x, self.kernel_size, self.stride,
                                                   self.dilation)))


class Pool2dSame(nn.Module):
    """Max or average pooling with TF 'SAME' padding computed from the input size.

    Args:
        kind (str): ``'max'`` or ``'avg'``.
        kernel_size (int): window size.
        stride (int): stride.
        count_pad (bool): average pools count the zero padding (timm's ports) instead of
            averaging the valid pixels only (TF). Defaults to False.
    """

    def __init__(self, kind: str, kernel_size: int, stride: int, count_pad: bool = False):
        super().__init__()
        self.kind, self.kernel_size, self.stride = kind, _pair(kernel_size), _pair(stride)
        self.count_pad = count_pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = _same_pads(x, self.kernel_size, self.stride)
        if self.kind == 'max':
            return F.max_pool2d(F.pad(x, pads, value=-math.inf), self.kernel_size, self.stride)
        y = F.avg_pool2d(F.pad(x, pads), self.kernel_size, self.stride)
        if self.count_pad or not any(pads):
            return y
        ones = x.new_ones((1, 1, *x.shape[-2:]))
        return y / F.avg_pool2d(F.pad(ones, pads), self.kernel_size, self.stride)

    def extra_repr(self) -> str:
        return f'{self.kind}, kernel_size={self.kernel_size}, stride={self.stride}'


def make_conv(in_channels: int, out_channels: int, kernel_size, stride=1, dilation=1,
              groups: int = 1, padding: str = 'pytorch') -> nn.Conv2d:
    """A bias-free conv, padded as ``padding`` (one of :data:`PADDING_MODES`) says."""
    k, s, d = _pair(kernel_size), _pair(stride), _pair(dilation)
    if padding == 'pytorch' or _static(k, s, d):
        pad = tuple(di * (ki - 1) // 2 for ki, di in zip(k, d))
        return nn.Conv2d(in_channels, out_channels, k, s, pad, d, groups, bias=False)
    return Conv2dSame(in_channels, out_channels, k, s, 0, d, groups, bias=False)


def make_pool(kind: str, kernel_size: int, stride: int = 1, padding: str = 'pytorch'):
    """A max or average pool (averages ignore padding except in ``'timm'`` mode, stride 2)."""
    if padding == 'pytorch' or _static(_pair(kernel_size), _pair(stride), (1, 1)):
        if kind == 'max':
            return nn.MaxPool2d(kernel_size, stride, kernel_size // 2)
        return nn.AvgPool2d(kernel_size, stride, kernel_size // 2, count_include_pad=False)
    return Pool2dSame(kind, kernel_size, stride, count_pad=padding == 'timm')


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples of ``x`` with probability ``drop_prob``, rescale the others."""
    if drop_prob <= 0.:
        return x
    keep = 1. - drop_prob
    mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
    return x / keep * mask


class ReLUConvBN(nn.Module):
    """ReLU, conv (no bias), norm.

    Args:
        in_channels (int): input width.
        out_channels (int): output width.
        kernel_size (int | tuple): kernel size. Defaults to 1.
        stride (int | tuple): stride. Defaults to 1.
        padding (str): one of :data:`PADDING_MODES`. Defaults to 'pytorch'.
        norm_cfg (dict, optional): norm layer config. Defaults to None (:data:`DEFAULT_NORM`).
        relu (bool): start with a ReLU. Defaults to True.
    """

    def __init__(self, in_channels, out_channels, kernel_size=1, stride=1, padding='pytorch',
                 norm_cfg=None, relu=True):
        super().__init__()
        self.relu = relu
        self.conv = make_conv(in_channels, out_channels, kernel_size, stride, padding=padding)
        self.bn = build_norm(norm_cfg, out_channels)

    def forward(self, x):
        return self.bn(self.conv(F.relu(x) if self.relu else x))


class SepConv(nn.Module):
    """``repeats`` x (ReLU, depthwise conv, pointwise conv, norm); the first one strides.

    As in TF's separable convs, every pointwise conv outputs ``out_channels``; submodules
    are ``dw{i}``, ``pw{i}``, ``bn{i}`` for ``i = 1 .. repeats``.

    Args:
        in_channels (int): input width.
        out_channels (int): output width.
        kernel_size (int): depthwise kernel size.
        stride (int): stride of the first depthwise conv. Defaults to 1.
        dilation (int): dilation of the depthwise convs. Defaults to 1.
        repeats (int): how many times the unit is applied. Defaults to 2.
        padding (str): one of :data:`PADDING_MODES`. Defaults to 'pytorch'.
        norm_cfg (dict, optional): norm layer config. Defaults to None.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, dilation=1, repeats=2,
                 padding='pytorch', norm_cfg=None):
        super().__init__()
        self.repeats = repeats
        c = in_channels
        for i in range(1, repeats + 1):
            self.add_module(f'dw{i}', make_conv(c, c, kernel_size, stride if i == 1 else 1,
                                                dilation, groups=c, padding=padding))
            self.add_module(f'pw{i}', make_conv(c, out_channels, 1))
            self.add_module(f'bn{i}', build_norm(norm_cfg, out_channels))
            c = out_channels

    def forward(self, x):
        for i in range(1, self.repeats + 1):
            x = getattr(self, f'bn{i}')(getattr(self, f'pw{i}')(getattr(self, f'dw{i}')(F.relu(x))))
        return x


class PoolBranch(nn.Module):
    """A pool, then conv1x1-norm (no ReLU) when the width changes (as TF does).

    Args:
        kind (str): ``'max'`` or ``'avg'``.
        kernel_size (int): window size.
        in_channels (int): input width.
        out_channels (int): output width.
        stride (int): stride. Defaults to 1.
        padding (str): one of :data:`PADDING_MODES`. Defaults to 'pytorch'.
        norm_cfg (dict, optional): norm layer config. Defaults to None.
    """

    def __init__(self, kind, kernel_size, in_channels, out_channels, stride=1,
                 padding='pytorch', norm_cfg=None):
        super().__init__()
        self.pool = make_pool(kind, kernel_size, stride, padding)
        self.fix = in_channels != out_channels
        if self.fix:
            self.conv = make_conv(in_channels, out_channels, 1)
            self.bn = build_norm(norm_cfg, out_channels)

    def forward(self, x):
        x = self.pool(x)
        return self.bn(self.conv(x)) if self.fix else x


class BottleneckConv(nn.Module):
    """A plain conv op inside a 1x1 bottleneck, as AmoebaNet's TF code builds them.

    ReLU-conv1x1(``r``)-norm, ReLU, the conv(s) with the stride, norm, ReLU-conv1x1(out)-norm,
    with ``r = int(out / 4)`` (``int(3 * out / 8)`` for 1x3-3x1). When ``r < 1`` there is no
    bottleneck: ReLU, the conv(s) at the output width, norm. Factorized kernels (1xk then
    kx1) have a norm and a ReLU between their two convs; each carries the stride on its
    long axis.

    Args:
        kernel (str): ``'3x3'``, ``'1x3_3x1'`` or ``'1x7_7x1'``.
        in_channels (int): input width.
        out_channels (int): output width.
        stride (int): stride. Defaults to 1.
        dilation (int): dilation of a 3x3 kernel. Defaults to 1.
        padding (str): one of :data:`PADDING_MODES`. Defaults to 'pytorch'.
        norm_cfg (dict, optional): norm layer config. Defaults to None.
    """

    def __init__(self, kernel, in_channels, out_channels, stride=1, dilation=1,
                 padding='pytorch', norm_cfg=None):
        super().__init__()
        mid = int(3 * out_channels / 8) if kernel == '1x3_3x1' else int(out_channels / 4)
        self.bottleneck = mid >= 1
        if self.bottleneck:
            self.pre = ReLUConvBN(in_channels, mid, norm_cfg=norm_cfg)
            c_in = c = mid
        else:
            c_in, c = in_channels, out_channels
        if kernel == '3x3':
            self.conv1 = make_conv(c_in, c, 3, stride, dilation, padding=padding)
            self.factorized = False
        else:
            k = int(kernel[2])
            self.conv1 = make_conv(c_in, c, (1, k), (1, stride), padding=padding)
            self.bn_mid = build_norm(norm_cfg, c)
            self.conv2 = make_conv(c, c, (k, 1), (stride, 1), padding=padding)
            self.factorized = True
        self.bn = build_norm(norm_cfg, c)
        if self.bottleneck:
            self.post = ReLUConvBN(mid, out_channels, norm_cfg=norm_cfg)

    def forward(self, x):
        if self.bottleneck:
            x = self.pre(x)
        x = self.conv1(F.relu(x))
        if self.factorized:
            x = self.conv2(F.relu(self.bn_mid(x)))
        x = self.bn(x)
        return self.post(x) if self.bottleneck else x


class FactorizedReduce(nn.Module):
    """Halve the resolution without dropping pixels: two 1x1 convs on the even and on the
    odd (shifted by one, zero-padded at the end) pixels, concatenated, then norm.

    Each path makes ``out_channels // 2`` channels, so an odd ``out_channels`` gives one
    channel less (:attr:`out_channels`), as in TF's ``factorized_reduction``.

    Args:
        in_channels (int): input width.
        out_channels (int): requested output width (at least 2).
        relu (bool): start with a ReLU (TF does when it reduces ``h1``, not when it fixes up
            a concatenated state). Defaults to True.
        norm_cfg (dict, optional): norm layer config. Defaults to None.
    """

    def __init__(self, in_channels, out_channels, relu=True, norm_cfg=None):
        super().__init__()
        if out_channels < 2:
            raise ValueError(f'out_channels: the factorized reduction needs a width >= 2, '
                             f'got {out_channels}')
        self.relu, half = relu, out_channels // 2
        self.out_channels = 2 * half
        self.conv1 = make_conv(in_channels, half, 1)
        self.conv2 = make_conv(in_channels, half, 1)
        self.bn = build_norm(norm_cfg, 2 * half)

    def forward(self, x):
        if self.relu:
            x = F.relu(x)
        shifted = F.pad(x[..., 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv1(x[..., ::2, ::2]),
                                  self.conv2(shifted[..., ::2, ::2])], 1))


def _identity(c_in, c_out, stride, padding='pytorch', norm_cfg=None):
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return ReLUConvBN(c_in, c_out, 1, stride, padding, norm_cfg)


OPS = {
    'identity': _identity,
    'conv_1x1': lambda i, o, s, padding='pytorch', norm_cfg=None:
        ReLUConvBN(i, o, 1, s, padding, norm_cfg),
    'conv_3x3': lambda i, o, s, padding='pytorch', norm_cfg=None:
        BottleneckConv('3x3', i, o, s, padding=padding, norm_cfg=norm_cfg),
    'conv_1x3_3x1': lambda i, o, s, padding='pytorch', norm_cfg=None:
        BottleneckConv('1x3_3x1', i, o, s, padding=padding, norm_cfg=norm_cfg),
    'conv_1x7_7x1': lambda i, o, s, padding='pytorch', norm_cfg=None:
        BottleneckConv('1x7_7x1', i, o, s, padding=padding, norm_cfg=norm_cfg),
    'dil_conv_3x3': lambda i, o, s, padding='pytorch', norm_cfg=None:
        BottleneckConv('3x3', i, o, s, dilation=2, padding=padding, norm_cfg=norm_cfg),
    'sep_conv_3x3': lambda i, o, s, padding='pytorch', norm_cfg=None:
        SepConv(i, o, 3, s, padding=padding, norm_cfg=norm_cfg),
    'sep_conv_5x5': lambda i, o, s, padding='pytorch', norm_cfg=None:
        SepConv(i, o, 5, s, padding=padding, norm_cfg=norm_cfg),
    'sep_conv_7x7': lambda i, o, s, padding='pytorch', norm_cfg=None:
        SepConv(i, o, 7, s, padding=padding, norm_cfg=norm_cfg),
    'dil_sep_conv_3x3': lambda i, o, s, padding='pytorch', norm_cfg=None:
        SepConv(i, o, 3, s, dilation=2, repeats=1, padding=padding, norm_cfg=norm_cfg),
    'avg_pool_3x3': lambda i, o, s, padding='pytorch', norm_cfg=None:
        PoolBranch('avg', 3, i, o, s, padding, norm_cfg),
    'max_pool_3x3': lambda i, o, s, padding='pytorch', norm_cfg=None:
        PoolBranch('max', 3, i, o, s, padding, norm_cfg),
    'max_pool_5x5': lambda i, o, s, padding='pytorch', norm_cfg=None:
        PoolBranch('max', 5, i, o, s, padding, norm_cfg),
    'max_pool_7x7': lambda i, o, s, padding='pytorch', norm_cfg=None:
        PoolBranch('max', 7, i, o, s, padding, norm_cfg),
}
"""Op factories ``(in_channels, out_channels, stride, padding=, norm_cfg=) -> nn.Module``
for every op of :data:`~nas_det.space.cells.NASNET_OPS`, ``AMOEBA_OPS`` and ``PNAS_OPS``.
``sep_conv_KxK`` is ReLU-dwconv-pwconv-BN twice (TF); ``dil_sep_conv_3x3`` one such unit
with dilation 2 (DARTS); the plain convs (``conv_3x3``, ``conv_1x3_3x1``, ``conv_1x7_7x1``,
``dil_conv_3x3``: 3x3 with dilation 2) sit in AmoebaNet's 1x1 bottleneck; ``conv_1x1``
is ReLU-conv1x1-BN."""


def build_op(name: str, in_channels: int, out_channels: int, stride: int = 1,
             padding: str = 'pytorch', norm_cfg=None, field: str = 'op') -> nn.Module:
    """Build op ``name`` of :data:`OPS` (``ValueError`` naming ``field`` if unknown)."""
    if name not in OPS:
        raise bad_value(field, name, list(OPS))
    return OPS[name](in_channels, out_channels, stride, padding=padding, norm_cfg=norm_cfg)


__all__ = ['PADDING_MODES', 'DEFAULT_NORM', 'OPS', 'build_op', 'build_norm', 'make_conv',
           'make_pool', 'same_padding', 'drop_path', 'ReLUConvBN', 'SepConv', 'PoolBranch',
           'BottleneckConv', 'FactorizedReduce', 'Conv2dSame', 'Pool2dSame']
