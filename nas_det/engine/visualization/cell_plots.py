"""Drawings of NASNet-style cells: hidden states as nodes, ops as labelled edges (PNG).

Each block ``b{k}`` is a node fed by two edges labelled with the ops applied to its two
inputs (``h0``, ``h1`` or earlier blocks) and marked with its combine (``+`` or ``||``);
the cell output is a node fed by the states of the cell's concat. Nodes sit in columns by
depth (longest path from the inputs), so edges always point right.
"""
from __future__ import annotations

import os
import os.path as osp

from ...space.cells import OP_CODES, Cell, CellGenotype, state_name

_COLORS = {'input': '#9ecae1', 'block': '#fdd0a2', 'output': '#a1d99b'}


def cell_layout(cell: Cell) -> dict:
    """``{state: (column, row)}`` of every state, plus ``'out'`` for the output node."""
    depth = {0: 0, 1: 0}
    for k, b in enumerate(cell.blocks, 2):
        depth[k] = 1 + max(depth[i] for i in b.inputs)
    out_col = 1 + max(depth[i] for i in cell.concat)
    out_col = max(out_col, max(depth.values()) + 1)
    cols = {}
    for s, d in depth.items():
        cols.setdefault(d, []).append(s)
    pos = {}
    for d, states in cols.items():
        n = len(states)
        for r, s in enumerate(sorted(states)):
            pos[s] = (d, (n - 1) / 2 - r)
    pos['out'] = (out_col, 0.)
    return pos


def draw_cell(ax, cell: Cell, title: str = '', short_ops: bool = True) -> None:
    """Draw ``cell`` on the matplotlib axes ``ax``."""
    pos = cell_layout(cell)
    w = max(p[0] for p in pos.values())
    h = max(abs(p[1]) for p in pos.values())

    def xy(s):
        c, r = pos[s]
        return c * 3.2, r * 1.6

    def label(op):
        return OP_CODES.get(op, op) if short_ops else op

    for k, b in enumerate(cell.blocks, 2):
        for j, (i, op) in enumerate(zip(b.inputs, b.ops)):
            (x0, y0), (x1, y1) = xy(i), xy(k)
            # the two edges into a block bend apart, more when they share their source
            rad = (0.3 if b.input0 == b.input1 else 0.12) * (1 if j == 0 else -1)
            ax.annotate('', xy=(x1, y1), xytext=(x0, y0),
                        arrowprops=dict(arrowstyle='-|>', color='#555555', lw=1.0,
                                        shrinkA=14, shrinkB=14,
                                        connectionstyle=f'arc3,rad={rad}'))
            # the label sits on the curve (matplotlib's arc3 is a quadratic Bezier),
            # near the block it feeds, so the labels of one source do not pile up
            cx = (x0 + x1) / 2 + rad * (y1 - y0)
            cy = (y0 + y1) / 2 - rad * (x1 - x0)
            t = 0.76 if j == 0 else 0.56
            lx = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t ** 2 * x1
            ly = (1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t ** 2 * y1
            ax.text(lx, ly, label(op), fontsize=7, ha='center', va='center', color='#08306b',
                    bbox=dict(boxstyle='round,pad=0.12', fc='white', ec='#c6dbef', alpha=0.9))
    xo, yo = xy('out')
    for s in cell.concat:
        x0, y0 = xy(s)
        ax.annotate('', xy=(xo, yo), xytext=(x0, y0),
                    arrowprops=dict(arrowstyle='-|>', color='#31a354', lw=0.9, ls='--',
                                    shrinkA=14, shrinkB=16))
    states = list(range(2 + cell.num_blocks))
    for s in states:
        x, y = xy(s)
        kind = 'input' if s < 2 else 'block'
        text = state_name(s)
        if s >= 2:
            text += ' +' if cell.blocks[s - 2].combine == 'add' else ' ||'
        ax.text(x, y, text, ha='center', va='center', fontsize=9, fontweight='bold',
                bbox=dict(boxstyle='circle,pad=0.35' if s < 2 else 'round,pad=0.4',
                          fc=_COLORS[kind], ec='#333333'))
    ax.text(xo, yo, 'concat', ha='center', va='center', fontsize=9, fontweight='bold',
            bbox=dict(boxstyle='round,pad=0.4', fc=_COLORS['output'], ec='#333333'))
    ax.set_xlim(-1.0, w * 3.2 + 1.0)
    ax.set_ylim(-h * 1.6 - 1.0, h * 1.6 + 1.0)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)


def plot_cells(genotype, path: str, title: str = '') -> str:
    """Write a PNG with the normal and the reduction cell of ``genotype`` (a
    :class:`CellGenotype` or its dict) side by side. Returns ``path``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    if isinstance(genotype, dict):
        genotype = CellGenotype.from_dict(genotype)
    if not isinstance(genotype, CellGenotype):
        raise ValueError(f'genotype: a CellGenotype or its dict is expected, got '
                         f'{type(genotype).__name__}')
    cells = genotype.cells()
    width = sum(2.2 + 2.0 * max(cell_layout(c)['out'][0], 1) for _, c in cells)
    fig, axes = plt.subplots(1, len(cells), figsize=(min(max(width, 6), 24), 4.8),
                             squeeze=False)
    for ax, (name, cell) in zip(axes[0], cells):
        sub = f'{name} cell' + ('' if genotype.reduce is not None else
                                ' (reductions: the same cell with stride 2)')
        draw_cell(ax, cell, sub)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    d = osp.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = ['cell_layout', 'draw_cell', 'plot_cells']
