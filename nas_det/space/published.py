"""Published genotypes as data (from the TF reference code and the NAS-FPN paper).

Each cell block below reads ``(input0, op0, input1, op1)``; states ``h0`` = previous
cell's output, ``h1`` = the cell before, ``bK`` = block K of the cell. NAS-FPN cells read
``(input0, input1, level, op)`` with ``P3``..``P7`` the input features and ``nK`` the
output of cell ``K - 5``. Every genotype validates in :func:`published_space` ``(name)``.
"""
from __future__ import annotations

from .cells import Cell, CellGenotype, CellSpace
from .detnas import DETNAS_OPS, DetNASPath, DetNASSpace
from .nasfpn import NASFPNSpace, Pyramid

NASNET_A = CellGenotype(
    normal=Cell((
        ('h0', 'sep_conv_5x5', 'h1', 'sep_conv_3x3'),  # b2
        ('h1', 'sep_conv_5x5', 'h1', 'sep_conv_3x3'),  # b3
        ('h0', 'avg_pool_3x3', 'h1', 'identity'),      # b4
        ('h1', 'avg_pool_3x3', 'h1', 'avg_pool_3x3'),  # b5
        ('h0', 'sep_conv_3x3', 'h0', 'identity'),      # b6
    ), concat=('h1', 'b2', 'b3', 'b4', 'b5', 'b6')),
    reduce=Cell((
        ('h0', 'sep_conv_5x5', 'h1', 'sep_conv_7x7'),  # b2
        ('h0', 'max_pool_3x3', 'h1', 'sep_conv_7x7'),  # b3
        ('h0', 'avg_pool_3x3', 'h1', 'sep_conv_5x5'),  # b4
        ('b3', 'identity', 'b2', 'avg_pool_3x3'),      # b5
        ('b2', 'sep_conv_3x3', 'h0', 'max_pool_3x3'),  # b6
    ), concat=('b3', 'b4', 'b5', 'b6')))
"""NASNet-A (Zoph et al., 2018): normal and reduction cell."""

PNASNET_5 = CellGenotype(
    normal=Cell((
        ('h1', 'sep_conv_5x5', 'h1', 'max_pool_3x3'),  # b2
        ('h0', 'sep_conv_7x7', 'h0', 'max_pool_3x3'),  # b3
        ('h0', 'sep_conv_5x5', 'h0', 'sep_conv_3x3'),  # b4
        ('b4', 'sep_conv_3x3', 'h0', 'max_pool_3x3'),  # b5
        ('h1', 'sep_conv_3x3', 'h0', 'identity'),      # b6
    ), concat=('b2', 'b3', 'b4', 'b5', 'b6')),
    reduce=None)
"""PNASNet-5 (Liu et al., 2018): one cell, applied with stride 2 for reductions."""

AMOEBANET_A = CellGenotype(
    normal=Cell((
        ('h0', 'avg_pool_3x3', 'h0', 'max_pool_3x3'),  # b2
        ('h1', 'sep_conv_3x3', 'h1', 'identity'),      # b3
        ('h0', 'identity', 'h1', 'avg_pool_3x3'),      # b4
        ('h0', 'sep_conv_3x3', 'b2', 'sep_conv_5x5'),  # b5
        ('b5', 'avg_pool_3x3', 'h0', 'sep_conv_3x3'),  # b6
    ), concat=('h1', 'b3', 'b4', 'b6')),
    reduce=Cell((
        ('h1', 'sep_conv_3x3', 'h0', 'avg_pool_3x3'),  # b2
        ('h0', 'max_pool_3x3', 'b2', 'sep_conv_7x7'),  # b3
        ('h1', 'max_pool_3x3', 'h0', 'max_pool_3x3'),  # b4
        ('b4', 'sep_conv_3x3', 'h0', 'conv_1x7_7x1'),  # b5
        ('h1', 'avg_pool_3x3', 'h0', 'sep_conv_7x7'),  # b6
    ), concat=('b2', 'b3', 'b4', 'b5', 'b6')))
"""AmoebaNet-A (Real et al., 2019): normal and reduction cell."""

NASFPN_7CELL = Pyramid((
    ('P4', 'P6', 4, 'global_pool'),   # n5
    ('P4', 'n5', 4, 'sum'),           # n6
    ('P3', 'n6', 3, 'sum'),           # n7, output P3
    ('n6', 'n7', 4, 'sum'),           # n8, output P4
    ('n7', 'n8', 5, 'global_pool'),   # n9, output P5
    ('n6', 'n9', 7, 'global_pool'),   # n10, output P7
    ('n9', 'n10', 6, 'global_pool'),  # n11, output P6
))
"""The published 7-cell NAS-FPN pyramid (Ghiasi et al., 2019), inputs in the paper's
order (mmdet passes the global-pooling inputs of n5 reversed: ``gp_64_4(p6, p4)``)."""



def _detnas(stage_blocks, tokens):
    # the official DetNAS release lists one token per block, 0..3 = shuffle 3x3, 5x5,
    # 7x7, xception 3x3 (the order of DETNAS_OPS)
    return DetNASPath(stage_blocks, tuple(DETNAS_OPS[t] for t in tokens))


DETNAS_300M_FPN = _detnas((4, 4, 8, 4), (2, 1, 2, 0, 2, 1, 1, 2, 3, 3, 1, 3, 0, 0, 3, 1, 3, 1, 3, 2))
"""DetNAS-300M found under FPN (Faster R-CNN) on COCO (official release)."""
DETNAS_300M_RETINANET = _detnas((4, 4, 8, 4),
                                (2, 3, 1, 1, 3, 2, 1, 3, 3, 1, 1, 1, 3, 3, 2, 0, 3, 3, 3, 3))
"""DetNAS-300M found under RetinaNet on COCO (official release)."""
DETNAS_1_3G_FPN = _detnas((8, 8, 16, 8), (0, 0, 3, 1, 2, 1, 0, 2, 0, 3, 1, 2, 3, 3, 2, 0, 2, 1, 1, 3,
                                          2, 0, 2, 2, 2, 1, 3, 1, 0, 3, 3, 3, 1, 3, 3, 3, 3, 3, 3, 3))
"""DetNAS-1.3G (and 3.8G: the same path) found under FPN on COCO (official release)."""

PUBLISHED = {'nasnet_a': NASNET_A, 'pnasnet_5': PNASNET_5, 'amoebanet_a': AMOEBANET_A,
             'nasfpn_7cell': NASFPN_7CELL, 'detnas_300m_fpn': DETNAS_300M_FPN,
             'detnas_300m_retinanet': DETNAS_300M_RETINANET, 'detnas_1.3g_fpn': DETNAS_1_3G_FPN}
"""Every published genotype by name."""

PUBLISHED_SPACES = {
    'nasnet_a': dict(type='CellSpace', ops='nasnet', concat='explicit'),
    'pnasnet_5': dict(type='CellSpace', ops='pnas', cells=['normal'], concat='all'),
    'amoebanet_a': dict(type='CellSpace', ops='amoeba', concat='explicit'),
    'nasfpn_7cell': dict(type='NASFPNSpace', num_cells=7),
    'detnas_300m_fpn': dict(type='DetNASSpace', stage_blocks='300M'),
    'detnas_300m_retinanet': dict(type='DetNASSpace', stage_blocks='300M'),
    'detnas_1.3g_fpn': dict(type='DetNASSpace', stage_blocks='1.3G'),
}
"""Config of the space each published genotype belongs to (``registry.build_space``)."""

_CLASSES = {'CellSpace': CellSpace, 'NASFPNSpace': NASFPNSpace, 'DetNASSpace': DetNASSpace}


def _check_name(name: str) -> str:
    if name not in PUBLISHED:
        raise ValueError(f'name: {name!r} is not a published genotype; allowed values: '
                         f'{sorted(PUBLISHED)}')
    return name


def get_published(name: str):
    """The published genotype called ``name`` (a key of :data:`PUBLISHED`)."""
    return PUBLISHED[_check_name(name)]


def published_space(name: str):
    """The search space the published genotype ``name`` belongs to."""
    cfg = dict(PUBLISHED_SPACES[_check_name(name)])
    return _CLASSES[cfg.pop('type')](**cfg)
