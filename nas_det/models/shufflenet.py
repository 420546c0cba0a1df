"""DetNAS ShuffleNetV2 backbones: the one-shot supernet and a fixed subnet.

`DetNAS: Backbone Search for Object Detection <https://arxiv.org/abs/1903.10979>`_.
Every choice block offers four ops (:data:`~nas_det.space.detnas.DETNAS_OPS`): a
ShuffleNetV2 unit with a 3x3, 5x5 or 7x7 depthwise conv, or an Xception-like unit with
three depthwise 3x3 convs. The first block of each stage has stride 2; as in the official
DetNAS code the stem is a single stride-2 conv (no max-pool), so the four stage outputs
have strides 4, 8, 16 and 32, like ResNet's C2-C5.

Both backbones are built from the same layer description (:func:`unit_specs`), which
:func:`backbone_cost` also walks to count multiply-adds without running a model, in tens of
microseconds: fast enough to check a FLOPs limit for every candidate of a search.
Their checkpoint keys are plain and shared: ``stages.{s}.{b}.choices.{op}.main.0.conv.weight``
(0-based stage and block indices), so a subnet loads its weights from a supernet
checkpoint by name (:func:`slice_supernet_state_dict`).
"""
from __future__ import annotations

import os
import re
from collections import namedtuple
from functools import lru_cache
from typing import Mapping, Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmengine.registry import MODELS

from ..space.base import bad_value
from ..space.detnas import DETNAS_OPS, DetNASPath, DetNASSpace
from ..space.loading import load_genotype
from .flops import conv2d_cost, conv_out_size
from .frozen import FrozenStagesMixin

ARCH_SETTINGS = {
    '300M': dict(stem_channels=16, stage_channels=(64, 160, 320, 640), stage_blocks=(4, 4, 8, 4)),
    '1.3G': dict(stem_channels=48, stage_channels=(96, 240, 480, 960),
                 stage_blocks=(8, 8, 16, 8)),
    '3.8G': dict(stem_channels=72, stage_channels=(172, 432, 864, 1728),
                 stage_blocks=(8, 8, 16, 8)),
}
"""The published DetNAS search spaces (official DetNAS code)."""

LAST_CHANNELS = 1024
"""Width of the optional last 1x1 conv (classification pre-training)."""

OP_KERNELS = {'shuffle3x3': ('shuffle', 3), 'shuffle5x5': ('shuffle', 5),
              'shuffle7x7': ('shuffle', 7), 'xception3x3': ('xception', 3)}
"""Unit type and depthwise kernel size of every op."""

ConvSpec = namedtuple('ConvSpec', 'in_channels out_channels kernel_size stride groups relu')
ConvSpec.__doc__ = 'One conv + norm (+ ReLU when ``relu``); padding is ``kernel_size // 2``.'

Layout = namedtuple('Layout', 'stem_channels stage_channels stage_blocks')


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never below 90% of it."""
    out = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * value else out


def arch_layout(arch='300M', widen_factor: float = 1.0) -> Layout:
    """Stem width, stage widths and stage block counts of an architecture.

    Args:
        arch (str | dict): a preset of :data:`ARCH_SETTINGS` (``'300M'``, ``'1.3G'``,
            ``'3.8G'``) or a dict with ``stem_channels``, ``stage_channels`` and
            ``stage_blocks``. Defaults to ``'300M'``.
        widen_factor (float): width multiplier. With a factor other than 1 every width
            is scaled and rounded to a multiple of 8 (the last conv keeps 1024).
            Defaults to 1.0.

    Returns:
        Layout: ``(stem_channels, stage_channels, stage_blocks)``, tuples of ints.
    """
    if isinstance(arch, str):
        if arch not in ARCH_SETTINGS:
            raise bad_value('arch', arch, list(ARCH_SETTINGS))
        arch = ARCH_SETTINGS[arch]
    if not isinstance(arch, Mapping) or set(arch) != {'stem_channels', 'stage_channels',
                                                       'stage_blocks'}:
        raise ValueError(f'arch: a preset name {list(ARCH_SETTINGS)} or a dict with keys '
                         f'stem_channels, stage_channels, stage_blocks is expected, got {arch!r}')
    if (isinstance(widen_factor, bool) or not isinstance(widen_factor, (int, float))
            or not widen_factor > 0):
        raise ValueError(f'widen_factor: a positive number is expected, got {widen_factor!r}')
    stem, channels, blocks = arch['stem_channels'], arch['stage_channels'], arch['stage_blocks']
    ints = [stem, *channels, *blocks]
    if (not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in ints)
            or len(channels) != len(blocks) or not channels):
        raise ValueError(f'arch: positive ints and as many stage_channels as stage_blocks are '
                         f'expected, got {dict(arch)!r}')
    if widen_factor != 1:
        stem = make_divisible(stem * widen_factor)
        channels = [make_divisible(c * widen_factor) for c in channels]
    for i, (c_in, c_out) in enumerate(zip([stem, *channels], channels)):
        # A stride-2 block's main branch makes c_out - c_in channels; stride-1 blocks halve.
        if c_out % 2 or c_out <= c_in:
            raise ValueError(f'arch: stage {i} width {c_out} (widen_factor={widen_factor}) must '
                             f'be even and larger than its input width {c_in}')
    return Layout(stem, tuple(channels), tuple(blocks))


def unit_specs(op: str, in_channels: int, out_channels: int, stride: int) -> tuple:
    """The convs of one choice (as in the official DetNAS code).

    A stride-1 unit keeps the even channels of its input and feeds the odd ones (a
    channel shuffle and split) to the main branch, which makes ``out_channels // 2``.
    A stride-2 unit feeds its whole input to both branches: the projection branch
    (depthwise kxk stride 2, then a pointwise conv) keeps ``in_channels``, the main
    branch makes ``out_channels - in_channels``. The main branch's middle width is
    ``out_channels // 2``. Outputs are concatenated ``[projection, main]``.

    Args:
        op (str): one of :data:`OP_KERNELS`.
        in_channels (int): input width.
        out_channels (int): output width.
        stride (int): 1 or 2.

    Returns:
        tuple[list[ConvSpec], list[ConvSpec]]: projection-branch convs (empty when
        stride is 1) and main-branch convs.
    """
    if op not in OP_KERNELS:
        raise bad_value('op', op, list(OP_KERNELS))
    kind, k = OP_KERNELS[op]
    mid = out_channels // 2
    if stride == 1:
        if in_channels != out_channels:
            raise ValueError(f'a stride-1 unit keeps its width, got {in_channels} -> '
                             f'{out_channels}')
        c_in, c_out, proj = out_channels // 2, out_channels // 2, []
    else:
        c_in, c_out = in_channels, out_channels - in_channels
        proj = [ConvSpec(c_in, c_in, k, stride, c_in, False), ConvSpec(c_in, c_in, 1, 1, 1, True)]
    if kind == 'shuffle':
        main = [ConvSpec(c_in, mid, 1, 1, 1, True), ConvSpec(mid, mid, k, stride, mid, False),
                ConvSpec(mid, c_out, 1, 1, 1, True)]
    else:
        main = [ConvSpec(c_in, c_in, 3, stride, c_in, False), ConvSpec(c_in, mid, 1, 1, 1, True),
                ConvSpec(mid, mid, 3, 1, mid, False), ConvSpec(mid, mid, 1, 1, 1, True),
                ConvSpec(mid, mid, 3, 1, mid, False), ConvSpec(mid, c_out, 1, 1, 1, True)]
    return proj, main


def read_genotype(genotype, stage_blocks=None) -> DetNASPath:
    """A :class:`DetNASPath` from any of its forms (not yet checked against a space).

    Args:
        genotype (DetNASPath | dict | str | os.PathLike | Sequence[str]): a path, its
            JSON dict (``{"space": "detnas", ...}``, also wrapped as ``{"genotype":
            {...}}``), the file name of such a JSON file, or the list of op names.
        stage_blocks (Sequence[int], optional): blocks per stage, needed only for a list
            of op names. Defaults to None.
    """
    if isinstance(genotype, (str, os.PathLike, Mapping, DetNASPath)):
        return load_genotype(genotype, DetNASSpace.name)
    if stage_blocks is not None and isinstance(genotype, (list, tuple)):
        if len(genotype) != sum(stage_blocks):
            raise ValueError(f'ops: expected {sum(stage_blocks)} ops for stage_blocks '
                             f'{tuple(stage_blocks)}, got {len(genotype)}')
        return load_genotype({'stage_blocks': list(stage_blocks), 'ops': list(genotype)},
                             DetNASSpace.name)
    raise ValueError(f'genotype: a DetNASPath, its dict, a JSON file name or a list of op '
                     f'names is expected, got {type(genotype).__name__}')


def parse_genotype(genotype, space: DetNASSpace) -> DetNASPath:
    """:func:`read_genotype`, validated against ``space`` (``ValueError`` naming the bad
    field: ``ops``, ``stage_blocks``, ``space`` or the block key of an unknown op)."""
    return space.validate(read_genotype(genotype, space.stage_blocks))


# ---------------------------------------------------------------------------------------
# analytic cost (FLOPs convention of nas_det.models.flops)
# ---------------------------------------------------------------------------------------
def specs_cost(specs: Sequence[ConvSpec], height: int, width: int) -> tuple:
    """Cost of a chain of :class:`ConvSpec` (conv + norm each).

    Returns:
        tuple: ``(flops, params, out_height, out_width)``.
    """
    flops = params = 0
    for s in specs:
        f, p, height, width = conv2d_cost(s.in_channels, s.out_channels, s.kernel_size, height,
                                          width, s.stride, groups=s.groups)
        flops, params = flops + f, params + p
    return flops, params, height, width


@lru_cache(maxsize=8192)
def unit_cost(op: str, in_channels: int, out_channels: int, stride: int, height: int,
              width: int) -> tuple:
    """``(flops, params, out_height, out_width)`` of one choice unit (cached)."""
    proj, main = unit_specs(op, in_channels, out_channels, stride)
    fp, pp, _, _ = specs_cost(proj, height, width)
    fm, pm, h, w = specs_cost(main, height, width)
    return fp + fm, pp + pm, h, w


def _arch_key(arch):
    if isinstance(arch, Mapping):
        return tuple((k, tuple(v) if isinstance(v, (list, tuple)) else v)
                     for k, v in sorted(arch.items()))
    return arch


@lru_cache(maxsize=64)
def _plan(arch_key, widen_factor: float, input_shape: tuple, with_last_conv: bool) -> tuple:
    """Fixed part of the cost and the (in, out, stride, h, w) of every block."""
    arch = dict((k, v) for k, v in arch_key) if isinstance(arch_key, tuple) else arch_key
    stem, channels, blocks = arch_layout(arch, widen_factor)
    c, h, w = input_shape
    flops, params, h, w = conv2d_cost(c, stem, 3, h, w, stride=2)
    plan, c_in = [], stem
    for c_out, n in zip(channels, blocks):
        for b in range(n):
            stride = 1 if b else 2
            plan.append((c_out if b else c_in, c_out, stride, h, w))
            h, w = conv_out_size(h, 3, stride, 1), conv_out_size(w, 3, stride, 1)
        c_in = c_out
    if with_last_conv:
        f, p, _, _ = conv2d_cost(c_in, LAST_CHANNELS, 1, h, w)
        flops, params = flops + f, params + p
    space = DetNASSpace(arch if isinstance(arch, str) else blocks)
    return flops, params, tuple(plan), space


def backbone_cost(arch, genotype, input_shape: Sequence[int] = (3, 224, 224),
                  widen_factor: float = 1.0, with_last_conv: bool = False) -> dict:
    """Analytic FLOPs (multiply-adds) and parameters of a DetNAS backbone path.

    Equals ``FlopAnalyzer`` on :class:`ShuffleNetV2Subnet` (conv multiply-adds, one image)
    and its ``sum(p.numel())``, including norm parameters.

    Args:
        arch (str | dict): as in :func:`arch_layout` (``'300M'``, ``'1.3G'``, ``'3.8G'``
            or a dict).
        genotype (DetNASPath | dict | str | Sequence[str]): the path (any form
            :func:`parse_genotype` reads).
        input_shape (Sequence[int]): ``(C, H, W)`` of one image. Defaults to
            ``(3, 224, 224)``.
        widen_factor (float): width multiplier. Defaults to 1.0.
        with_last_conv (bool): count the last 1x1 conv to 1024 channels. Defaults to False.

    Returns:
        dict: ``flops`` and ``params`` (ints).
    """
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(v, int) and v > 0 for v in shape):
        raise ValueError(f'input_shape: (C, H, W) positive ints are expected, got {input_shape!r}')
    flops, params, plan, space = _plan(_arch_key(arch), widen_factor, shape, bool(with_last_conv))
    path = parse_genotype(genotype, space)
    for op, (c_in, c_out, stride, h, w) in zip(path.ops, plan):
        f, p, _, _ = unit_cost(op, c_in, c_out, stride, h, w)
        flops, params = flops + f, params + p
    return dict(flops=flops, params=params)


CHANNEL_SPLITS = ('even_odd', 'halves')
"""How a stride-1 unit splits its input into the kept half and the main branch's half."""


class _EvenOddSplitNHWC(torch.autograd.Function):
    """``(x[:, 0::2], x[:, 1::2])`` whose backward writes both gradients into one tensor
    of ``x``'s NHWC layout. Autograd's slice backward builds NCHW zeros, so in a
    channels_last network every unit boundary would hand NCHW gradients to NHWC
    activations, and ReLU's backward on such mixed layouts runs about 3x slower. Values
    are the same either way (the gradients are copied, not summed in another order)."""

    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        return x[:, 0::2], x[:, 1::2]

    @staticmethod
    def backward(ctx, g_keep, g_main):
        ref = g_keep if g_keep is not None else g_main
        grad = torch.empty(ctx.shape, dtype=ref.dtype, device=ref.device,
                           memory_format=torch.channels_last)
        for view, g in ((grad[:, 0::2], g_keep), (grad[:, 1::2], g_main)):
            if g is None:
                view.zero_()
            else:
                view.copy_(g)
        return grad


def split_channels(x: torch.Tensor, mode: str = 'even_odd') -> tuple:
    """Split ``x`` (N, C, H, W) into the half a stride-1 unit keeps and the half its main
    branch transforms.

    ``'even_odd'`` keeps the even channels and transforms the odd ones (Single Path
    One-Shot, the DetNAS searched networks). ``'halves'`` is the split the official DetNAS
    ImageNet supernet was trained with: the channels are interleaved as
    ``[0, C/2, 1, C/2 + 1, ...]`` and the first half of that order is kept.

    Args:
        x (torch.Tensor): the unit's input.
        mode (str): one of :data:`CHANNEL_SPLITS`. Defaults to ``'even_odd'``.
    """
    if mode == 'even_odd':
        if (isinstance(x, torch.Tensor) and x.requires_grad and torch.is_grad_enabled()
                and x.dim() == 4 and not x.is_contiguous()
                and x.is_contiguous(memory_format=torch.channels_last)
                and not torch.jit.is_tracing()):  # an ONNX / TorchScript trace: plain slices
            return _EvenOddSplitNHWC.apply(x)
        return x[:, 0::2], x[:, 1::2]
    n, c, h, w = x.shape
    y = x.reshape(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)
    return y[:, :c // 2], y[:, c // 2:]


def _convs(specs: Sequence[ConvSpec], norm_cfg: dict) -> nn.Sequential:
    return nn.Sequential(*[
        ConvModule(s.in_channels, s.out_channels, s.kernel_size, s.stride, s.kernel_size // 2,
                   groups=s.groups, norm_cfg=norm_cfg,
                   act_cfg=dict(type='ReLU') if s.relu else None) for s in specs])


class ShuffleUnit(nn.Module):
    """One choice of a block: a ShuffleNetV2 or Xception-like unit (see :func:`unit_specs`).

    Args:
        op (str): one of :data:`OP_KERNELS`.
        in_channels (int): input width.
        out_channels (int): output width.
        stride (int): 1 or 2.
        norm_cfg (dict): norm layer config. Defaults to ``dict(type='BN')``.
        channel_split (str): how a stride-1 unit splits its input, one of
            :data:`CHANNEL_SPLITS` (see :func:`split_channels`). Defaults to ``'even_odd'``.
    """

    def __init__(self, op, in_channels, out_channels, stride, norm_cfg=dict(type='BN'),
                 channel_split='even_odd'):
        super().__init__()
        proj, main = unit_specs(op, in_channels, out_channels, stride)
        self.stride = stride
        self.channel_split = channel_split
        if proj:
            self.proj = _convs(proj, norm_cfg)
        self.main = _convs(main, norm_cfg)

    def forward(self, x):
        if self.stride == 1:
            keep, x = split_channels(x, self.channel_split)
            return torch.cat((keep, self.main(x)), 1)
        return torch.cat((self.proj(x), self.main(x)), 1)


def _copy_resized(dst: torch.Tensor, src: torch.Tensor) -> None:
    """Copy ``src`` into ``dst``; kernels of another spatial size are centred (zero
    padding or a centre crop)."""
    if dst.shape == src.shape:
        dst.copy_(src)
        return
    if dst.dim() != 4 or dst.shape[:2] != src.shape[:2]:
        raise ValueError(f'cannot copy a {tuple(src.shape)} tensor into {tuple(dst.shape)}')
    dst.zero_()
    k_dst, k_src = dst.shape[-1], src.shape[-1]
    k = min(k_dst, k_src)
    od, os_ = (k_dst - k) // 2, (k_src - k) // 2
    dst[..., od:od + k, od:od + k].copy_(src[..., os_:os_ + k, os_:os_ + k])


def _copy_conv_module(dst: nn.Module, src: nn.Module) -> None:
    """Copy a ConvModule (conv weight and its norm's parameters and statistics)."""
    for (_, d), (_, s) in zip(dst.named_parameters(), src.named_parameters()):
        _copy_resized(d, s)
    for (_, d), (_, s) in zip(dst.named_buffers(), src.named_buffers()):
        d.copy_(s)


def _identity_conv_module(dst: nn.Module) -> None:
    """Make a ConvModule's conv the identity (a centred 1 in a depthwise kernel, or an
    identity matrix for a square pointwise conv) and reset its norm."""
    w = dst.conv.weight
    w.zero_()
    c = w.shape[-1] // 2
    if dst.conv.groups == w.shape[0]:
        w[:, 0, c, c] = 1
    else:
        w[:, :, c, c].copy_(torch.eye(w.shape[0], w.shape[1]))
    if getattr(dst.conv, 'bias', None) is not None:
        dst.conv.bias.zero_()
    norm = getattr(dst, 'norm', None) if getattr(dst, 'with_norm', False) else None
    if norm is not None:
        if hasattr(norm, 'reset_parameters'):
            norm.reset_parameters()


def _inherit_unit(src: 'ShuffleUnit', dst: 'ShuffleUnit') -> None:
    """Initialise choice unit ``dst`` from unit ``src`` (see
    :meth:`ShuffleNetV2Supernet.inherit_choice_weights`)."""
    if hasattr(dst, 'proj'):
        for d, s in zip(dst.proj, src.proj):
            _copy_conv_module(d, s)
    if len(dst.main) == len(src.main):
        for d, s in zip(dst.main, src.main):
            _copy_conv_module(d, s)
    elif len(dst.main) == 6:  # xception from shuffle: identity dw, pw, dw, identity, identity, pw
        _identity_conv_module(dst.main[0])
        _copy_conv_module(dst.main[1], src.main[0])
        _copy_conv_module(dst.main[2], src.main[1])
        _identity_conv_module(dst.main[3])
        _identity_conv_module(dst.main[4])
        _copy_conv_module(dst.main[5], src.main[2])
    else:  # shuffle from xception: its last dw + pw, the first pw's input side
        _copy_conv_module(dst.main[1], src.main[4])
        _copy_conv_module(dst.main[2], src.main[5])
        _copy_conv_module(dst.main[0], src.main[1])


class ChoiceBlock(nn.Module):
    """A block holding candidate units in ``choices`` (keyed by op name); only the
    ``active`` one runs.

    Args:
        ops (Sequence[str]): the candidate ops to build.
        in_channels (int): input width.
        out_channels (int): output width.
        stride (int): 1 or 2.
        norm_cfg (dict): norm layer config.
        channel_split (str): see :class:`ShuffleUnit`. Defaults to ``'even_odd'``.
    """

    def __init__(self, ops, in_channels, out_channels, stride, norm_cfg,
                 channel_split='even_odd'):
        super().__init__()
        self.choices = nn.ModuleDict(
            {op: ShuffleUnit(op, in_channels, out_channels, stride, norm_cfg, channel_split)
             for op in ops})
        self.active = ops[0] if len(ops) == 1 else None

    def forward(self, x):
        if self.active is None:
            raise RuntimeError('no op chosen for this supernet block: call '
                               'backbone.set_choices(genotype) before running the supernet')
        return self.choices[self.active](x)


class _ShuffleNetV2(FrozenStagesMixin, BaseModule):
    """Shared body of the DetNAS supernet and subnet (``block_ops``: ops per block)."""

    def __init__(self, block_ops, arch, widen_factor, out_indices, frozen_stages, norm_cfg,
                 norm_eval, with_last_conv, init_cfg, channels_last=False,
                 channel_split='even_odd'):
        if init_cfg is None:
            init_cfg = [dict(type='Kaiming', layer='Conv2d'),
                        dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]
        super().__init__(init_cfg=init_cfg)
        self.layout = arch_layout(arch, widen_factor)
        stem, channels, blocks = self.layout
        self.arch, self.widen_factor = arch, widen_factor
        num_outs = len(channels) + bool(with_last_conv)
        if (isinstance(out_indices, (str, bytes)) or not isinstance(out_indices, Sequence)
                or not out_indices or any(i not in range(num_outs) for i in out_indices)):
            raise ValueError(f'out_indices: a non-empty list of indices in {list(range(num_outs))}'
                             f' is expected (index {len(channels)} is the last conv, '
                             f'with_last_conv=True only), got {out_indices!r}')
        if frozen_stages not in range(-1, len(channels) + 1):
            raise bad_value('frozen_stages', frozen_stages, list(range(-1, len(channels) + 1)))
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_last_conv = with_last_conv
        self._space = DetNASSpace(arch if isinstance(arch, str) else blocks)
        if channel_split not in CHANNEL_SPLITS:
            raise bad_value('channel_split', channel_split, list(CHANNEL_SPLITS))
        self.channel_split = channel_split
        self.stem = ConvModule(3, stem, 3, 2, 1, norm_cfg=norm_cfg, act_cfg=dict(type='ReLU'))
        self.stages = nn.ModuleList()
        ops = iter(block_ops)
        c_in = stem
        for c_out, n in zip(channels, blocks):
            self.stages.append(nn.Sequential(*[
                ChoiceBlock(next(ops), c_out if b else c_in, c_out, 1 if b else 2, norm_cfg,
                            channel_split)
                for b in range(n)]))
            c_in = c_out
        self.last_conv = ConvModule(c_in, LAST_CHANNELS, 1, norm_cfg=norm_cfg,
                                    act_cfg=dict(type='ReLU')) if with_last_conv else None
        widths = [*channels, LAST_CHANNELS]
        self._out_channels = [widths[i] for i in self.out_indices]
        if not isinstance(channels_last, bool):
            raise bad_value('channels_last', channels_last, [False, True])
        self.channels_last = channels_last
        self.nhwc_outputs = False  # set by ChannelsLastHook: the neck and head run NHWC too
        if channels_last:  # weights in NHWC too (in-place init and loading keep it)
            self.to(memory_format=torch.channels_last)
        self._freeze_stages()

    @property
    def search_space(self) -> DetNASSpace:
        """The :class:`DetNASSpace` of this backbone's stage blocks."""
        return self._space

    @property
    def out_channels(self) -> list:
        """Width of every output, in ``out_indices`` order."""
        return list(self._out_channels)

    def forward(self, x):
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        if self.last_conv is not None:
            x = self.last_conv(x)
            if len(self.stages) in self.out_indices:
                outs.append(x)
        if self.channels_last and not self.nhwc_outputs:  # the neck and head get NCHW
            outs = [o.contiguous() for o in outs]
        return tuple(outs)

    def _frozen_modules(self):
        if self.frozen_stages < 0:
            return []
        return [self.stem, *self.stages[:self.frozen_stages]]


_ARGS_DOC = """
        arch (str | dict): ``'300M'``, ``'1.3G'``, ``'3.8G'`` (see :data:`ARCH_SETTINGS`) or a
            dict with ``stem_channels``, ``stage_channels``, ``stage_blocks``.
            Defaults to ``'300M'``.
        widen_factor (float): width multiplier; widths are rounded to multiples of 8 when
            it is not 1. Defaults to 1.0.
        out_indices (Sequence[int]): outputs to return: stages 0-3, and 4 for the last
            conv (``with_last_conv=True`` only). Defaults to ``(0, 1, 2, 3)``.
        frozen_stages (int): freeze (eval mode, no gradients) the stem and the first
            ``frozen_stages`` stages; -1 freezes nothing. Defaults to -1.
        norm_cfg (dict): norm layer config. Defaults to ``dict(type='BN')``.
        norm_eval (bool): keep BN layers in eval mode while training. Defaults to False.
        with_last_conv (bool): add the 1x1 conv to 1024 channels (+ norm + ReLU) used for
            classification. Defaults to False.
        init_cfg (dict | list[dict], optional): initialization config. Defaults to None
            (Kaiming convs, unit norm weights).
        channels_last (bool): run the backbone in NHWC memory layout (weights and
            activations; outputs are returned in the usual NCHW layout). Faster for the
            depthwise convs on CPU (``bench/detnas.py --layout-pairs N`` measures it);
            outputs equal the NCHW ones up to float rounding. Defaults to False.
        channel_split (str): how stride-1 units split their input: ``'even_odd'`` or
            ``'halves'`` (the official DetNAS ImageNet supernet's split; see
            :func:`split_channels` and ``tools/convert_detnas_official.py``).
            Defaults to ``'even_odd'``."""


@MODELS.register_module()
class ShuffleNetV2Supernet(_ShuffleNetV2):
    __doc__ = f"""DetNAS one-shot ShuffleNetV2 supernet (`DetNAS
    <https://arxiv.org/abs/1903.10979>`_).

    Every block holds its four candidate ops; :meth:`set_choices` selects one path
    and :meth:`forward` runs only that path. There is no sampling inside the module:
    the training loop (or a hook) calls ``set_choices`` with a sampled genotype.

    Example::

        backbone = MODELS.build(dict(type='ShuffleNetV2Supernet', arch='300M'))
        backbone.set_choices(backbone.search_space.sample(random.Random(0)))
        feats = backbone(torch.rand(1, 3, 224, 224))  # strides 4, 8, 16, 32

    Args:{_ARGS_DOC}
    """

    def __init__(self, arch='300M', widen_factor=1.0, out_indices=(0, 1, 2, 3),
                 frozen_stages=-1, norm_cfg=dict(type='BN'), norm_eval=False,
                 with_last_conv=False, init_cfg=None, channels_last=False,
                 channel_split='even_odd'):
        blocks = arch_layout(arch, widen_factor).stage_blocks
        super().__init__([DETNAS_OPS] * sum(blocks), arch, widen_factor, out_indices,
                         frozen_stages, norm_cfg, norm_eval, with_last_conv, init_cfg,
                         channels_last, channel_split)
        self._choices = None

    @property
    def choices(self) -> DetNASPath | None:
        """The current path, or None before :meth:`set_choices`."""
        return self._choices

    def set_choices(self, genotype) -> DetNASPath:
        """Select the path that :meth:`forward` runs.

        Args:
            genotype (DetNASPath | dict | str | Sequence[str]): the path, its dict, a
                genotype JSON file or the list of op names (see :func:`parse_genotype`).

        Returns:
            DetNASPath: the validated path.
        """
        path = parse_genotype(genotype, self._space)
        for block, op in zip((b for stage in self.stages for b in stage), path.ops):
            block.active = op
        self._choices = path
        return path

    @torch.no_grad()
    def inherit_choice_weights(self, source='shuffle3x3', ops=None) -> int:
        """Initialise the other choices of every block from one trained choice.

        A warm start for one-shot training (``UniformSamplingHook(warmup_path=...)``):
        after a fixed path has been trained alone, its weights are copied into the other
        choices, which then train on their own (the copies share nothing). Between
        shuffle units every conv, norm and running statistic is copied; a depthwise
        kernel of another size is zero-padded (or centre-cropped), so a 3x3 unit copied
        into a 5x5 one computes the same function. An ``xception3x3`` unit (three
        depthwise + pointwise pairs) gets the shuffle unit's first pointwise conv, its
        depthwise kernel (resized to 3x3) and its last pointwise conv, with the extra
        depthwise and pointwise convs set to the identity; that is close to, not equal
        to, the source's function (the extra norms and ReLU differ). A shuffle unit
        copied from an xception one takes its last three convs' shapes that fit.

        Args:
            source (str | Sequence[str]): the trained op, for every block or one per
                block (a path's op names). Defaults to ``'shuffle3x3'``.
            ops (Sequence[str], optional): the choices to overwrite. Defaults to None
                (every op of the block other than its source).

        Returns:
            int: the number of choice units overwritten.
        """
        blocks = [b for stage in self.stages for b in stage]
        sources = [source] * len(blocks) if isinstance(source, str) else list(source)
        if len(sources) != len(blocks):
            raise ValueError(f'source: one op for every block ({len(blocks)}) or a single op '
                             f'name is expected, got {len(sources)}')
        count = 0
        for block, src_op in zip(blocks, sources):
            if src_op not in block.choices:
                raise bad_value('source', src_op, list(block.choices))
            for op in (block.choices if ops is None else ops):
                if op not in block.choices:
                    raise bad_value('ops', op, list(block.choices))
                if op != src_op:
                    _inherit_unit(block.choices[src_op], block.choices[op])
                    count += 1
        return count

    def path_cost(self, genotype, input_shape=(3, 224, 224)) -> dict:
        """Analytic ``flops`` (multiply-adds) and ``params`` of a path of this supernet at
        ``input_shape`` (C, H, W), as :func:`backbone_cost`; what the search checks a
        FLOPs limit with, without running the model."""
        return backbone_cost(self.arch, genotype, tuple(input_shape), self.widen_factor,
                             self.with_last_conv)


@MODELS.register_module()
class ShuffleNetV2Subnet(_ShuffleNetV2):
    __doc__ = f"""A fixed path of the DetNAS ShuffleNetV2 supernet (`DetNAS
    <https://arxiv.org/abs/1903.10979>`_).

    Only the chosen op of every block is built, under the same names as in
    :class:`ShuffleNetV2Supernet`, so its state-dict keys are a subset of the supernet's
    and :meth:`slice_supernet_state_dict` cuts a subnet checkpoint out of a supernet one.

    Args:
        genotype (DetNASPath | dict | str | Sequence[str]): the path, its dict, a genotype
            JSON file (e.g. a search's ``best_genotype.json``) or the list of op names.{_ARGS_DOC}
    """

    def __init__(self, genotype, arch='300M', widen_factor=1.0, out_indices=(0, 1, 2, 3),
                 frozen_stages=-1, norm_cfg=dict(type='BN'), norm_eval=False,
                 with_last_conv=False, init_cfg=None, channels_last=False,
                 channel_split='even_odd'):
        blocks = arch_layout(arch, widen_factor).stage_blocks
        path = parse_genotype(genotype, DetNASSpace(arch if isinstance(arch, str) else blocks))
        super().__init__([(op,) for op in path.ops], arch, widen_factor, out_indices,
                         frozen_stages, norm_cfg, norm_eval, with_last_conv, init_cfg,
                         channels_last, channel_split)
        self._choices = path

    @property
    def choices(self) -> DetNASPath:
        """The fixed path."""
        return self._choices

    @staticmethod
    def slice_supernet_state_dict(state_dict: Mapping, genotype,
                                  prefix: str = 'backbone.') -> dict:
        """See :func:`slice_supernet_state_dict`."""
        return slice_supernet_state_dict(state_dict, genotype, prefix)


_CHOICE_KEY = re.compile(r'stages\.(\d+)\.(\d+)\.choices\.([^.]+)\.')


def slice_supernet_state_dict(state_dict: Mapping, genotype, prefix: str = 'backbone.') -> dict:
    """Keep the entries of a supernet checkpoint that a subnet on ``genotype`` needs.

    Args:
        state_dict (Mapping): a supernet state dict, e.g. a whole detector's
            (``checkpoint['state_dict']``).
        genotype (DetNASPath | dict | str): the subnet's path, its dict or a JSON file.
        prefix (str): prefix of the backbone's keys; ``''`` for a bare backbone.
            Defaults to ``'backbone.'``.

    Returns:
        dict: every entry outside ``stages.*.*.choices`` (stem, last conv, neck, heads)
        and, inside, those of the chosen op of every block.
    """
    path = read_genotype(genotype)
    DetNASSpace(path.stage_blocks).validate(path)
    stages = path.stages
    out = {}
    for key, value in state_dict.items():
        m = _CHOICE_KEY.match(key, len(prefix)) if key.startswith(prefix) else None
        if m is None:
            out[key] = value
            continue
        s, b, op = int(m.group(1)), int(m.group(2)), m.group(3)
        if s >= len(stages) or b >= len(stages[s]):
            raise ValueError(f'genotype: {key!r} is block {b} of stage {s}, outside the path\'s '
                             f'stage_blocks {path.stage_blocks}')
        if stages[s][b] == op:
            out[key] = value
    return out


__all__ = ['ARCH_SETTINGS', 'LAST_CHANNELS', 'OP_KERNELS', 'CHANNEL_SPLITS', 'ConvSpec',
           'Layout', 'arch_layout', 'make_divisible', 'unit_specs', 'split_channels',
           'read_genotype', 'parse_genotype', 'specs_cost', 'unit_cost', 'backbone_cost',
           'ShuffleUnit', 'ChoiceBlock', 'ShuffleNetV2Supernet', 'ShuffleNetV2Subnet',
           'slice_supernet_state_dict']
