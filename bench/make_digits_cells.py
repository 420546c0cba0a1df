"""Build the tabular strategy benchmark ``bench/data/digits_cells.json``.

Every architecture of a small PNAS-style cell space is trained on real handwritten digits
(the 5,000 embedded MNIST digits of :mod:`nas_det.data`, average-pooled to 14x14, the
fixed 4,000 / 1,000 train / val split) with two seeds, and its validation accuracies are
stored. ``bench/strategies.py`` then looks rewards up in the table, so every strategy can
be run over many seeds in seconds on accuracies that come from real training, where the
decisions interact.

The space (750 networks, 3 blocks)::

    h0 = relu(Linear(196 -> 32)(x))                      # stem
    block 1:  h1 = op1(h0)
    block 2:  h2 = op2(h[in2]),  in2 in {0, 1}
    block 3:  h3 = op3(h[in3]),  in3 in {0, 1, 2}
    out = Linear(32 -> 10)(mean of the nodes h1..h3 no later block reads)

with ``op`` one of ``relu`` (Linear + ReLU), ``tanh`` (Linear + tanh), ``bottleneck``
(Linear 32 -> 8, ReLU, Linear 8 -> 32, ReLU), ``wide`` (Linear 32 -> 128, ReLU,
Linear 128 -> 32) or ``skip`` (identity). ``skip`` comes last: progressive search gives
blocks not chosen yet their first option, and with so short a training the smallest
networks are among the best, so an "empty" first option would hand it the optimum at
its first block. Architectures that compute the same function (e.g. a single op in any
of the three blocks, the others ``skip``) draw the same weights and so get the same
accuracies. Each network trains with Adam (lr 3e-3, batch 128) for 2 epochs from
a seeded generator (weights and batch order), CPU, one thread.

Usage::

    OMP_NUM_THREADS=1 python bench/make_digits_cells.py            # writes the table
    OMP_NUM_THREADS=1 python bench/make_digits_cells.py --limit 5  # timing check only
    OMP_NUM_THREADS=1 python bench/make_digits_cells.py --tiny     # CI: --limit 2
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

OPS = ('relu', 'tanh', 'bottleneck', 'wide', 'skip')
CHOICES = [('op1', list(OPS)), ('in2', [0, 1]), ('op2', list(OPS)),
           ('in3', [0, 1, 2]), ('op3', list(OPS))]
BLOCKS = [['op1'], ['in2', 'op2'], ['in3', 'op3']]
SEEDS = (0, 1)
WIDTH, EPOCHS, BATCH, LR = 32, 2, 64, 1e-2
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'digits_cells.json')


def load_digits():
    """``(x_train, y_train, x_val, y_val)``: 14x14 average-pooled digits in [0, 1]."""
    import numpy as np
    import torch
    from nas_det.data import load_mnist, split_pools
    images, labels = load_mnist()
    x = images.astype(np.float32).reshape(-1, 14, 2, 14, 2).mean((2, 4)) / 255.0
    x = torch.from_numpy(x.reshape(len(x), -1))
    y = torch.from_numpy(np.asarray(labels))
    pools = split_pools()
    tr, va = torch.from_numpy(pools['train']), torch.from_numpy(pools['val'])
    return x[tr], y[tr], x[va], y[va]


def build(arch: dict, generator):
    """The network of one architecture (``{'op1': ..., 'in2': ..., ...}``)."""
    import torch
    from torch import nn

    def op(name):
        if name == 'skip':
            return nn.Identity()
        if name == 'relu':
            return nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.ReLU())
        if name == 'tanh':
            return nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.Tanh())
        if name == 'bottleneck':
            return nn.Sequential(nn.Linear(WIDTH, 8), nn.ReLU(), nn.Linear(8, WIDTH), nn.ReLU())
        return nn.Sequential(nn.Linear(WIDTH, 4 * WIDTH), nn.ReLU(), nn.Linear(4 * WIDTH, WIDTH))

    inputs = [0, arch['in2'], arch['in3']]
    ops = [arch['op1'], arch['op2'], arch['op3']]
    unused = [n for n in (1, 2, 3) if n not in inputs[n:]]  # nodes no later block reads

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Linear(196, WIDTH)
            self.ops = nn.ModuleList(op(o) for o in ops)
            self.head = nn.Linear(WIDTH, 10)

        def forward(self, x):
            h = [torch.relu(self.stem(x))]
            for i, o in zip(inputs, self.ops):
                h.append(o(h[i]))
            return self.head(torch.stack([h[n] for n in unused]).mean(0))

    net = Net()
    with torch.no_grad():  # default-like init, but from the generator
        for m in net.modules():
            if isinstance(m, nn.Linear):
                bound = m.in_features ** -0.5
                m.weight.uniform_(-bound, bound, generator=generator)
                m.bias.uniform_(-bound, bound, generator=generator)
    return net


def train_eval(arch: dict, seed: int, data) -> float:
    """Validation accuracy (%) of one architecture trained with one seed."""
    import torch
    xt, yt, xv, yv = data
    g = torch.Generator().manual_seed(seed)
    net = build(arch, g)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    for _ in range(EPOCHS):
        perm = torch.randperm(len(xt), generator=g)
        for s in range(0, len(xt), BATCH):
            idx = perm[s:s + BATCH]
            loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return 100.0 * (net(xv).argmax(1) == yv).float().mean().item()


def architectures() -> list:
    keys = [k for k, _ in CHOICES]
    return [dict(zip(keys, vals)) for vals in itertools.product(*(v for _, v in CHOICES))]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default=OUT, help='table to write')
    parser.add_argument('--limit', type=int, default=None,
                        help='train only the first N architectures and write nothing')
    parser.add_argument('--tiny', action='store_true', help='CI size: --limit 2')
    args = parser.parse_args(argv)
    if args.tiny:
        args.limit = 2
    import torch
    torch.set_num_threads(1)
    data = load_digits()
    archs = architectures()[:args.limit] if args.limit else architectures()
    rows, t0 = [], time.perf_counter()
    for i, arch in enumerate(archs):
        accs = [round(train_eval(arch, s, data), 2) for s in SEEDS]
        rows.append([[arch[k] for k, _ in CHOICES], accs])
        if (i + 1) % 50 == 0 or args.limit:
            print(f'{i + 1}/{len(archs)} {arch} {accs} '
                  f'({(time.perf_counter() - t0) / (i + 1):.2f} s per architecture)', flush=True)
    if args.limit:
        return
    table = {
        'name': 'digits_cells', 'version': 1,
        'description': 'validation accuracy (%) of every architecture of a 3-block cell '
                       'space on 14x14 MNIST digits (4,000 train / 1,000 val), 2 seeds; '
                       'made by bench/make_digits_cells.py',
        'choices': CHOICES, 'blocks': BLOCKS, 'seeds': list(SEEDS),
        'training': {'width': WIDTH, 'epochs': EPOCHS, 'batch_size': BATCH, 'lr': LR,
                     'optimizer': 'Adam'},
        'columns': ['values', 'val_acc_per_seed'], 'rows': rows,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(table, f, separators=(',', ':'))
        f.write('\n')
    print(f'wrote {args.out}: {len(rows)} architectures in {time.perf_counter() - t0:.0f} s')


if __name__ == '__main__':
    main()
