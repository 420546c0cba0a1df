"""NAS-FPN necks built from a :class:`~nas_det.space.nasfpn.Pyramid` genotype.

`NAS-FPN: Learning Scalable Feature Pyramid Architecture for Object Detection
<https://arxiv.org/abs/1904.07392>`_.

The pyramid is data: every merging cell of the genotype reads two earlier states,
resamples both to its output level (max-pool down, nearest up, with mmcv's zero padding
when a size does not divide), merges them with a *combine op* of :data:`COMBINE_OPS`,
adds the unused states of its level when it is an output cell (see :func:`plan_pyramid`),
then applies ReLU-conv3x3-norm. The pyramid is stacked ``stack_times`` times with separate
weights. Lateral 1x1 convs and the extra P6/P7 levels (1x1 conv + 2x2 max-pool) are those
of mmdet's ``NASFPN``, so with the published genotype (:data:`NASFPN_7CELL`)
:class:`NASFPNNeck` is mmdet's network, key for key up to :func:`mmdet_to_nasfpn_state_dict`.

Checkpoint keys are plain and shared by the fixed neck and the one-shot supernet:
``stages.{s}.cell{k}.out_convs.P{level}.conv.weight`` (a fixed cell holds the conv of its
own level only, a supernet cell one per level), so a fixed neck loads its weights from a
supernet checkpoint by name (:func:`slice_supernet_state_dict`).
"""
from __future__ import annotations

import re
from typing import Callable, Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmengine.model import BaseModule
from mmengine.registry import MODELS

from ..space.base import bad_value
from ..space.nasfpn import LEVELS, NASFPN_OPS, NASFPNSpace, Pyramid, state_name
from ..space.loading import load_genotype
from ..space.published import NASFPN_7CELL, PUBLISHED

GP_STYLES = ('mmdet', 'tf')
"""Global-pooling flavours: mmcv's ``GlobalPoolingCell`` and the TF reference code's."""


# ---- combine ops -------------------------------------------------------------------------
class SumOp(nn.Module):
    """``coarse + fine``.

    Args:
        channels (int): feature width (unused). Defaults to 256.
        gp_style (str): unused. Defaults to ``'mmdet'``.
    """

    def __init__(self, channels: int = 256, gp_style: str = 'mmdet'):
        super().__init__()

    def forward(self, coarse, fine):
        return coarse + fine


class GlobalPoolOp(nn.Module):
    """Global-pooling attention.

    ``gp_style='mmdet'`` (mmcv's ``GlobalPoolingCell`` called as mmdet's ``NASFPN`` calls
    it, coarser input first): ``fine + sigmoid(avgpool(fine)) * coarse``.
    ``gp_style='tf'`` (TF reference code): ``coarse + sigmoid(maxpool(coarse)) * fine``,
    global pooling over the spatial dims.

    Args:
        channels (int): feature width (unused). Defaults to 256.
        gp_style (str): ``'mmdet'`` or ``'tf'``. Defaults to ``'mmdet'``.
    """

    def __init__(self, channels: int = 256, gp_style: str = 'mmdet'):
        super().__init__()
        if gp_style not in GP_STYLES:
            raise bad_value('gp_style', gp_style, GP_STYLES)
        self.gp_style = gp_style

    def forward(self, coarse, fine):
        if self.gp_style == 'mmdet':
            return fine + F.adaptive_avg_pool2d(fine, 1).sigmoid() * coarse
        return coarse + torch.amax(coarse, dim=(2, 3), keepdim=True).sigmoid() * fine


COMBINE_OPS: dict = {'sum': SumOp, 'global_pool': GlobalPoolOp}
"""Combine-op factories by op name: ``factory(channels, gp_style) -> nn.Module`` whose
``forward(coarse, fine)`` merges two maps already resampled to the cell's level. The
cell passes the input read from the coarser level first (on a tie, ``input0`` first)."""


def register_combine_op(name: str, factory: Callable | None = None):
    """Add a combine op to :data:`COMBINE_OPS` (usable as a decorator).

    Example::

        @register_combine_op('max')
        class MaxOp(nn.Module):
            def __init__(self, channels, gp_style='mmdet'):
                super().__init__()
            def forward(self, coarse, fine):
                return torch.maximum(coarse, fine)

        NASFPNNeck(..., genotype=Pyramid([... ('P4', 'P6', 4, 'max') ...]))
        NASFPNSpace(ops=('sum', 'global_pool', 'max'))   # to search with it

    Args:
        name (str): op name used in genotypes (no ``'.'``).
        factory (Callable, optional): ``factory(channels, gp_style) -> nn.Module``.
            Defaults to None (return a decorator).
    """
    if not isinstance(name, str) or not name or '.' in name:
        raise ValueError(f'name: a non-empty op name without ".", got {name!r}')

    def add(f):
        if not callable(f):
            raise ValueError(f'factory: a callable is expected, got {f!r}')
        COMBINE_OPS[name] = f
        return f

    return add if factory is None else add(factory)


# ---- layers ------------------------------------------------------------------------------
def resize(x: torch.Tensor, size: tuple) -> torch.Tensor:
    """Resample ``x`` to ``size`` as mmcv's merge cells do: nearest up-sampling when the
    size tuple is smaller, else max-pooling by the integer ratio, after zero-padding
    (split evenly, the extra pixel at the bottom/right) to a multiple of ``size``."""
    hw = x.shape[-2:]
    if hw == size:
        return x
    if hw < size:
        return F.interpolate(x, size=size, mode='nearest')
    pad_h, pad_w = -hw[0] % size[0], -hw[1] % size[1]
    if pad_h or pad_w:
        x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
    kernel = (x.shape[-2] // size[0], x.shape[-1] // size[1])
    return F.max_pool2d(x, kernel, kernel)


class ReLUConvNorm(nn.Module):
    """ReLU, conv 3x3 (with bias), norm: mmcv's ``ConvModule`` with order
    ``('act', 'conv', 'norm')`` and ``bias=True``, with the same parameter names.

    Args:
        channels (int): input and output width.
        norm_cfg (dict, optional): norm layer config. Defaults to None (no norm).
    """

    def __init__(self, channels: int, norm_cfg: dict | None = None):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=True)
        self.norm_name = None
        if norm_cfg is not None:
            self.norm_name, norm = build_norm_layer(norm_cfg, channels)
            self.add_module(self.norm_name, norm)

    def forward(self, x, inplace: bool = False):
        x = self.conv(F.relu(x, inplace=inplace))
        return getattr(self, self.norm_name)(x) if self.norm_name else x


class MergingCell(nn.Module):
    """A merging cell holding the weights of its candidate ops and output levels.

    :meth:`set_choice` picks what it computes; a fixed neck's cell has exactly one op
    and one level, a supernet's cell all of them.

    Args:
        channels (int): feature width.
        ops (Sequence[str]): combine ops to hold (keys of :data:`COMBINE_OPS`).
        levels (Sequence[int]): output levels to hold a ReLU-conv-norm for.
        norm_cfg (dict, optional): norm layer config. Defaults to None.
        gp_style (str): global-pooling flavour, ``'mmdet'`` or ``'tf'``.
            Defaults to ``'mmdet'``.
    """

    def __init__(self, channels: int, ops: Sequence[str], levels: Sequence[int],
                 norm_cfg: dict | None = None, gp_style: str = 'mmdet'):
        super().__init__()
        self.ops = nn.ModuleDict({op: COMBINE_OPS[op](channels, gp_style) for op in ops})
        self.out_convs = nn.ModuleDict({f'P{lv}': ReLUConvNorm(channels, norm_cfg)
                                        for lv in levels})
        self._plan = None

    def set_choice(self, coarse: int, fine: int, level: int, op: str,
                   residuals: Sequence[int] = (), name: str = 'cell') -> None:
        """Compute ``out_conv[level](op(coarse, fine) + sum(residuals))`` on the states.

        Args:
            coarse (int): state passed first to the op (read from the coarser level).
            fine (int): state passed second.
            level (int): output level.
            op (str): combine op (held by this cell).
            residuals (Sequence[int]): states of level ``level`` added before the
                conv. Defaults to ().
            name (str): the cell's name in error messages. Defaults to ``'cell'``.
        """
        self.check_choice(level, op, name)
        self._plan = (coarse, fine, level - LEVELS[0], self.ops[op], self.out_convs[f'P{level}'],
                      tuple(residuals))

    def check_choice(self, level: int, op: str, name: str = 'cell') -> None:
        """A ``ValueError`` naming ``name/op`` or ``name/level`` if this cell holds no
        weights for the choice."""
        if op not in self.ops:
            raise ValueError(f'{name}/op: {op!r} has no weights in this cell; allowed values: '
                             f'{list(self.ops)}')
        if f'P{level}' not in self.out_convs:
            raise ValueError(f'{name}/level: {level!r} has no weights in this cell; allowed '
                             f'values: {[int(k[1:]) for k in self.out_convs]}')

    def forward(self, states: Sequence[torch.Tensor], sizes: Sequence[tuple]) -> torch.Tensor:
        coarse, fine, lv, op, out_conv, residuals = self._plan
        a, b = resize(states[coarse], sizes[lv]), resize(states[fine], sizes[lv])
        x = op(a, b)
        for r in residuals:
            x = x + states[r]
        # In-place ReLU only on a fresh tensor, never on a state.
        return out_conv(x, inplace=x is not a and x is not b)


# ---- genotypes ---------------------------------------------------------------------------
def read_pyramid(genotype) -> Pyramid:
    """A :class:`Pyramid` from any of its forms (not yet validated).

    Args:
        genotype (Pyramid | dict | str | None): a pyramid, its dict (with or without the
            ``space``/``version`` header, also wrapped as ``{"genotype": {...}}``), the
            name of a published pyramid (``'nasfpn_7cell'``) or None (the published one).
    """
    if genotype is None:
        return NASFPN_7CELL
    if isinstance(genotype, Pyramid):
        return genotype
    if isinstance(genotype, str) and genotype in PUBLISHED \
            and not isinstance(PUBLISHED[genotype], Pyramid):
        names = [k for k, v in PUBLISHED.items() if isinstance(v, Pyramid)]
        raise bad_value('genotype', genotype, names)
    if isinstance(genotype, (str, Mapping)):
        return load_genotype(genotype, NASFPNSpace.name)
    raise ValueError(f'genotype: a Pyramid, its dict or a published name is expected, got '
                     f'{type(genotype).__name__}')


def check_pyramid(genotype, ops: Sequence[str] | None = None) -> Pyramid:
    """:func:`read_pyramid`, validated: a ``ValueError`` naming the cell and field when a
    cell reads a state not computed before it, has a level outside P3-P7 or an unknown op,
    or when the last five cells do not output every level P3-P7 once.

    Args:
        genotype: see :func:`read_pyramid`.
        ops (Sequence[str], optional): allowed ops. Defaults to None (every op of
            :data:`COMBINE_OPS`).
    """
    g = read_pyramid(genotype)
    ops = tuple(COMBINE_OPS if ops is None else ops)
    if g.num_cells < len(LEVELS):
        raise ValueError(f'cells: at least {len(LEVELS)} merging cells are needed (the last '
                         f'{len(LEVELS)} output P3-P7), got {g.num_cells}')
    for k, cell in enumerate(g.cells):
        for field in ('input0', 'input1'):
            s = getattr(cell, field)
            if s >= len(LEVELS) + k:
                raise ValueError(
                    f'cell{k}/{field}: {state_name(s)} is not computed before cell{k} (which '
                    f'makes n{len(LEVELS) + k}); allowed values: '
                    f'{[state_name(i) for i in range(len(LEVELS) + k)]}')
        if cell.level not in LEVELS:
            raise ValueError(f'cell{k}/level: {cell.level!r} is outside P3-P7; allowed values: '
                             f'{list(LEVELS)}')
        if cell.op not in ops:
            raise bad_value(f'cell{k}/op', cell.op, ops)
    return NASFPNSpace(g.num_cells, ops).validate(g)


def plan_pyramid(genotype: Pyramid) -> tuple:
    """How each cell of a (valid) pyramid runs.

    Roles: the input read from the coarser level is passed first to the op (on a tie,
    ``input0``), the role order of both global-pooling flavours; with the published
    genotype this reproduces mmdet's calls ``gp_64_4(p6, p4)``, ``gp_43_5(p4, p3)``,
    ``gp_54_7(p5, p4_2)`` and ``gp_75_6(p7, p5)`` exactly.

    Unused states: every state that is neither read by a cell nor a pyramid output (in
    the published pyramid P5 and P7) is added, before the conv, to the output cell of its
    level, as in the paper and mmdet (``sum_55_5(p5, gp(...))``, ``sum_77_7(p7, gp(...))``).

    Returns:
        tuple: ``(cells, outputs)``: per cell ``(coarse, fine, level, op, residuals)``
        (see :meth:`MergingCell.set_choice`), and the output states ordered P3..P7.
    """
    n_in = len(LEVELS)
    levels = list(LEVELS) + [c.level for c in genotype.cells]
    outputs = genotype.outputs()
    read = {s for c in genotype.cells for s in c.inputs}
    residuals = {s: [] for s in outputs.values()}
    for s in range(len(levels)):
        if s not in read and s not in outputs.values():
            residuals[outputs[levels[s]]].append(s)
    cells = []
    for k, c in enumerate(genotype.cells):
        coarse, fine = c.inputs if levels[c.input0] >= levels[c.input1] else c.inputs[::-1]
        cells.append((coarse, fine, c.level, c.op, tuple(residuals.get(n_in + k, ()))))
    return tuple(cells), tuple(outputs[lv] for lv in LEVELS)


# ---- necks -------------------------------------------------------------------------------
@MODELS.register_module()
class NASFPNNeck(BaseModule):
    """NAS-FPN neck built from a pyramid genotype.

    `NAS-FPN: Learning Scalable Feature Pyramid Architecture for Object Detection
    <https://arxiv.org/abs/1904.07392>`_. With the published 7-cell pyramid and mmdet's
    arguments this is mmdet's ``NASFPN`` (same parameters, same outputs once weights are
    mapped by :func:`mmdet_to_nasfpn_state_dict`).

    Example::

        neck = NASFPNNeck(in_channels=[256, 512, 1024, 2048], out_channels=256,
                          num_outs=5, stack_times=7, start_level=1,
                          norm_cfg=dict(type='BN'), genotype='nasfpn_7cell')

    Args:
        in_channels (list[int]): input widths per backbone level.
        out_channels (int): width of every pyramid level.
        num_outs (int): output levels; must be 5 (P3-P7 of the genotype).
        stack_times (int): times the pyramid is stacked (separate weights).
        start_level (int): first backbone level used (it becomes P3). Defaults to 0.
        end_level (int): last backbone level used (inclusive, as in mmdet 3.x); -1 for
            the last. Levels above it up to P7 are made by 1x1 conv + 2x2 max-pool.
            Defaults to -1.
        add_extra_convs (bool): accepted for mmdet compatibility; only False (extra
            levels by 1x1 conv + max-pool) is supported. Defaults to False.
        norm_cfg (dict, optional): norm layer config. Defaults to None.
        genotype (Pyramid | dict | str, optional): the pyramid (see
            :func:`read_pyramid`). Defaults to None (the published ``'nasfpn_7cell'``).
        gp_style (str): global pooling as in mmdet (``'mmdet'``) or in the TF reference
            code (``'tf'``), see :class:`GlobalPoolOp`. Defaults to ``'mmdet'``.
        init_cfg (dict | list[dict], optional): initialization config. Defaults to
            ``dict(type='Caffe2Xavier', layer='Conv2d')``.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, num_outs: int,
                 stack_times: int, start_level: int = 0, end_level: int = -1,
                 add_extra_convs: bool = False, norm_cfg: dict | None = None,
                 genotype=None, gp_style: str = 'mmdet',
                 init_cfg=dict(type='Caffe2Xavier', layer='Conv2d')):
        super().__init__(init_cfg=init_cfg)
        self._check_args(in_channels, out_channels, num_outs, stack_times, start_level,
                         end_level, add_extra_convs, gp_style)
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_outs = num_outs
        self.stack_times = stack_times
        self.start_level = start_level
        self.end_level = end_level
        self.gp_style = gp_style
        num_ins = len(in_channels)
        self.backbone_end_level = num_ins if end_level in (-1, num_ins - 1) else end_level + 1
        self.lateral_convs = nn.ModuleList([
            ConvModule(c, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None)
            for c in in_channels[start_level:self.backbone_end_level]])
        self.extra_downsamples = nn.ModuleList([
            nn.Sequential(ConvModule(out_channels, out_channels, 1, norm_cfg=norm_cfg,
                                     act_cfg=None), nn.MaxPool2d(2, 2))
            for _ in range(num_outs - len(self.lateral_convs))])
        self.genotype = None
        self.stages = nn.ModuleList([
            nn.ModuleDict({f'cell{k}': MergingCell(out_channels, *choice, norm_cfg, gp_style)
                           for k, choice in enumerate(self._cell_choices(genotype))})
            for _ in range(stack_times)])
        self.set_choices(self.genotype)

    @staticmethod
    def _check_args(in_channels, out_channels, num_outs, stack_times, start_level, end_level,
                    add_extra_convs, gp_style):
        def pos_int(v):
            return isinstance(v, int) and not isinstance(v, bool) and v > 0

        if isinstance(in_channels, (str, bytes)) or not isinstance(in_channels, Sequence) \
                or not in_channels or not all(pos_int(c) for c in in_channels):
            raise ValueError(f'in_channels: a list of positive ints is expected, got '
                             f'{in_channels!r}')
        for name, v in (('out_channels', out_channels), ('stack_times', stack_times)):
            if not pos_int(v):
                raise ValueError(f'{name}: a positive int is expected, got {v!r}')
        if num_outs != len(LEVELS):
            raise bad_value('num_outs', num_outs, [len(LEVELS)])
        num_ins = len(in_channels)
        if not isinstance(start_level, int) or not 0 <= start_level < num_ins:
            raise bad_value('start_level', start_level, list(range(num_ins)))
        if end_level not in [-1, *range(start_level, num_ins)]:
            raise bad_value('end_level', end_level, [-1, *range(start_level, num_ins)])
        used = (num_ins if end_level == -1 else end_level + 1) - start_level
        if used > num_outs:
            raise ValueError(f'start_level/end_level: {used} backbone levels are used but the '
                             f'pyramid has only num_outs={num_outs} levels')
        if end_level not in (-1, num_ins - 1) and used != num_outs:
            raise ValueError(f'end_level: {end_level} is not the last backbone level, so no '
                             f'extra level is allowed and it must be start_level + num_outs - 1 '
                             f'= {start_level + num_outs - 1}')
        if add_extra_convs:
            raise bad_value('add_extra_convs', add_extra_convs, [False])
        if gp_style not in GP_STYLES:
            raise bad_value('gp_style', gp_style, GP_STYLES)

    def _cell_choices(self, genotype) -> list:
        """``(ops, levels)`` each cell holds weights for: those of the genotype."""
        self.genotype = check_pyramid(genotype)
        return [((c.op,), (c.level,)) for c in self.genotype.cells]

    def set_choices(self, genotype) -> Pyramid:
        """Route every stage through ``genotype`` (its cells must hold the chosen ops
        and levels: a fixed neck only runs its own pyramid). Returns the validated pyramid."""
        g = check_pyramid(genotype)
        if g.num_cells != len(self.stages[0]):
            raise ValueError(f'cells: this neck has {len(self.stages[0])} merging cells, the '
                             f'genotype {g.num_cells}')
        cells, outputs = plan_pyramid(g)
        for (name, cell), (_, _, level, op, _) in zip(self.stages[0].items(), cells):
            cell.check_choice(level, op, name)  # before changing any cell
        for stage in self.stages:
            for (name, cell), choice in zip(stage.items(), cells):
                cell.set_choice(*choice, name=name)
        self.genotype, self._outputs = g, outputs
        return g

    def _check_sizes(self, inputs) -> None:
        if len(inputs) < self.backbone_end_level:
            raise ValueError(f'inputs: {self.backbone_end_level} feature maps are expected '
                             f'(in_channels={self.in_channels}), got {len(inputs)}')
        h, w = inputs[self.backbone_end_level - 1].shape[-2:]
        for k in range(len(self.extra_downsamples)):
            h, w = h // 2, w // 2
            if h < 1 or w < 1:
                h3, w3 = inputs[self.start_level].shape[-2:]
                top = LEVELS[-1]
                raise ValueError(
                    f'inputs: features of {h3}x{w3} at P{LEVELS[0]} (an input of about '
                    f'{h3 * 2 ** LEVELS[0]}x{w3 * 2 ** LEVELS[0]} if P{LEVELS[0]} has stride '
                    f'{2 ** LEVELS[0]}) are too small for {len(LEVELS)} levels: '
                    f'P{top - len(self.extra_downsamples) + k + 1} would be empty; pad images '
                    f'to a multiple of {2 ** top} (set pad_size_divisor={2 ** top} in the data '
                    'preprocessor) or use larger images')

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple:
        """Features of the backbone levels -> the pyramid P3..P7 (a tuple of 5 maps)."""
        self._check_sizes(inputs)
        feats = [conv(inputs[self.start_level + i]) for i, conv in enumerate(self.lateral_convs)]
        for down in self.extra_downsamples:
            feats.append(down(feats[-1]))
        sizes = [f.shape[-2:] for f in feats]
        for stage in self.stages:
            for cell in stage.values():
                feats.append(cell(feats, sizes))
            feats = [feats[s] for s in self._outputs]
        return tuple(feats)


@MODELS.register_module()
class NASFPNSupernet(NASFPNNeck):
    """One-shot NAS-FPN supernet: every merging cell can run any op at any level.

    Weight sharing: cell ``k`` of stage ``s`` holds one ReLU-conv-norm per output level
    (``stages.{s}.cell{k}.out_convs.P{level}``; features of different levels have very
    different statistics, so the level choice does not share a norm) and every combine op
    of ``ops`` (the built-in ones have no weights); its input choices share all of them.
    :meth:`set_choices` routes the whole stack through one pyramid; a sampling hook
    (``UniformSamplingHook``) calls ``set_choices(search_space.sample(rng))`` before each
    iteration. Weights of unchosen levels get no gradient in a step (DDP needs
    ``find_unused_parameters=True``). A fixed :class:`NASFPNNeck` loads a subnet's weights
    from a supernet checkpoint by name with :func:`slice_supernet_state_dict`.

    Args:
        in_channels, out_channels, num_outs, stack_times, start_level, end_level,
        add_extra_convs, norm_cfg, gp_style, init_cfg: as in :class:`NASFPNNeck`.
        num_cells (int): merging cells per pyramid. Defaults to 7.
        ops (Sequence[str]): candidate combine ops. Defaults to ``('sum', 'global_pool')``.
        genotype (Pyramid | dict | str, optional): the initial pyramid. Defaults to None
            (the published one with 7 cells, else the first pyramid of the space).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, num_outs: int,
                 stack_times: int, start_level: int = 0, end_level: int = -1,
                 add_extra_convs: bool = False, norm_cfg: dict | None = None,
                 num_cells: int = 7, ops: Sequence[str] = NASFPN_OPS, genotype=None,
                 gp_style: str = 'mmdet', init_cfg=dict(type='Caffe2Xavier', layer='Conv2d')):
        if isinstance(ops, str) or not all(op in COMBINE_OPS for op in ops):
            bad = ops if isinstance(ops, str) else next(op for op in ops if op not in COMBINE_OPS)
            raise bad_value('ops', bad, list(COMBINE_OPS))
        self._space = NASFPNSpace(num_cells, ops)
        if genotype is None:
            genotype = NASFPN_7CELL if num_cells == NASFPN_7CELL.num_cells and all(
                c.op in ops for c in NASFPN_7CELL.cells) else \
                self._space.from_tokens([0] * len(self._space))
        super().__init__(in_channels, out_channels, num_outs, stack_times, start_level,
                         end_level, add_extra_convs, norm_cfg, genotype, gp_style, init_cfg)

    def _cell_choices(self, genotype) -> list:
        self.genotype = self._space.validate(check_pyramid(genotype, self._space.ops))
        return [(self._space.ops, LEVELS)] * self._space.num_cells

    @property
    def search_space(self) -> NASFPNSpace:
        """The space of pyramids this supernet can run."""
        return self._space

    @property
    def choices(self) -> Pyramid:
        """The current pyramid."""
        return self.genotype

    def set_choices(self, genotype) -> Pyramid:
        return super().set_choices(self._space.validate(check_pyramid(genotype,
                                                                      self._space.ops)))


# ---- checkpoints -------------------------------------------------------------------------
MMDET_CELLS = {'gp_64_4': (0, 4), 'sum_44_4': (1, 4), 'sum_43_3': (2, 3), 'sum_34_4': (3, 4),
               'sum_55_5': (4, 5), 'sum_77_7': (5, 7), 'gp_75_6': (6, 6)}
"""mmdet ``NASFPN`` cell name -> (cell index, level) of :data:`NASFPN_7CELL` whose output
conv it holds. ``gp_43_5`` and ``gp_54_7`` have no conv: mmdet merges the unused P5/P7
in ``sum_55_5`` / ``sum_77_7``, whose conv is that of our cells 4 (n9) and 5 (n10)."""

_MMDET_KEY = re.compile(r'(.*?)fpn_stages\.(\d+)\.([a-z0-9_]+)\.out_conv\.(.+)')


def mmdet_to_nasfpn_state_dict(state_dict: Mapping) -> dict:
    """Map the keys of mmdet's ``NASFPN`` onto :class:`NASFPNNeck` with the published
    genotype.

    ``lateral_convs.*`` and ``extra_downsamples.*`` keep their names;
    ``fpn_stages.{s}.{name}.out_conv.{rest}`` becomes
    ``stages.{s}.cell{k}.out_convs.P{level}.{rest}`` with ``(k, level) = MMDET_CELLS[name]``.
    Any prefix (e.g. ``'neck.'`` in a detector checkpoint) is kept. On the command line:
    ``tools/convert_mmdet_nasfpn.py SRC DST``.

    Args:
        state_dict (Mapping): mmdet ``NASFPN`` (or detector) state dict.

    Returns:
        dict: the mapped state dict (same tensors).
    """
    out = {}
    for key, value in state_dict.items():
        m = _MMDET_KEY.fullmatch(key)
        if m is None:
            if '.fpn_stages.' in f'.{key}':
                raise ValueError(f'state_dict: {key!r} is not an output conv of an mmdet '
                                 f'NASFPN cell {list(MMDET_CELLS)}')
            out[key] = value
            continue
        prefix, s, name, rest = m.groups()
        if name not in MMDET_CELLS:
            raise bad_value(f'state_dict[{key!r}] cell', name, list(MMDET_CELLS))
        k, level = MMDET_CELLS[name]
        out[f'{prefix}stages.{s}.cell{k}.out_convs.P{level}.{rest}'] = value
    return out


_CELL_KEY = re.compile(r'stages\.(\d+)\.cell(\d+)\.(out_convs\.P(\d)|ops\.([^.]+))\.')


def slice_supernet_state_dict(state_dict: Mapping, genotype, prefix: str = 'neck.') -> dict:
    """Keep the entries of a :class:`NASFPNSupernet` checkpoint that a fixed
    :class:`NASFPNNeck` on ``genotype`` needs.

    Args:
        state_dict (Mapping): a supernet state dict, e.g. a whole detector's.
        genotype (Pyramid | dict | str): the subnet's pyramid.
        prefix (str): prefix of the neck's keys; ``''`` for a bare neck.
            Defaults to ``'neck.'``.

    Returns:
        dict: every entry outside the cells, and, inside, those of each cell's chosen
        level and op.
    """
    g = check_pyramid(genotype)
    out = {}
    for key, value in state_dict.items():
        m = _CELL_KEY.match(key, len(prefix)) if key.startswith(prefix) else None
        if m is None:
            out[key] = value
            continue
        k = int(m.group(2))
        if k >= g.num_cells:
            raise ValueError(f'genotype: {key!r} belongs to cell{k}, but the pyramid has '
                             f'{g.num_cells} cells')
        cell = g.cells[k]
        if (m.group(4) and int(m.group(4)) == cell.level) or m.group(5) == cell.op:
            out[key] = value
    return out
