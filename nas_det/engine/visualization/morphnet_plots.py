"""The MorphNet plot: live cost and loss over iterations, widths per layer group (PNG)."""
from __future__ import annotations


def plot_morphnet(history: dict, widths: dict, path: str, cost: str = 'flops',
                  title: str = 'MorphNet') -> str:
    """PNG: live cost and loss over iterations, and the width of every layer group for
    each entry of ``widths`` (``{label: Widths}``, e.g. original / shrunk / expanded)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4), gridspec_kw=dict(width_ratios=[1, 1, 2]))
    live = history.get(f'morphnet_{cost}', [])
    ax = axes[0]
    if live:
        ax.plot(range(1, len(live) + 1), live, color='tab:blue')
    ax.set_xlabel('iteration')
    ax.set_ylabel(f'live {cost}')
    ax.set_title(f'live {cost} (threshold on |gamma|)')
    ax.grid(alpha=0.3)
    ax = axes[1]
    loss = history.get('loss', [])
    if loss:
        ax.plot(range(1, len(loss) + 1), loss, color='tab:red', label='task loss')
    term = history.get('morphnet_loss', [])
    if term:
        ax.plot(range(1, len(term) + 1), term, color='tab:green',
                label='MorphNet term (strength x penalty)')
    ax.set_xlabel('iteration')
    ax.set_ylabel('loss')
    ax.set_title('loss')
    if loss or term:
        ax.legend(loc='upper right')
    ax.grid(alpha=0.3)
    ax = axes[2]
    labels = list(widths)
    if labels:
        names = list(widths[labels[0]].names)
        step = 0.8 / len(labels)
        for k, lab in enumerate(labels):
            w = widths[lab].as_dict()
            ax.bar([i + k * step for i in range(len(names))], [w.get(n, 0) for n in names],
                   width=step, label=lab)
        ax.set_xticks([i + 0.4 - step / 2 for i in range(len(names))])
        ax.set_xticklabels(names, rotation=90, fontsize=6)
        ax.legend(loc='upper left')
    ax.set_ylabel('channels')
    ax.set_title('width per layer group')
    ax.grid(alpha=0.3, axis='y')
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
