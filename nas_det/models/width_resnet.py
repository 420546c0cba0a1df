"""A ResNet built from a width genotype: the backbone MorphNet's widths become.

`MorphNet: Fast & Simple Resource-Constrained Structure Learning of Deep Networks
<https://arxiv.org/abs/1711.06798>`_.

:class:`WidthResNet` is a ResNet whose every layer width comes from a
:class:`~nas_det.space.width.Widths` genotype (ResNet-18/50 widths by default), with the
state-dict keys of mmdet's ``ResNet`` (``layer1.0.conv1.weight``), so weights move between
the two by name. :func:`resnet_widths` gives the width genotype of a stock ResNet,
:func:`resnet_branches` its residual branches (the parts a width genotype may prune away),
:func:`read_widths` reads and checks a width genotype for a depth. The channel tracing,
the regularizer, shrink / expand and the weight transfer are in
:mod:`nas_det.models.morphnet`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from mmengine.registry import MODELS

from ..space.base import bad_value
from ..space.loading import load_genotype
from ..space.width import Widths, removed_branches
from .frozen import FrozenStagesMixin

RESNET_ARCH = {18: ('basic', (2, 2, 2, 2)), 34: ('basic', (3, 4, 6, 3)),
               50: ('bottleneck', (3, 4, 6, 3)), 101: ('bottleneck', (3, 4, 23, 3)),
               152: ('bottleneck', (3, 8, 36, 3))}
"""Block kind and blocks per stage of each ResNet depth (as mmdet's ``ResNet``)."""


def resnet_widths(depth: int = 50, stem_channels: int = 64, base_channels: int = 64) -> Widths:
    """The width genotype of a stock ResNet.

    Groups, in order: ``stem``; per stage ``s`` (1-based) ``stage{s}`` (the residual
    stream, i.e. the stage's output width) and per block ``b`` ``stage{s}/block{b}/mid``
    (basic blocks) or ``.../mid1`` and ``.../mid2`` (bottlenecks: the outputs of conv1
    and conv2).

    Args:
        depth (int): 18, 34, 50, 101 or 152. Defaults to 50.
        stem_channels (int): stem width. Defaults to 64.
        base_channels (int): the first stage's mid width. Defaults to 64.
    """
    if depth not in RESNET_ARCH:
        raise bad_value('depth', depth, sorted(RESNET_ARCH))
    kind, blocks = RESNET_ARCH[depth]
    expansion = 1 if kind == 'basic' else 4
    groups = [('stem', stem_channels)]
    for s, n in enumerate(blocks, 1):
        planes = base_channels * 2 ** (s - 1)
        groups.append((f'stage{s}', planes * expansion))
        for b in range(1, n + 1):
            mids = ('mid', ) if kind == 'basic' else ('mid1', 'mid2')
            groups += [(f'stage{s}/block{b}/{m}', planes) for m in mids]
    return Widths(tuple(groups))


def resnet_branches(depth: int = 50) -> dict:
    """``{'stage{s}/block{b}': [its mid group names]}``: the residual branches of a ResNet
    of ``depth``, the parts a width genotype may prune away (widths 0)."""
    if depth not in RESNET_ARCH:
        raise bad_value('depth', depth, sorted(RESNET_ARCH))
    kind, blocks = RESNET_ARCH[depth]
    mids = ('mid', ) if kind == 'basic' else ('mid1', 'mid2')
    return {f'stage{s}/block{b}': [f'stage{s}/block{b}/{m}' for m in mids]
            for s, n in enumerate(blocks, 1) for b in range(1, n + 1)}


def read_widths(widths, depth: int) -> Widths:
    """A :class:`Widths` from a Widths, its JSON dict, a ``{name: width}`` mapping or a list
    of ``[name, width]`` pairs, checked against the groups of a ResNet of ``depth``: a
    width may be 0 only for all the mid groups of a block (its branch removed)."""
    expected = resnet_widths(depth)
    if widths is None:
        return expected
    if isinstance(widths, str) or isinstance(widths, Mapping) and (
            'space' in widths or isinstance(widths.get('genotype'), Mapping)):
        widths = load_genotype(widths, 'widths')
    elif not isinstance(widths, Widths):  # {name: width} or [[name, width], ...]
        pairs = widths.items() if isinstance(widths, Mapping) else widths
        try:
            pairs = [[n, w] for n, w in pairs]
        except (TypeError, ValueError):
            raise ValueError(f'widths: a Widths, its JSON dict, a {{name: width}} mapping or '
                             f'a list of [name, width] pairs is expected, got '
                             f'{type(widths).__name__}') from None
        widths = load_genotype({'groups': pairs}, 'widths')
    missing = [n for n in expected.names if n not in widths.names]
    extra = [n for n in widths.names if n not in expected.names]
    if missing or extra:
        raise ValueError(f'widths: a ResNet-{depth} needs exactly the groups of '
                         f'resnet_widths({depth}); missing {missing[:5]}, unknown {extra[:5]}')
    widths = Widths(tuple((n, widths[n]) for n in expected.names))
    removed_branches(widths, resnet_branches(depth))
    return widths


class WidthBlock(nn.Module):
    """A ResNet basic block or bottleneck (pytorch style: the stride on the 3x3 conv) with
    explicit widths; attribute names as mmdet's blocks (``conv1``, ``bn1``, ...,
    ``downsample``).

    With inner widths 0 (MorphNet pruned the branch away) the block has no residual
    branch: it computes ``relu(x)`` (the identity after a ReLU) or, where the shape
    changes, ``relu(downsample(x))``; ``removed`` is True.

    Args:
        kind (str): ``'basic'`` or ``'bottleneck'``.
        in_channels (int): input width.
        mids (Sequence[int]): one (basic) or two (bottleneck) inner widths; all 0: the
            branch is removed.
        out_channels (int): output width (the residual stream).
        stride (int): stride of the block.
        conv_cfg (dict, optional): conv layer config. Defaults to None.
        norm_cfg (dict): norm layer config. Defaults to ``dict(type='BN')``.
    """

    def __init__(self, kind, in_channels, mids, out_channels, stride, conv_cfg=None,
                 norm_cfg=dict(type='BN')):
        super().__init__()
        self.kind = kind
        if kind == 'basic':
            specs = [(in_channels, mids[0], 3, stride), (mids[0], out_channels, 3, 1)]
        else:
            specs = [(in_channels, mids[0], 1, 1), (mids[0], mids[1], 3, stride),
                     (mids[1], out_channels, 1, 1)]
        self.norm_names = []
        self.removed = not all(mids)
        if self.removed and any(mids):
            raise ValueError(f'mids: all zero (branch removed) or all positive, got {list(mids)}')
        for i, (c_in, c_out, k, s) in enumerate(specs if not self.removed else [], 1):
            self.add_module(f'conv{i}', build_conv_layer(conv_cfg, c_in, c_out, k, stride=s,
                                                         padding=k // 2, bias=False))
            name, norm = build_norm_layer(norm_cfg, c_out, postfix=i)
            self.add_module(name, norm)
            self.norm_names.append(name)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                build_conv_layer(conv_cfg, in_channels, out_channels, 1, stride=stride,
                                 bias=False),
                build_norm_layer(norm_cfg, out_channels)[1])

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        if self.removed:
            return self.relu(identity)
        n = len(self.norm_names)
        out = x
        for i in range(1, n + 1):
            out = getattr(self, self.norm_names[i - 1])(getattr(self, f'conv{i}')(out))
            if i < n:
                out = self.relu(out)
        return self.relu(out + identity)


@MODELS.register_module()
class WidthResNet(FrozenStagesMixin, BaseModule):
    """A ResNet whose every layer width comes from a width genotype (MorphNet's output).

    `MorphNet <https://arxiv.org/abs/1711.06798>`_ learns per-layer widths; this backbone
    builds them. Checkpoint keys are those of mmdet's ``ResNet`` (``conv1``, ``bn1``,
    ``layer{s}.{b}.conv1``, ``...downsample.0``), so a stock ResNet checkpoint loads into
    ``WidthResNet(depth)`` and a trained one is sliced by name
    (:func:`~nas_det.models.morphnet.transfer_state_dict`). Only the plain stems and
    ``style='pytorch'`` are built.

    Args:
        depth (int): 18, 34, 50, 101 or 152. Defaults to 50.
        widths (Widths | dict | list, optional): the width genotype (see
            :func:`resnet_widths` for the group names), as a :class:`Widths`, its JSON
            dict, a ``{name: width}`` mapping or ``[name, width]`` pairs. None gives the
            stock widths of ``depth``. Defaults to None.
        in_channels (int): input channels. Defaults to 3.
        strides (Sequence[int]): stride of each stage. Defaults to ``(1, 2, 2, 2)``.
        stem (str): ``'imagenet'``: 7x7 stride-2 conv and 3x3 stride-2 max-pool, as mmdet's
            ``ResNet`` (total stride 4); ``'cifar'``: one 3x3 stride-1 conv and no pooling,
            as the CIFAR ResNets (mmpretrain's ``ResNet_CIFAR``), for inputs of about
            32x32 where the ImageNet stem leaves 8x8 maps before the first stage. The keys
            are the same (``conv1``, ``bn1``). Defaults to ``'imagenet'``.
        out_indices (Sequence[int]): stages to output. Defaults to ``(0, 1, 2, 3)``.
        frozen_stages (int): freeze the stem and the first ``frozen_stages`` stages; -1
            freezes nothing. Defaults to -1.
        conv_cfg (dict, optional): conv layer config. Defaults to None.
        norm_cfg (dict): norm layer config. Defaults to ``dict(type='BN', requires_grad=True)``.
        norm_eval (bool): keep BN layers in eval mode while training (MorphNet needs them
            to train, so False). Defaults to False.
        zero_init_residual (bool): start the last norm of every block at zero scale (as
            mmdet's ResNet does). Defaults to True.
        init_cfg (dict | list[dict], optional): initialization config. Defaults to None
            (Kaiming convs, unit norm scales).
    """

    STEMS = ('imagenet', 'cifar')

    def __init__(self, depth=50, widths=None, in_channels=3, strides=(1, 2, 2, 2),
                 out_indices=(0, 1, 2, 3), frozen_stages=-1, conv_cfg=None,
                 norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False,
                 zero_init_residual=True, init_cfg=None, stem='imagenet'):
        self._default_init = init_cfg is None
        if init_cfg is None:
            init_cfg = [dict(type='Kaiming', layer='Conv2d'),
                        dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]
        super().__init__(init_cfg=init_cfg)
        if depth not in RESNET_ARCH:
            raise bad_value('depth', depth, sorted(RESNET_ARCH))
        if (isinstance(strides, (str, bytes)) or not isinstance(strides, Sequence)
                or len(strides) != 4 or any(s not in (1, 2) for s in strides)):
            raise ValueError(f'strides: four strides of 1 or 2 are expected, got {strides!r}')
        if (isinstance(out_indices, (str, bytes)) or not isinstance(out_indices, Sequence)
                or not out_indices or any(i not in range(4) for i in out_indices)):
            raise ValueError(f'out_indices: a non-empty list of indices in [0, 1, 2, 3] is '
                             f'expected, got {out_indices!r}')
        if frozen_stages not in range(-1, 5):
            raise bad_value('frozen_stages', frozen_stages, list(range(-1, 5)))
        if stem not in self.STEMS:
            raise bad_value('stem', stem, list(self.STEMS))
        self.depth = depth
        self.stem = stem
        self.widths = read_widths(widths, depth)
        self.kind, self.stage_blocks = RESNET_ARCH[depth]
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.zero_init_residual = zero_init_residual
        w = self.widths
        k, stride = (7, 2) if stem == 'imagenet' else (3, 1)
        self.conv1 = build_conv_layer(conv_cfg, in_channels, w['stem'], k, stride=stride,
                                      padding=k // 2, bias=False)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, w['stem'], postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = (nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if stem == 'imagenet'
                        else nn.Identity())
        self.res_layers = []
        c_in = w['stem']
        mids = ('mid', ) if self.kind == 'basic' else ('mid1', 'mid2')
        for s, n in enumerate(self.stage_blocks, 1):
            c_out = w[f'stage{s}']
            blocks = [WidthBlock(self.kind, c_in if b == 1 else c_out,
                                 [w[f'stage{s}/block{b}/{m}'] for m in mids], c_out,
                                 strides[s - 1] if b == 1 else 1, conv_cfg, norm_cfg)
                      for b in range(1, n + 1)]
            self.add_module(f'layer{s}', nn.Sequential(*blocks))
            self.res_layers.append(f'layer{s}')
            c_in = c_out
        self._out_channels = [w[f'stage{i + 1}'] for i in self.out_indices]
        self._freeze_stages()

    @property
    def norm1(self):
        return getattr(self, self.norm1_name)

    @property
    def removed_blocks(self) -> list:
        """Names (``'stage2/block1'``) of the blocks whose residual branch is removed."""
        return list(removed_branches(self.widths, resnet_branches(self.depth)))

    @property
    def out_channels(self) -> list:
        """Width of every output, in ``out_indices`` order."""
        return list(self._out_channels)

    def init_weights(self):
        super().init_weights()
        if self.zero_init_residual and self._default_init:
            for layer in self.res_layers:
                for block in getattr(self, layer):
                    if block.norm_names:
                        nn.init.constant_(getattr(block, block.norm_names[-1]).weight, 0)

    def forward(self, x):
        x = self.maxpool(self.relu(self.norm1(self.conv1(x))))
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _frozen_modules(self):
        if self.frozen_stages < 0:
            return []
        return [self.conv1, self.norm1] + [getattr(self, f'layer{i}')
                                           for i in range(1, self.frozen_stages + 1)]


__all__ = ['RESNET_ARCH', 'resnet_widths', 'resnet_branches', 'read_widths', 'WidthBlock',
           'WidthResNet']
