"""NASNet / PNASNet / AmoebaNet cell networks built from genotypes.

`Learning Transferable Architectures for Scalable Image Recognition
<https://arxiv.org/abs/1707.07012>`_ (NASNet), `Progressive Neural Architecture Search
<https://arxiv.org/abs/1712.00559>`_ (PNASNet) and `Regularized Evolution for Image
Classifier Architecture Search <https://arxiv.org/abs/1802.01548>`_ (AmoebaNet).

One op vocabulary (:data:`~nas_det.models.cell_ops.OPS`, in :mod:`nas_det.models.cell_ops`
with the layers under it), one generic cell (:class:`CellModule`) that compiles a
:class:`~nas_det.space.cells.Cell` genotype, and one network builder
(:class:`CellNetwork`) with CIFAR / mobile / large layouts. The semantics follow the TF
reference code (``nasnet_utils.py``, ``pnasnet.py``, AmoebaNet's ``network_utils.py``):

* A cell first brings its inputs to its width ``F``: ``h0`` (the previous cell's output)
  by ReLU-conv1x1-BN; ``h1`` (the cell before) by a *factorized reduction* when it is
  twice as large, by ReLU-conv1x1-BN when only its width differs, else untouched. With no
  cell before (the first cell after a stem), ``h1`` is the raw input of the cell.
* Every op outputs ``F`` channels. In a stride-2 cell the ops reading ``h0``/``h1`` have
  stride 2. Pools get a conv1x1-BN fix-up (no ReLU) when their input width differs from
  ``F``; ``identity`` becomes ReLU-conv1x1-BN when the stride or the width changes.
* The cell output concatenates the genotype's ``concat`` states; a state whose shape
  differs from the last block's is fixed up (factorized reduction or conv1x1-BN).
* Networks: a stem (CIFAR: conv3x3; ImageNet: conv3x3 stride 2 'VALID' then two stem
  cells, the reduction cell at widths ``F/4`` and ``F/2``), ``N`` normal cells per stage,
  a reduction between stages (a separate reduction cell, or with ``reduce=None`` the
  normal cell with stride 2 in place of the stage's first cell, as PNASNet does), widths
  doubling at each reduction, ReLU, global pooling, dropout and a linear classifier.

Checkpoint keys are plain: ``stem.conv``, ``cells.{i}.pre0``, ``cells.{i}.pre1``,
``cells.{i}.block{k}.op{j}`` (``k`` is the state the block produces, as in genotype keys),
``cells.{i}.fix.{state}``, ``fc``. :mod:`nas_det.models.timm_mapping` maps timm's
``nasnetalarge`` / ``pnasnet5large`` weights onto them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.registry import MODELS

from ..space.base import bad_value
from ..space.cells import Cell, CellGenotype, CellSpace, state_name
from ..space.loading import load_genotype
from ..space.published import PUBLISHED
from .cell_ops import (OPS, PADDING_MODES, FactorizedReduce, ReLUConvBN, build_norm, build_op,
                       drop_path, make_conv)
from .frozen import FrozenStagesMixin


# ---------------------------------------------------------------------------- the cell

def check_cell(cell: Cell, field: str = 'cell') -> None:
    """Check that ``cell`` can be built: known ops and combines, inputs that exist.

    Raises:
        ValueError: naming the bad field, e.g. ``'normal/block3/op1'``.
    """
    if not isinstance(cell, Cell):
        raise ValueError(f'{field}: a Cell is expected, got {type(cell).__name__}')
    for k, block in enumerate(cell.blocks, 2):
        for j, (i, op) in enumerate(zip(block.inputs, block.ops)):
            if i >= k:
                raise ValueError(f'{field}/block{k}/input{j}: {state_name(i)!r} is not '
                                 f'available yet; allowed values: '
                                 f'{[state_name(s) for s in range(k)]}')
            if op not in OPS:
                raise bad_value(f'{field}/block{k}/op{j}', op, list(OPS))
        if block.combine not in ('add', 'concat'):
            raise bad_value(f'{field}/block{k}/combine', block.combine, ['add', 'concat'])
    n = 2 + cell.num_blocks
    for s in cell.concat:
        if s >= n:
            raise ValueError(f'{field}/concat: {state_name(s)!r} is not a state of the cell; '
                             f'allowed values: {[state_name(i) for i in range(n)]}')


class CellBlock(nn.Module):
    """``combine(op0(state[input0]), op1(state[input1]))`` with drop-path on the ops."""

    def __init__(self, block, op0: nn.Module, op1: nn.Module):
        super().__init__()
        self.inputs, self.combine = block.inputs, block.combine
        self.droppable = tuple(o != 'identity' for o in block.ops)
        self.op0, self.op1 = op0, op1

    def forward(self, states, drop_prob: float = 0.):
        ys = []
        for op, i, droppable in zip((self.op0, self.op1), self.inputs, self.droppable):
            y = op(states[i])
            ys.append(drop_path(y, drop_prob) if droppable and drop_prob > 0 else y)
        return ys[0] + ys[1] if self.combine == 'add' else torch.cat(ys, 1)


class CellModule(nn.Module):
    """One cell compiled from a :class:`~nas_det.space.cells.Cell` genotype.

    Args:
        cell (Cell): the genotype cell.
        in_channels (tuple): widths of the cell's two inputs ``(h0, h1)``; ``h1 = None``
            when there is no cell before (``h1`` is then the raw ``h0`` input).
        filters (int): the cell's width ``F`` (every op outputs ``F`` channels).
        stride (int): 2 for a reduction cell. Defaults to 1.
        reduce_h1 (bool): ``h1`` has twice the resolution of ``h0`` (it is brought down by
            a factorized reduction). Defaults to False.
        padding (str): one of :data:`~nas_det.models.cell_ops.PADDING_MODES`.
            Defaults to 'pytorch'.
        norm_cfg (dict, optional): norm layer config. Defaults to None.
        field (str): genotype field used in error messages. Defaults to 'cell'.
    """

    def __init__(self, cell: Cell, in_channels: tuple, filters: int, stride: int = 1,
                 reduce_h1: bool = False, padding: str = 'pytorch', norm_cfg=None,
                 field: str = 'cell'):
        super().__init__()
        check_cell(cell, field)
        if stride not in (1, 2):
            raise bad_value('stride', stride, [1, 2])
        c0, c1 = in_channels
        self.concat, self.stride, self.drop_prob = cell.concat, stride, 0.
        self.pre0 = ReLUConvBN(c0, filters, norm_cfg=norm_cfg)
        self.h1_is_input = c1 is None
        if self.h1_is_input:
            c1 = c0
            if reduce_h1:
                raise ValueError(f'{field}: reduce_h1 needs an h1 input')
        elif reduce_h1:
            self.pre1 = FactorizedReduce(c1, filters, norm_cfg=norm_cfg)
            c1 = self.pre1.out_channels
        elif c1 != filters:
            self.pre1, c1 = ReLUConvBN(c1, filters, norm_cfg=norm_cfg), filters
        else:
            self.pre1 = nn.Identity()
        # (width, strided?) of every state; in a stride-2 cell every block ends strided:
        # ops reading h0 / h1 stride, ops reading blocks read strided maps
        shapes = [(filters, False), (c1, False)]
        self.block_names = []
        for k, block in enumerate(cell.blocks, 2):
            ops = [build_op(op, shapes[i][0], filters, stride if i < 2 else 1, padding,
                            norm_cfg, f'{field}/block{k}/op{j}')
                   for j, (i, op) in enumerate(zip(block.inputs, block.ops))]
            shapes.append((filters if block.combine == 'add' else 2 * filters, stride == 2))
            self.add_module(f'block{k}', CellBlock(block, *ops))
            self.block_names.append(f'block{k}')
        target = shapes[-1]
        self.fix = nn.ModuleDict()
        for i in cell.concat:
            (c, strided), name = shapes[i], state_name(i)
            if strided != target[1]:
                self.fix[name] = FactorizedReduce(c, target[0], relu=False, norm_cfg=norm_cfg)
            elif c != target[0]:
                self.fix[name] = ReLUConvBN(c, target[0], relu=False, norm_cfg=norm_cfg)
        self.out_channels = sum(getattr(self.fix[state_name(i)], 'out_channels', target[0])
                                if state_name(i) in self.fix else shapes[i][0]
                                for i in cell.concat)

    def forward(self, x0: torch.Tensor, x1: torch.Tensor | None = None) -> torch.Tensor:
        states = [self.pre0(x0), x0 if self.h1_is_input else self.pre1(x1)]
        drop = self.drop_prob if self.training else 0.
        for name in self.block_names:
            states.append(getattr(self, name)(states, drop))
        outs = []
        for i in self.concat:
            name = state_name(i)
            outs.append(self.fix[name](states[i]) if name in self.fix else states[i])
        return torch.cat(outs, 1)


# ---------------------------------------------------------------------------- layouts

LAYOUTS = {
    'cifar': dict(stem='cifar', stem_multiplier=3, num_stem_cells=0, cells_per_stage=6,
                  filters=32, skip_reduction_input=False, image_size=32),
    'mobile': dict(stem='imagenet', stem_multiplier=1, num_stem_cells=2, cells_per_stage=4,
                   filters=44, skip_reduction_input=False, image_size=224),
    'large': dict(stem='imagenet', stem_multiplier=3, num_stem_cells=2, cells_per_stage=6,
                  filters=168, skip_reduction_input=True, image_size=331),
}
"""Layout presets (TF configs). ``stem``: ``'cifar'`` (conv3x3 to ``stem_multiplier * F``)
or ``'imagenet'`` (conv3x3 stride 2 'VALID' to ``32 * stem_multiplier``, then
``num_stem_cells`` stem cells). ``skip_reduction_input``: the normal cell after a reduction
cell reads the reduction cell's ``h1`` as its own ``h1`` (NASNet-A Large) instead of the
reduction cell's input. ``cells_per_stage`` (``N``) and ``filters`` (``F``) are NASNet-A's
and can be overridden; ``image_size`` sizes the auxiliary head."""

PUBLISHED_MODELS = {
    'nasnet_a_large': dict(genotype='nasnet_a', layout='large', cells_per_stage=6, filters=168),
    'nasnet_a_mobile': dict(genotype='nasnet_a', layout='mobile', cells_per_stage=4,
                            filters=44),
    'nasnet_a_cifar': dict(genotype='nasnet_a', layout='cifar', cells_per_stage=6, filters=32),
    'pnasnet_5_large': dict(genotype='pnasnet_5', layout='large', cells_per_stage=4,
                            filters=216),
    'pnasnet_5_mobile': dict(genotype='pnasnet_5', layout='mobile', cells_per_stage=3,
                             filters=54, skip_reduction_input=True),
    'amoebanet_a_cifar': dict(genotype='amoebanet_a', layout='cifar', cells_per_stage=6,
                              filters=36),
    'amoebanet_a_large': dict(genotype='amoebanet_a', layout='large', cells_per_stage=6,
                              filters=190, skip_reduction_input=False),
}
"""The published models as :class:`CellNetwork` kwargs. NASNet-A Mobile 4@1056 is
``F = 1056 / 24 = 44``; NASNet-A CIFAR 6@768 is ``F = 32``. Widths that do not divide
are truncated as in TF (PNASNet-5 Mobile's stem cells work at ``int(54 / 4) = 13`` and
27 channels, AmoebaNet-A Large's at 47 and 95), and a factorized reduction to an odd
width makes one channel less (TF's ``int(filters / 2)`` per path)."""


def parse_genotype(genotype) -> CellGenotype:
    """A :class:`CellGenotype` from itself, its dict form or a published name."""
    if isinstance(genotype, str) and genotype in PUBLISHED \
            and not isinstance(PUBLISHED[genotype], CellGenotype):
        cells = [k for k, v in PUBLISHED.items() if isinstance(v, CellGenotype)]
        raise bad_value('genotype', genotype, cells)
    if isinstance(genotype, (str, Mapping)):
        return load_genotype(genotype, CellSpace.name)
    if isinstance(genotype, Cell):
        raise ValueError('genotype: a CellGenotype(normal, reduce) is expected, got a single '
                         'Cell; wrap it as CellGenotype(normal=cell) (reductions then reuse '
                         'it with stride 2)')
    if not isinstance(genotype, CellGenotype):
        raise ValueError('genotype: a CellGenotype, its dict or a published name is expected, '
                         f'got {type(genotype).__name__}')
    return genotype


@dataclass(frozen=True)
class CellPlan:
    """Where one cell sits: its name, genotype field, stride, width, inputs and stage.

    ``h1`` indexes the network's outputs (0: stem conv, ``i + 1``: cell ``i``), None when
    there is none; ``h0`` is always the previous output.
    """
    name: str
    kind: str
    stride: int
    filters: int
    h1: int | None
    stage: int


def _width(filters: int, scale: float, name: str) -> int:
    w = int(filters * scale)  # TF truncates: PNASNet-5 Mobile's stem cells are 13 and 27 wide
    if w < 2:
        raise ValueError(f'filters: {filters} is too small for cell {name!r}, which works at '
                         f'int({filters} x {scale:g}) = {w} channels; allowed values: '
                         f'>= {math.ceil(2 / scale)}')
    return w


def plan_cells(genotype: CellGenotype, cells_per_stage: int, filters: int,
               num_stem_cells: int = 0, num_reductions: int = 2,
               skip_reduction_input: bool = False) -> list:
    """The cells of a network, in order (TF's ``_build_nasnet_base`` / ``_build_pnasnet_base``).

    Stem cells are the reduction cell (or, with ``reduce=None``, the normal cell with
    stride 2) at widths ``F / 2**num_stem_cells`` ... ``F / 2``. Then ``(num_reductions + 1)
    * N`` normal cells; at cells ``N, 2N, ...`` the width doubles and either a separate
    reduction cell is inserted before the normal cell, or (``reduce=None``) that normal
    cell itself has stride 2. Every cell reads the output before the previous one as
    ``h1``, except that with ``skip_reduction_input`` the normal cell after a reduction
    cell reads the reduction cell's own ``h1``.

    Stages (backbone outputs) end at each stem cell but the last, and at the last cell
    before each reduction and at the end.

    Returns:
        list[CellPlan]: one per cell.
    """
    in_place = genotype.reduce is None
    reduce_kind = 'normal' if in_place else 'reduce'
    plans = []

    def add(name, kind, stride, scale, h1, stage):
        plans.append(CellPlan(name, kind, stride, _width(filters, scale, name), h1, stage))

    for s in range(num_stem_cells):
        add(f'stem{s}', reduce_kind, 2, 2. ** (s - num_stem_cells), s - 1 if s else None, s)
    stage0 = max(num_stem_cells - 1, 0)
    total = (num_reductions + 1) * cells_per_stage
    reductions = [int(r / (num_reductions + 1) * total) for r in range(1, num_reductions + 1)]
    scale = 1.
    for c in range(total):
        i = len(plans)  # index of the next cell; its h0 is output i, h1 output i - 1
        h1 = i - 1 if i >= 1 else None
        stage = stage0 + sum(c >= r for r in reductions)
        if c in reductions:
            scale *= 2
            if in_place:
                add(f'cell{c}', 'normal', 2, scale, h1, stage)
                continue
            add(f'reduce{reductions.index(c)}', 'reduce', 2, scale, h1, stage)
            if skip_reduction_input:
                h1 = plans[-1].h1
            else:
                h1 = i
        add(f'cell{c}', 'normal', 1, scale, h1, stage)
    return plans


def _num_reductions_before(plans, index: int) -> int:
    """Number of stride-2 steps before output ``index`` (0: the stem conv output)."""
    return sum(p.stride == 2 for p in plans[:index])


# ---------------------------------------------------------------------------- networks

class AuxHead(nn.Module):
    """NASNet's auxiliary classifier: ReLU, avg-pool 5 stride 3, conv1x1(128)-BN-ReLU,
    conv over the whole map (768)-BN-ReLU, linear.

    Args:
        in_channels (int): input width.
        num_classes (int): number of classes.
        size (int): spatial size of the map at the nominal input size (after the
            pooling); other sizes are pooled to it.
        norm_cfg (dict, optional): norm layer config. Defaults to None.
    """

    def __init__(self, in_channels, num_classes, size, norm_cfg=None):
        super().__init__()
        self.size = max(size, 1)
        self.proj = make_conv(in_channels, 128, 1)
        self.bn0 = build_norm(norm_cfg, 128)
        self.conv = nn.Conv2d(128, 768, self.size, bias=False)
        self.bn1 = build_norm(norm_cfg, 768)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x):
        x = F.relu(x)
        if min(x.shape[-2:]) >= 5:
            x = F.avg_pool2d(x, 5, 3)
        x = F.relu(self.bn0(self.proj(x)))
        if tuple(x.shape[-2:]) != (self.size, self.size):
            x = F.adaptive_avg_pool2d(x, self.size)
        return self.fc(F.relu(self.bn1(self.conv(x))).flatten(1))


class CellStack(BaseModule):
    """Stem and cells of a cell network (shared by :class:`CellNetwork` and
    :class:`CellNetBackbone`).

    Args:
        genotype (CellGenotype | dict | str): the cells (a published name such as
            ``'nasnet_a'``, ``'pnasnet_5'``, ``'amoebanet_a'``, or a genotype / its dict).
        layout (str): a preset of :data:`LAYOUTS` (``'cifar'``, ``'mobile'``, ``'large'``).
            Defaults to 'cifar'.
        cells_per_stage (int, optional): ``N``, normal cells per stage. Defaults to None
            (the layout's).
        filters (int, optional): ``F``, the width of the first stage's cells. Defaults to
            None (the layout's).
        in_channels (int): image channels. Defaults to 3.
        stem_multiplier (float, optional): stem width factor. Defaults to None (layout's).
        num_stem_cells (int, optional): stem cells of an ImageNet stem. Defaults to None.
        num_reductions (int): reductions between the stages. Defaults to 2.
        skip_reduction_input (bool, optional): see :data:`LAYOUTS`. Defaults to None.
        padding (str): one of :data:`~nas_det.models.cell_ops.PADDING_MODES`.
            Defaults to 'pytorch'.
        drop_path_rate (float): drop-path probability of the last cell; cell ``i`` of
            ``n`` uses ``rate * (i + 1) / n``, times :attr:`drop_path_progress` (set it
            from 0 to 1 during training, as TF's schedule does). Defaults to 0.
        norm_cfg (dict, optional): norm layer config. Defaults to None
            (:data:`~nas_det.models.cell_ops.DEFAULT_NORM`).
        init_cfg (dict | list, optional): mmengine init config. Defaults to None.
    """

    def __init__(self, genotype, layout: str = 'cifar', cells_per_stage: int | None = None,
                 filters: int | None = None, in_channels: int = 3,
                 stem_multiplier: float | None = None, num_stem_cells: int | None = None,
                 num_reductions: int = 2, skip_reduction_input: bool | None = None,
                 padding: str = 'pytorch', drop_path_rate: float = 0., norm_cfg=None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if layout not in LAYOUTS:
            raise bad_value('layout', layout, list(LAYOUTS))
        if padding not in PADDING_MODES:
            raise bad_value('padding', padding, PADDING_MODES)
        lay = dict(LAYOUTS[layout])
        for k, v in dict(cells_per_stage=cells_per_stage, filters=filters,
                         stem_multiplier=stem_multiplier, num_stem_cells=num_stem_cells,
                         skip_reduction_input=skip_reduction_input).items():
            if v is not None:
                lay[k] = v
        for k, low in (('cells_per_stage', 1), ('filters', 1), ('num_stem_cells', 0)):
            if not isinstance(lay[k], int) or isinstance(lay[k], bool) or lay[k] < low:
                raise ValueError(f'{k}: an int >= {low} is expected, got {lay[k]!r}')
        if not isinstance(num_reductions, int) or num_reductions < 0:
            raise ValueError(f'num_reductions: an int >= 0 is expected, got {num_reductions!r}')
        if not 0 <= drop_path_rate < 1:
            raise ValueError(f'drop_path_rate: a value in [0, 1) is expected, got '
                             f'{drop_path_rate!r}')
        self.genotype = parse_genotype(genotype)
        self.layout, self.padding, self.norm_cfg = lay, padding, norm_cfg
        if lay['stem'] == 'cifar':
            if lay['num_stem_cells']:
                raise ValueError('num_stem_cells: a CIFAR stem has no stem cells; allowed '
                                 'values: [0]')
            c_stem = int(lay['filters'] * lay['stem_multiplier'])
            stem_conv = make_conv(in_channels, c_stem, 3, padding=padding)
        else:
            c_stem = int(32 * lay['stem_multiplier'])
            stem_conv = nn.Conv2d(in_channels, c_stem, 3, 2, 0, bias=False)  # TF 'VALID'
        self.stem = nn.Sequential()
        self.stem.add_module('conv', stem_conv)
        self.stem.add_module('bn', build_norm(norm_cfg, c_stem))
        self.plans = plan_cells(self.genotype, lay['cells_per_stage'], lay['filters'],
                                lay['num_stem_cells'], num_reductions,
                                lay['skip_reduction_input'])
        channels = [c_stem]  # width of every output: stem conv, then each cell
        self.cells = nn.ModuleList()
        for i, p in enumerate(self.plans):
            cell = self.genotype.normal if p.kind == 'normal' else self.genotype.reduce
            reduce_h1 = p.h1 is not None and _num_reductions_before(self.plans, p.h1) != \
                _num_reductions_before(self.plans, i)
            c1 = None if p.h1 is None else channels[p.h1]
            self.cells.append(CellModule(cell, (channels[i], c1), p.filters, p.stride,
                                         reduce_h1, padding, norm_cfg, field=p.kind))
            channels.append(self.cells[-1].out_channels)
        self.channels = tuple(channels)
        n = len(self.plans)
        # the output (0: stem conv, i + 1: cell i) that ends each stage
        self.stage_ends = tuple(max(i + 1 for i, p in enumerate(self.plans) if p.stage == s)
                                for s in range(self.plans[-1].stage + 1))
        self.stage_channels = tuple(channels[e] for e in self.stage_ends)
        self.stage_strides = tuple(2 ** (_num_reductions_before(self.plans, e)
                                         + (lay['stem'] == 'imagenet')) for e in self.stage_ends)
        self.drop_path_rate, self.drop_path_progress = drop_path_rate, 1.
        self._drop_path_ratios = [(i + 1) / n for i in range(n)]
        self.set_drop_path_progress(1.)

    def set_drop_path_progress(self, progress: float) -> None:
        """Scale drop-path by ``progress`` in [0, 1] (TF ramps it up over training)."""
        self.drop_path_progress = float(min(max(progress, 0.), 1.))
        for cell, ratio in zip(self.cells, self._drop_path_ratios):
            cell.drop_prob = self.drop_path_rate * ratio * self.drop_path_progress

    def forward_cells(self, x: torch.Tensor, taps: Sequence[int] = (), stop: int | None = None):
        """Run the stem and the cells up to output ``stop`` (default: all).

        Returns:
            tuple: ``(last output, {tap: output})`` for the output indices in ``taps``.
        """
        stop = len(self.cells) if stop is None else stop
        outs = [self.stem(x)]
        taps = set(taps)
        tapped = {0: outs[0]} if 0 in taps else {}
        for i in range(stop):
            p = self.plans[i]
            outs.append(self.cells[i](outs[i], None if p.h1 is None else outs[p.h1]))
            if i + 1 in taps:
                tapped[i + 1] = outs[-1]
        return outs[-1], tapped


@MODELS.register_module()
class CellNetwork(CellStack):
    """A NASNet / PNASNet / AmoebaNet image classifier built from a cell genotype.

    Example::

        net = CellNetwork('nasnet_a', layout='large', num_classes=1000)   # NASNet-A Large
        net = CellNetwork(**PUBLISHED_MODELS['pnasnet_5_mobile'])
        net = CellNetwork(my_genotype, layout='cifar', cells_per_stage=2, filters=16,
                          num_classes=10, drop_path_rate=0.2, aux_head=True)

    In training mode with ``aux_head`` the forward returns ``(logits, aux_logits)``.

    Args:
        genotype (CellGenotype | dict | str): see :class:`CellStack`.
        layout (str): see :class:`CellStack`. Defaults to 'cifar'.
        num_classes (int): classifier outputs; 0 for none (the forward returns the pooled
            features). Defaults to 1000.
        dropout (float): dropout before the classifier. Defaults to 0.
        aux_head (bool): add NASNet's auxiliary head after the last cell before the second
            reduction. Defaults to False.
        **kwargs: the other :class:`CellStack` arguments.
    """

    def __init__(self, genotype, layout: str = 'cifar', num_classes: int = 1000,
                 dropout: float = 0., aux_head: bool = False, **kwargs):
        super().__init__(genotype, layout, **kwargs)
        self.num_classes = num_classes
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.channels[-1], num_classes) if num_classes else None
        self.aux_index = None
        if aux_head and num_classes:
            reductions = [i for i, p in enumerate(self.plans)
                          if p.stride == 2 and not p.name.startswith('stem')]
            if len(reductions) < 2:
                raise ValueError('aux_head: needs at least 2 reductions (num_reductions)')
            self.aux_index = reductions[1]  # the output just before the second reduction
            size = self.layout['image_size']
            if self.layout['stem'] == 'imagenet':
                size = (size - 3) // 2 + 1
            for _ in range(_num_reductions_before(self.plans, self.aux_index)):
                size = -(-size // 2)
            self.aux_head = AuxHead(self.channels[self.aux_index], num_classes,
                                    (size - 5) // 3 + 1 if size >= 5 else size, self.norm_cfg)

    def forward(self, x: torch.Tensor):
        use_aux = self.aux_index is not None and self.training
        x, taps = self.forward_cells(x, (self.aux_index,) if use_aux else ())
        x = F.adaptive_avg_pool2d(F.relu(x), 1).flatten(1)
        if self.fc is None:
            return x
        logits = self.fc(self.dropout(x))
        return (logits, self.aux_head(taps[self.aux_index])) if use_aux else logits


@MODELS.register_module()
class CellNetBackbone(FrozenStagesMixin, CellStack):
    """A cell network as an mmdet / mmpretrain backbone: a tuple of stage features.

    Stages end at each stem cell but the last and before each reduction and at the end;
    each output is ReLU-ed (the next cell, like the classifier, starts with a ReLU).
    ImageNet layouts (two stem cells) give 4 stages at strides 4, 8, 16, 32 (as ResNet's
    C2-C5, e.g. 168, 1008, 2016, 4032 channels for NASNet-A Large); CIFAR layouts give 3
    stages at strides 1, 2, 4.

    Example (mmpretrain)::

        model = dict(type='ImageClassifier',
                     backbone=dict(type='CellNetBackbone', genotype='nasnet_a',
                                   layout='mobile', out_indices=(3,)),
                     neck=dict(type='GlobalAveragePooling'),
                     head=dict(type='LinearClsHead', num_classes=1000, in_channels=1056))

    Args:
        genotype (CellGenotype | dict | str): see :class:`CellStack`. Defaults to
            'nasnet_a'.
        layout (str): see :class:`CellStack`. Defaults to 'cifar'.
        out_indices (Sequence[int], optional): stages to output. Defaults to None (all).
        frozen_stages (int): freeze the stem and stages ``0 .. frozen_stages`` (-1: none).
            Defaults to -1.
        norm_eval (bool): keep norm layers in eval mode while training. Defaults to False.
        **kwargs: the other :class:`CellStack` arguments (``cells_per_stage``,
            ``filters``, ``padding``, ``drop_path_rate``, ``norm_cfg``, ``init_cfg`` ...).
    """

    def __init__(self, genotype='nasnet_a', layout: str = 'cifar',
                 out_indices: Sequence[int] | None = None, frozen_stages: int = -1,
                 norm_eval: bool = False, **kwargs):
        super().__init__(genotype, layout, **kwargs)
        n = len(self.stage_ends)
        out_indices = tuple(range(n)) if out_indices is None else tuple(out_indices)
        if not out_indices or any(not isinstance(i, int) or not -n <= i < n
                                  for i in out_indices):
            raise ValueError(f'out_indices: stage indices in [0, {n}) are expected, got '
                             f'{out_indices!r}')
        self.out_indices = tuple(sorted({i % n for i in out_indices}))
        if not isinstance(frozen_stages, int) or not -1 <= frozen_stages < n:
            raise bad_value('frozen_stages', frozen_stages, list(range(-1, n)))
        self.frozen_stages, self.norm_eval = frozen_stages, norm_eval
        self.out_channels = tuple(self.stage_channels[i] for i in self.out_indices)
        self._freeze_stages()

    def _frozen_modules(self):
        if self.frozen_stages < 0:
            return []
        return [self.stem] + [c for c, p in zip(self.cells, self.plans)
                              if p.stage <= self.frozen_stages]

    def forward(self, x: torch.Tensor) -> tuple:
        ends = [self.stage_ends[i] for i in self.out_indices]
        _, taps = self.forward_cells(x, ends, stop=max(ends))
        return tuple(F.relu(taps[e]) for e in ends)


def build_published(name: str, **kwargs) -> CellNetwork:
    """:class:`CellNetwork` of a published model (a key of :data:`PUBLISHED_MODELS`)."""
    if name not in PUBLISHED_MODELS:
        raise bad_value('name', name, list(PUBLISHED_MODELS))
    return CellNetwork(**dict(PUBLISHED_MODELS[name], **kwargs))


def conv_linear_flops(model: nn.Module, input_shape: Sequence[int] = (3, 224, 224),
                      device: str = 'meta') -> int:
    """Multiply-adds of the conv and linear layers for one image (groups-aware), the
    convention of ``FlopAnalyzer(...).by_operator()['conv'] + ['linear']``.

    Counted from the output shapes seen by forward hooks, so it runs on the ``'meta'``
    device (no memory, no arithmetic) when the model lives there.

    Args:
        model (nn.Module): the model (run once in eval mode, then restored).
        input_shape (Sequence[int]): ``(C, H, W)``. Defaults to ``(3, 224, 224)``.
        device (str): device of the dummy input. Defaults to 'meta'.
    """
    total = [0]

    def hook(m, inputs, out):
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups
            total[0] += k * out.shape[1:].numel()
        else:
            total[0] += m.in_features * m.out_features * out.shape[:-1].numel()

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), device=device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total[0]


_MOVED = ('DEFAULT_NORM', 'make_pool', 'same_padding', 'SepConv', 'PoolBranch',
          'BottleneckConv', 'Conv2dSame', 'Pool2dSame')
"""Op names that moved to :mod:`nas_det.models.cell_ops` and this module does not use
(those it uses, such as ``OPS`` and ``build_op``, are imported here as before)."""


def __getattr__(name):
    """The names of :data:`_MOVED`, from their new module, with a ``DeprecationWarning``."""
    if name in _MOVED:
        import warnings

        from . import cell_ops
        warnings.warn(f'nas_det.models.cells.{name} moved to nas_det.models.cell_ops.{name}; '
                      'import it from there', DeprecationWarning, stacklevel=2)
        return getattr(cell_ops, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = ['LAYOUTS', 'PUBLISHED_MODELS', 'check_cell', 'parse_genotype', 'plan_cells',
           'CellPlan', 'CellBlock', 'CellModule', 'AuxHead', 'CellStack', 'CellNetwork',
           'CellNetBackbone', 'build_published', 'conv_linear_flops']
