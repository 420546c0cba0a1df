"""Map the official DetNAS / Single Path One-Shot ShuffleNetV2 weights onto our backbones.

Two key layouts are published, both with a ``first_conv``, one ``features.{i}`` entry per
choice block (0-based over all stages; in a supernet ``features.{i}.{op}`` holds op
``op`` of :data:`~nas_det.space.detnas.DETNAS_OPS`, in that order) and a last 1x1 conv:

``detnas`` (`DetNAS <https://github.com/megvii-model/DetNAS>`_: the ImageNet supernet of
``Supernet-ImageNet`` and the ImageNet-trained searched networks its detection configs
start from). Convs and norms carry names: block ``{s}{letter}`` (``1a``: stage 1, block 0)
holds ``conv.{j}.interstellar{s}{letter}_{op}_branch2{x}[_s]`` (a pointwise / ``_s``
depthwise conv) with norms ``bn..._branch2{x}`` / ``interstellar..._branch2{x}_s_bn``
(``op``: ``shufflenet_3x3`` .. ``xception_3x3``), and, in a stride-2 block,
``proj_conv.interstellar{s}{letter}_proj[_s]``. ``first_conv`` and ``last_conv`` are
``.conv`` (with a bias) + ``.bn``. Norms are affine.

``spos`` (`Single Path One-Shot <https://github.com/megvii-model/SinglePathOneShot>`_:
``src/Supernet``). Blocks are ``branch_main.{j}`` / ``branch_proj.{j}`` sequences of
conv, norm (and ReLU) layers; ``first_conv.{0,1}``, ``conv_last.{0,1}``. Norms are
affine-free (``affine=False``).

What the mapping does beyond renaming (every official key is used or refused; the
classifier, unused by a backbone, is the only key left out):

* **conv biases**: DetNAS's first and last convs have a bias and a norm after them. A bias
  before a norm only shifts the mean, so it is folded into the norm's running mean
  (``running_mean - bias``); in training mode the norm removes it anyway. The output is
  exactly the official one in both modes.
* **affine-free norms** (SPOS): ``bn_affine='fill'`` gives our affine norms ``weight=1``,
  ``bias=0`` (the same function; fine-tuning may then move them), ``'drop'`` writes no
  affine entries, for a backbone built with ``norm_cfg=dict(type='BN', affine=False)``.
* **channel split**: the DetNAS ImageNet supernet was trained with a different channel
  shuffle than SPOS and the DetNAS searched networks; our backbones reproduce it with
  ``channel_split='halves'`` (:func:`~nas_det.models.shufflenet.split_channels`). No
  permutation of weights can stand in for it: the kept half of a stride-1 block holds
  other channels.
* **preprocessing**: the official networks take BGR images in 0-255 with no mean or std
  (:data:`OFFICIAL_DATA_PREPROCESSOR`).

Plain ``{key: tensor}`` dicts in and out; nothing is unpickled here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

import torch

from ..space.base import bad_value
from ..space.detnas import DETNAS_OPS, DetNASPath

LAYOUTS = ('detnas', 'spos')
"""The published key layouts."""
BN_AFFINE = ('fill', 'drop')
"""What to do with norms that have no affine parameters (SPOS)."""

OFFICIAL_OP_NAMES = {'shuffle3x3': 'shufflenet_3x3', 'shuffle5x5': 'shufflenet_5x5',
                     'shuffle7x7': 'shufflenet_7x7', 'xception3x3': 'xception_3x3'}
"""Our op names -> DetNAS's (``blocks_key``); the official op index is the position in
:data:`~nas_det.space.detnas.DETNAS_OPS`."""

OFFICIAL_DATA_PREPROCESSOR = dict(mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0], bgr_to_rgb=False)
"""The official nets' input: BGR (mmdet/mmcv load BGR: no conversion), 0-255, no
normalisation (``PIXEL_MEAN: [0, 0, 0]``, ``PIXEL_STD: [1, 1, 1]``, ``TO_BGR255`` in
DetNAS's detection configs; ``ToBGRTensor`` in both ImageNet trainings)."""

ARCH_PRESETS = {'300M': (16, (4, 4, 8, 4)), '1.3G': (48, (8, 8, 16, 8)),
                '3.8G': (72, (8, 8, 16, 8))}
"""Stem width and stage blocks of the published search spaces (to recognise a checkpoint)."""

HEAD_KEYS = {'detnas': ('fc.fc.weight', 'fc.fc.bias'), 'spos': ('classifier.0.weight',)}
"""The ImageNet classifier's keys, which a backbone has no use for."""

_BN_STATS = ('running_mean', 'running_var', 'num_batches_tracked')


@dataclass
class ConversionInfo:
    """What :func:`convert_official_state_dict` found.

    Attributes:
        layout (str): ``'detnas'`` or ``'spos'``.
        arch (str): the preset of :data:`ARCH_PRESETS`.
        supernet (bool): every op of every block (else one searched path).
        genotype (DetNASPath | None): a searched network's path.
        channel_split (str): the backbone's ``channel_split`` the weights need.
        affine (bool): whether the official norms are affine.
        with_last_conv (bool): the checkpoint holds the last 1x1 conv.
        skipped (list[str]): official keys left out (the classifier).
    """
    layout: str
    arch: str
    supernet: bool
    genotype: DetNASPath | None
    channel_split: str
    affine: bool
    with_last_conv: bool
    skipped: list = field(default_factory=list)

    def backbone_cfg(self, bn_affine: str = 'fill') -> dict:
        """The backbone config (``type``, ``arch``, ``channel_split`` and, for a searched
        network, ``genotype``; ``norm_cfg`` with ``affine=False`` for ``bn_affine='drop'``)
        that the converted weights load into."""
        cfg = dict(type='ShuffleNetV2Supernet' if self.supernet else 'ShuffleNetV2Subnet',
                   arch=self.arch, channel_split=self.channel_split)
        if not self.supernet:
            cfg['genotype'] = list(self.genotype.ops)
        if bn_affine == 'drop':
            cfg['norm_cfg'] = dict(type='BN', affine=False)
        return cfg


def unwrap_state_dict(ckpt: Mapping) -> dict:
    """The ``{key: tensor}`` dict of an official checkpoint, with any module prefix
    (``module.``, ``backbone.body.``, ...) in front of ``first_conv`` removed."""
    if not isinstance(ckpt, Mapping):
        raise ValueError(f'checkpoint: a dict is expected, got {type(ckpt).__name__}')
    for wrapper in ('state_dict', 'model'):
        if isinstance(ckpt.get(wrapper), Mapping):
            ckpt = ckpt[wrapper]
            break
    stems = [k for k in ckpt if isinstance(k, str) and re.search(r'(^|\.)first_conv\.', k)]
    if not stems:
        raise ValueError('checkpoint: no first_conv.* key: not an official DetNAS / SPOS '
                         'ShuffleNetV2 state dict')
    prefix = stems[0][:stems[0].index('first_conv.')]
    outside = [k for k in ckpt if not k.startswith(prefix)]
    if outside:
        raise ValueError(f'checkpoint: the keys do not share the prefix {prefix!r} of '
                         f'{stems[0]!r}, e.g. {outside[0]!r}')
    return {k[len(prefix):]: v for k, v in ckpt.items()}


def _detect(sd: Mapping, layout: str):
    if layout == 'auto':
        if 'first_conv.conv.weight' in sd:
            layout = 'detnas'
        elif 'first_conv.0.weight' in sd:
            layout = 'spos'
        else:
            raise ValueError('layout: neither first_conv.conv.weight (detnas) nor '
                             'first_conv.0.weight (spos) is in the checkpoint')
    elif layout not in LAYOUTS:
        raise bad_value('layout', layout, ['auto', *LAYOUTS])
    stem_key = 'first_conv.conv.weight' if layout == 'detnas' else 'first_conv.0.weight'
    if stem_key not in sd:
        raise ValueError(f'layout: {layout!r} expects {stem_key!r}, which is missing')
    blocks = {int(m.group(1)) for k in sd for m in [re.match(r'features\.(\d+)\.', k)] if m}
    inner = 'conv|proj_conv' if layout == 'detnas' else 'branch_main|branch_proj'
    supernet = any(re.match(rf'features\.\d+\.\d+\.({inner})\.', k) for k in sd)
    stem = sd[stem_key].shape[0]
    for arch, (stem_c, stage_blocks) in ARCH_PRESETS.items():
        if stem_c == stem and sum(stage_blocks) == len(blocks) == max(blocks, default=-1) + 1:
            return layout, supernet, arch, stage_blocks
    raise ValueError(f'checkpoint: stem width {stem} and {len(blocks)} blocks match no '
                     f'published arch {{name: (stem width, stage blocks)}}: {ARCH_PRESETS}')


def _block_names(stage_blocks):
    i = 0
    for s, n in enumerate(stage_blocks):
        for b in range(n):
            yield i, s, b, f'{s + 1}{chr(ord("a") + b)}'
            i += 1


def _subnet_ops(sd, layout, stage_blocks) -> tuple:
    ops = []
    by_name = {v: k for k, v in OFFICIAL_OP_NAMES.items()}
    for i, s, b, name in _block_names(stage_blocks):
        if layout == 'detnas':
            pat = re.compile(rf'features\.{i}\.conv\.0\.interstellar{name}_(\w+?)_branch2a\.')
            found = {m.group(1) for k in sd for m in [pat.match(k)] if m}
            if len(found) != 1 or next(iter(found)) not in by_name:
                raise ValueError(f'features.{i}: one op of {list(by_name)} is expected in the '
                                 f'key names, found {sorted(found)}')
            ops.append(by_name[found.pop()])
        else:
            if f'features.{i}.branch_main.12.weight' in sd:
                ops.append('xception3x3')
                continue
            key = f'features.{i}.branch_main.3.weight'
            if key not in sd:
                raise ValueError(f'{key}: missing (the depthwise conv of block {i})')
            k = sd[key].shape[-1]
            if k not in (3, 5, 7):
                raise bad_value(f'{key} kernel size', k, [3, 5, 7])
            ops.append(f'shuffle{k}x{k}')
    return tuple(ops)


def _unit_pairs(layout, block, name, op, stride):
    """(official conv prefix, official norm prefix) for our ``proj`` and ``main`` convs."""
    if layout == 'spos':
        main = ([(0, 1), (3, 4), (5, 6)] if op != 'xception3x3' else
                [(0, 1), (2, 3), (5, 6), (7, 8), (10, 11), (12, 13)])
        proj = [(0, 1), (2, 3)] if stride == 2 else []
        return ([(f'{block}branch_proj.{c}', f'{block}branch_proj.{n}') for c, n in proj],
                [(f'{block}branch_main.{c}', f'{block}branch_main.{n}') for c, n in main])
    p = f'{name}_{OFFICIAL_OP_NAMES[op]}'

    def dw(j, x):
        return (f'{block}conv.{j}.interstellar{p}_branch2{x}_s',
                f'{block}conv.{j}.interstellar{p}_branch2{x}_s_bn')

    def pw(j, x):
        return f'{block}conv.{j}.interstellar{p}_branch2{x}', f'{block}conv.{j}.bn{p}_branch2{x}'

    if op == 'xception3x3':
        main = [f(j, x) for j, x in enumerate('abc') for f in (dw, pw)]
    else:
        main = [pw(0, 'a'), dw(1, 'b'), pw(1, 'b')]
    proj = []
    if stride == 2:
        q = f'{block}proj_conv.interstellar{name}_proj'
        proj = [(f'{q}_s', f'{q}_s_bn'), (q, f'{block}proj_conv.bn{name}_proj')]
    return proj, main


def convert_official_state_dict(ckpt: Mapping, layout: str = 'auto', bn_affine: str = 'fill',
                                channel_split: str | None = None):
    """Rename (and fold, see the module docstring) an official DetNAS / SPOS checkpoint
    into the keys of :class:`~nas_det.models.shufflenet.ShuffleNetV2Supernet` (a
    supernet) or :class:`~nas_det.models.shufflenet.ShuffleNetV2Subnet` (a searched net).

    Args:
        ckpt (Mapping): the loaded official checkpoint (its state dict, or a dict holding
            it under ``state_dict`` / ``model``; a ``module.`` or other prefix is removed).
        layout (str): ``'auto'`` (from the stem's keys), ``'detnas'`` or ``'spos'``.
            Defaults to ``'auto'``.
        bn_affine (str): for affine-free official norms: ``'fill'`` writes weight 1 and
            bias 0, ``'drop'`` writes none (build the backbone with
            ``norm_cfg=dict(type='BN', affine=False)``). Defaults to ``'fill'``.
        channel_split (str, optional): override the backbone's ``channel_split``.
            Defaults to None: ``'halves'`` for the DetNAS supernet, ``'even_odd'`` else.

    Returns:
        tuple[dict, ConversionInfo]: our backbone's state dict (bare keys: ``stem.*``,
        ``stages.*``, ``last_conv.*``) and what was found.
    """
    if bn_affine not in BN_AFFINE:
        raise bad_value('bn_affine', bn_affine, list(BN_AFFINE))
    sd = unwrap_state_dict(ckpt)
    layout, supernet, arch, stage_blocks = _detect(sd, layout)
    genotype = None if supernet else DetNASPath(stage_blocks, _subnet_ops(sd, layout,
                                                                          stage_blocks))
    if channel_split is None:
        channel_split = 'halves' if layout == 'detnas' and supernet else 'even_odd'
    stem = ('first_conv.conv', 'first_conv.bn') if layout == 'detnas' else \
        ('first_conv.0', 'first_conv.1')
    last = ('last_conv.conv', 'last_conv.bn') if layout == 'detnas' else \
        ('conv_last.0', 'conv_last.1')
    affine = f'{stem[1]}.weight' in sd
    if bn_affine == 'drop' and affine:
        raise ValueError(f"bn_affine: 'drop' is for affine-free norms; this {layout} "
                         f"checkpoint's norms are affine, use 'fill'")
    with_last_conv = f'{last[0]}.weight' in sd
    used = set()
    out = {}

    def take(key):
        if key not in sd:
            raise ValueError(f'checkpoint: {key!r} is missing ({layout} layout, arch {arch})')
        used.add(key)
        return sd[key]

    def pair(ours, conv, norm):
        out[f'{ours}.conv.weight'] = take(f'{conv}.weight')
        bias = None
        if f'{conv}.bias' in sd:
            bias = take(f'{conv}.bias')
        mean = take(f'{norm}.running_mean')
        out[f'{ours}.bn.running_mean'] = mean if bias is None else mean - bias
        out[f'{ours}.bn.running_var'] = take(f'{norm}.running_var')
        tracked = f'{norm}.num_batches_tracked'
        out[f'{ours}.bn.num_batches_tracked'] = (take(tracked) if tracked in sd else
                                                 torch.tensor(0, dtype=torch.long))
        if f'{norm}.weight' in sd:
            out[f'{ours}.bn.weight'] = take(f'{norm}.weight')
            out[f'{ours}.bn.bias'] = take(f'{norm}.bias')
        elif bn_affine == 'fill':
            out[f'{ours}.bn.weight'] = torch.ones_like(mean)
            out[f'{ours}.bn.bias'] = torch.zeros_like(mean)

    pair('stem', *stem)
    ops_of = (lambda i: DETNAS_OPS) if supernet else (lambda i: (genotype.ops[i],))
    for i, s, b, name in _block_names(stage_blocks):
        for op in ops_of(i):
            block = f'features.{i}.' + (f'{DETNAS_OPS.index(op)}.' if supernet else '')
            proj, main = _unit_pairs(layout, block, name, op, 2 if b == 0 else 1)
            ours = f'stages.{s}.{b}.choices.{op}'
            for j, (conv, norm) in enumerate(proj):
                pair(f'{ours}.proj.{j}', conv, norm)
            for j, (conv, norm) in enumerate(main):
                pair(f'{ours}.main.{j}', conv, norm)
    if with_last_conv:
        pair('last_conv', *last)
    skipped = sorted(k for k in sd if k not in used and k in HEAD_KEYS[layout])
    unknown = sorted(k for k in sd if k not in used and k not in HEAD_KEYS[layout])
    if unknown:
        raise ValueError(f'checkpoint: {len(unknown)} keys fit no conv or norm of the '
                         f'{layout} layout ({"supernet" if supernet else "searched net"}, '
                         f'arch {arch}), e.g. {unknown[:3]}')
    info = ConversionInfo(layout, arch, supernet, genotype, channel_split, affine,
                          with_last_conv, skipped)
    return out, info


__all__ = ['LAYOUTS', 'BN_AFFINE', 'OFFICIAL_OP_NAMES', 'OFFICIAL_DATA_PREPROCESSOR',
           'ARCH_PRESETS', 'HEAD_KEYS', 'ConversionInfo', 'unwrap_state_dict',
           'convert_official_state_dict']
