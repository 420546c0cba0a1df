"""PNG plots of a search from its trial records (``trials.jsonl``)."""
from __future__ import annotations

import math
import os.path as osp


def _finite(x):
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def pareto_front(points: list) -> list:
    """Indices of the points ``(cost, reward)`` that no other point beats on both
    (lower cost and higher reward), sorted by cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def plot_search(records: list, out_dir: str, reward_name: str = 'reward',
                cost_key: str | None = None, title: str = 'search') -> list:
    """Write ``search_progress.png`` (best and mean reward per batch, every candidate) and,
    when records carry ``cost[cost_key]``, ``search_pareto.png`` (reward against cost,
    the Pareto front marked). Returns the files written."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    written = []
    if not records:
        return written
    batches = sorted({r['batch'] for r in records})
    best_so_far, mean, best = [], [], -math.inf
    for b in batches:
        vals = [v for v in (_finite(r['reward']) for r in records if r['batch'] == b)
                if v is not None]
        if vals:
            best = max(best, max(vals))
        mean.append(sum(vals) / len(vals) if vals else float('nan'))
        best_so_far.append(best if best > -math.inf else float('nan'))
    fig, ax = plt.subplots(figsize=(6.4, 4))
    xs = [r['batch'] for r in records if _finite(r['reward']) is not None]
    ys = [_finite(r['reward']) for r in records if _finite(r['reward']) is not None]
    ax.scatter(xs, ys, s=8, alpha=0.35, color='gray', label='candidates')
    ax.plot(batches, mean, 'o-', color='tab:blue', label='mean of batch')
    ax.plot(batches, best_so_far, 's-', color='tab:red', label='best so far')
    ax.set_xlabel('batch (generation)')
    ax.set_ylabel(reward_name)
    ax.set_title(title)
    ax.legend(loc='lower right')
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = osp.join(out_dir, 'search_progress.png')
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

    if cost_key:
        pts = [(float(r['cost'][cost_key]), _finite(r['reward'])) for r in records
               if cost_key in r.get('cost', {}) and _finite(r['reward']) is not None]
        if pts:
            front = pareto_front(pts)
            fig, ax = plt.subplots(figsize=(6.4, 4))
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=10, alpha=0.5,
                       label='candidates')
            ax.plot([pts[i][0] for i in front], [pts[i][1] for i in front], 'r.-',
                    label='Pareto front')
            ax.set_xlabel(cost_key)
            ax.set_ylabel(reward_name)
            ax.set_title(f'{title}: {reward_name} against {cost_key}')
            ax.legend(loc='lower right')
            ax.grid(alpha=0.3)
            fig.tight_layout()
            path = osp.join(out_dir, 'search_pareto.png')
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)
    return written


def moving_average(values: list, window: int) -> list:
    """Trailing mean over the last ``window`` finite values (None entries are skipped;
    the first points average what there is)."""
    out, buf = [], []
    for v in values:
        if v is not None:
            buf.append(v)
            buf = buf[-window:]
        out.append(sum(buf) / len(buf) if buf else float('nan'))
    return out


def plot_rewards(records: list, out_dir: str, reward_name: str = 'reward',
                 title: str = 'search', window: int | None = None) -> str | None:
    """Write ``search_rewards.png``: the reward of every child in evaluation order, its
    moving average (``window`` children, default about a tenth of them, at least 3) and
    the best so far; failed children are marked at the bottom. Returns the file."""
    if not records:
        return None
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    vals = [_finite(r['reward']) for r in records]
    xs = list(range(1, len(vals) + 1))
    window = window or max(3, len(vals) // 10)
    best, best_so_far = -math.inf, []
    for v in vals:
        if v is not None:
            best = max(best, v)
        best_so_far.append(best if best > -math.inf else float('nan'))
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ok = [(x, v) for x, v in zip(xs, vals) if v is not None]
    ax.scatter([p[0] for p in ok], [p[1] for p in ok], s=10, alpha=0.5, color='gray',
               label='child')
    ax.plot(xs, moving_average(vals, window), '-', color='tab:blue',
            label=f'moving average ({window})')
    ax.plot(xs, best_so_far, '-', drawstyle='steps-post', color='tab:red', label='best so far')
    failed = [x for x, v in zip(xs, vals) if v is None]
    if failed:
        ys = [p[1] for p in ok] or [0.0]
        low = min(ys) - 0.05 * (max(ys) - min(ys) or 1.0)
        ax.scatter(failed, [low] * len(failed), marker='x', color='black',
                   label=f'failed ({len(failed)})')
    ax.set_xlabel('child (evaluation order)')
    ax.set_ylabel(reward_name)
    ax.set_title(title)
    ax.legend(loc='lower right', fontsize='small')
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = osp.join(out_dir, 'search_rewards.png')
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_pyramid(genotype, path: str, title: str | None = None) -> str:
    """Draw a NAS-FPN pyramid: pyramid levels as rows (P7 at the top), the inputs P3-P7
    in the first column, one column per merging cell (a node labelled with its op at its
    output level), edges from its two inputs; output cells are outlined in red and the
    unused states added to the output of their level (as the neck does) are dashed edges.
    Returns ``path``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from ...space.nasfpn import LEVELS, state_name
    n_in = len(LEVELS)
    cells = genotype.cells
    outputs = genotype.outputs()
    out_states = set(outputs.values())
    read = {s for c in cells for s in c.inputs}
    pos = {i: (0, lv) for i, lv in enumerate(LEVELS)}
    for k, c in enumerate(cells):
        pos[n_in + k] = (k + 1, c.level)
    fig, ax = plt.subplots(figsize=(1.3 * (len(cells) + 2), 4.2))
    for k, c in enumerate(cells):
        x1, y1 = pos[n_in + k]
        for j, s in enumerate(c.inputs):
            x0, y0 = pos[s]
            rad = 0.25 if x1 - x0 > 1 and y0 == y1 else 0.0
            if j == 1 and c.input0 == c.input1:  # both inputs the same state: two edges
                rad -= 0.3
            ax.annotate('', xy=(x1 - 0.18, y1), xytext=(x0 + 0.18, y0),
                        arrowprops=dict(arrowstyle='->', color='tab:blue' if j == 0 else 'tab:green',
                                        lw=1.2, connectionstyle=f'arc3,rad={rad}'))
    levels_all = list(LEVELS) + [c.level for c in cells]
    for s in range(n_in + len(cells)):
        if s not in read and s not in out_states:
            x0, y0 = pos[s]
            x1, y1 = pos[outputs[levels_all[s]]]
            ax.annotate('', xy=(x1 - 0.18, y1), xytext=(x0 + 0.18, y0),
                        arrowprops=dict(arrowstyle='->', color='gray', lw=1.0, ls='--',
                                        connectionstyle='arc3,rad=-0.3'))
    for s, (x, y) in pos.items():
        is_cell = s >= n_in
        label = state_name(s)
        if is_cell:
            op = cells[s - n_in].op
            label += '\n' + {'sum': 'sum', 'global_pool': 'GP'}.get(op, op)
        edge = 'tab:red' if s in out_states else 'black'
        ax.text(x, y, label, ha='center', va='center', fontsize=8,
                bbox=dict(boxstyle='round,pad=0.35', fc='lightyellow' if is_cell else 'lightgray',
                          ec=edge, lw=2 if s in out_states else 1))
    ax.set_xlim(-0.6, len(cells) + 0.6)
    ax.set_ylim(LEVELS[0] - 0.9, LEVELS[-1] + 0.9)
    ax.set_yticks(list(LEVELS))
    ax.set_yticklabels([f'P{lv}' for lv in LEVELS])
    ax.set_xticks(range(len(cells) + 1))
    ax.set_xticklabels(['inputs'] + [f'cell{k}' for k in range(len(cells))], fontsize=8)
    ax.set_title((title + "\n" if title else "") + "blue: input0, green: input1, red: pyramid outputs, "
                 "dashed: unused states added to their level's output",
                 fontsize=9)
    for sp in ('top', 'right'):
        ax.spines[sp].set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_genotype(genotype, path: str, title: str | None = None) -> str | None:
    """A diagram of ``genotype`` when its kind has one (NAS-FPN pyramids, cell
    genotypes); else None."""
    from ...space.cells import CellGenotype
    from ...space.nasfpn import Pyramid
    if isinstance(genotype, Pyramid):
        return plot_pyramid(genotype, path, title)
    if isinstance(genotype, CellGenotype):
        from .cell_plots import plot_cells
        return plot_cells(genotype, path, title or '')
    return None
