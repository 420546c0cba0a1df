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
