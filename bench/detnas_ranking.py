#!/usr/bin/env python
"""Does a DetNAS supernet rank paths as standalone training does? A ranking benchmark.

A fixed set of paths through the 300M ShuffleNetV2 space (20 choice blocks, all four ops)
spread over the FLOPs range, from the all-``shuffle3x3`` path to the all-``xception3x3``
one, with xception blocks at random places in between. Each path is

- trained from scratch, alone (``ShuffleNetV2Subnet`` + global pooling + a linear layer),
  with one schedule and ``--seeds`` seeds: its *standalone* accuracy (val top-1);
- scored inside a supernet trained with each ``--recipes`` entry (BN statistics of the
  path re-estimated on ``--recal-batches`` train batches first, as the search does): its
  *supernet* accuracy.

Printed: a table of both per path, then for every recipe Kendall's tau (tau-b) between
supernet and mean standalone accuracy with a bootstrap 95% interval over paths, and the
top-k overlap; and the *ceiling*: tau between two standalone seeds (one seed's ranking
against another's; the best a supernet can be expected to agree with one training run).

Recipes are :class:`~nas_det.engine.hooks.SamplingRecipe` options (the supernet loop
samples with that class and inherits weights with the hook's function, so the figures
are those of ``UniformSamplingHook`` with the same options): ``paper`` is uniform
single-path one-shot from the first iteration; ``new`` is the digits configs' recipe;
the others are the levers measured in ``docs/experiments/detnas_supernet.md``.

    python bench/detnas_ranking.py                    # 12 paths x 2 seeds, paper + new
    python bench/detnas_ranking.py --recipes paper new warm-uniform warm-switch
    python bench/detnas_ranking.py --tiny             # seconds, for CI

Data: ``--data mnist`` (default), the plain 28x28 digits of the embedded set's fixed
train / val split padded to 32 px; ``--data digits``, the cluttered 32 px classification
set (``data/digits_cls``, built when missing). Every job (one standalone run, one
supernet with its evaluation) writes a JSON file under ``--work-dir``; a rerun reuses
finished jobs (settings must match those recorded in ``settings.json``). One thread.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import os.path as osp
import random
import statistics
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

RECIPES = {
    # the paper: a uniform random path from the first iteration
    'paper': {},
    # warm start: 1/4 of the schedule on the all-shuffle3x3 path, its weights copied into
    # every other choice, then all four ops uniformly at once
    'warm-uniform': dict(warmup_path='shuffle3x3', warmup_frac=0.25),
    # the same without the xception copy (xception keeps its random init)
    'warm-uniform-noxinit': dict(warmup_path='shuffle3x3', warmup_frac=0.25,
                                 inherit_ops=['shuffle5x5', 'shuffle7x7']),
    # warm start, then xception's sampling weight ramps in over half the schedule
    'warm-xramp': dict(warmup_path='shuffle3x3', warmup_frac=0.25,
                       op_curriculum={'xception3x3': 0.25}, ramp_frac=0.5),
    # warm start, then every other op ramps in: the number of switching blocks grows
    'warm-switch': dict(warmup_path='shuffle3x3', warmup_frac=0.25,
                        op_curriculum={'shuffle5x5': 0.25, 'shuffle7x7': 0.25,
                                       'xception3x3': 0.25}, ramp_frac=0.5),
    # warm-switch with the learning rate re-warmed over 10% of the schedule after the switch
    'warm-switch-rewarm': dict(warmup_path='shuffle3x3', warmup_frac=0.25,
                               op_curriculum={'shuffle5x5': 0.25, 'shuffle7x7': 0.25,
                                              'xception3x3': 0.25}, ramp_frac=0.5,
                               rewarm_frac=0.1),
}
ALIASES = {'new': 'warm-switch'}
"""``new``: the recipe of the digits configs (its jobs are those of the recipe it names)."""
RECIPES.update({a: RECIPES[n] for a, n in ALIASES.items()})
"""Recipes by name; ``*_frac`` values are fractions of ``--supernet-iters``."""


def hook_options(recipe: dict, iters: int) -> dict:
    """The ``UniformSamplingHook`` / ``SamplingRecipe`` options of a recipe for a
    schedule of ``iters`` iterations."""
    out = {}
    if recipe.get('warmup_path'):
        out['warmup_path'] = recipe['warmup_path']
        out['warmup_iters'] = max(1, round(recipe['warmup_frac'] * iters))
    if recipe.get('op_curriculum'):
        out['op_curriculum'] = {op: round(f * iters)
                                for op, f in recipe['op_curriculum'].items()}
        out['ramp_iters'] = round(recipe.get('ramp_frac', 0) * iters)
    return out


def ranked_paths(n: int, seed: int = 0) -> list:
    """``n`` paths of the 300M space from the all-``shuffle3x3`` one to the
    all-``xception3x3`` one: path ``i`` has ``round(20 i / (n - 1))`` xception blocks at
    random places, the other blocks a random shuffle op (the first path: all 3x3)."""
    from nas_det.space.detnas import DETNAS_OPS, DetNASPath, DetNASSpace
    space = DetNASSpace('300M')
    nb = len(space.decisions)
    rng = random.Random(seed)
    out = []
    for i in range(n):
        nx = round(nb * i / max(1, n - 1))
        where = set(rng.sample(range(nb), nx))
        ops = ['xception3x3' if b in where else
               ('shuffle3x3' if i == 0 else rng.choice(DETNAS_OPS[:3])) for b in range(nb)]
        out.append(DetNASPath(space.stage_blocks, tuple(ops)))
    return out


def kendall_tau(a, b) -> float:
    """Kendall's tau-b of two equally long sequences (ties in either count as in
    ``scipy.stats.kendalltau``); NaN when one of them is constant."""
    n = len(a)
    conc = disc = ties_a = ties_b = 0
    for i in range(n):
        for j in range(i + 1, n):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif (da > 0) == (db > 0):
                conc += 1
            else:
                disc += 1
    denom = math.sqrt((conc + disc + ties_a) * (conc + disc + ties_b))
    return (conc - disc) / denom if denom else float('nan')


def bootstrap_tau(a, b, reps: int = 1000, seed: int = 0) -> tuple:
    """95% percentile interval of Kendall's tau over paths resampled with replacement."""
    rng = random.Random(seed)
    n = len(a)
    taus = []
    for _ in range(reps):
        idx = [rng.randrange(n) for _ in range(n)]
        t = kendall_tau([a[i] for i in idx], [b[i] for i in idx])
        if not math.isnan(t):
            taus.append(t)
    if not taus:
        return float('nan'), float('nan')
    taus.sort()
    return taus[int(0.025 * (len(taus) - 1))], taus[int(0.975 * (len(taus) - 1))]


def top_k_overlap(a, b, k: int) -> int:
    """How many of the ``k`` best by ``a`` are among the ``k`` best by ``b``."""
    top = lambda v: set(sorted(range(len(v)), key=lambda i: -v[i])[:k])  # noqa: E731
    return len(top(a) & top(b))


# ----------------------------------------------------------------------------- training

def load_data(args):
    import torch
    import supernet_cls
    if args.data == 'digits':
        root = osp.join(ROOT, 'data/digits_cls')
        if not osp.isfile(osp.join(root, 'meta', 'val.txt')):
            from nas_det.data.digits import make_classification_set
            make_classification_set(root)
        train, val = supernet_cls.load(root, 'train'), supernet_cls.load(root, 'val')
    else:
        train, val = (supernet_cls.load_plain_mnist('train'),
                      supernet_cls.load_plain_mnist('val'))
    cut = lambda d, n: (d[0][:n], d[1][:n]) if n else d  # noqa: E731
    train, val = cut(train, args.train_size), cut(val, args.val_size)
    return tuple(t.contiguous() for t in train), tuple(t.contiguous() for t in val)


def build(path, width, seed):
    """A classifier on the 300M ShuffleNetV2 backbone: the supernet when ``path`` is
    None, else the subnet of ``path``; ``seed`` seeds the init."""
    import logging

    import torch
    import torch.nn as nn
    from mmengine.logging import MMLogger

    from nas_det.models.shufflenet import ShuffleNetV2Subnet, ShuffleNetV2Supernet
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    torch.manual_seed(seed)
    kw = dict(arch='300M', widen_factor=width, out_indices=(3, ), channels_last=True)
    bb = ShuffleNetV2Supernet(**kw) if path is None else ShuffleNetV2Subnet(path, **kw)
    bb.init_weights()
    return bb, nn.Linear(bb.out_channels[-1], 10)


def forward(bb, fc, x):
    return fc(bb(x)[0].mean((2, 3)))


def train(bb, fc, data, iters, args, seed, recipe=None):
    """SGD (Nesterov 0.9, weight decay 4e-5), batch ``--batch-size``, lr: linear warm-up
    over the first 10% then cosine to 0 (re-warmed after a recipe's warm-up when it has
    ``rewarm_frac``). With ``recipe`` (a recipe dict), ``bb`` is a supernet trained with
    the hook's sampling. Returns the mean train loss of the last 50 iterations."""
    import torch
    import torch.nn.functional as F

    from nas_det.engine.hooks import SamplingRecipe, inherit_choice_weights
    xt, yt = data
    params = list(bb.parameters()) + list(fc.parameters())
    opt = torch.optim.SGD(params, lr=args.lr, momentum=0.9, nesterov=True, weight_decay=4e-5)
    sampling = SamplingRecipe(**hook_options(recipe, iters)) if recipe is not None else None
    if sampling is not None:
        sampling.check(bb.search_space)
    rewarm = round(recipe.get('rewarm_frac', 0) * iters) if recipe else 0
    warm = max(1, iters // 10)
    g = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    losses = []
    bb.train()
    fc.train()
    for it in range(iters):
        lr = args.lr * min(1., (it + 1) / warm) * 0.5 * (1 + math.cos(math.pi * it / iters))
        if sampling is not None:
            w = sampling.warmup_iters
            if w and it >= w and rewarm:
                lr *= min(1., (it - w + 1) / rewarm)
            if w and it == w and sampling.inherit_weights:
                if recipe.get('inherit_ops'):
                    bb.inherit_choice_weights(recipe['warmup_path'], recipe['inherit_ops'])
                else:
                    inherit_choice_weights([('', bb)], sampling)
            bb.set_choices(sampling.sample(bb.search_space, it, rng))
        for group in opt.param_groups:
            group['lr'] = lr
        idx = torch.randint(0, len(xt), (args.batch_size, ), generator=g)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(forward(bb, fc, xt[idx]), yt[idx])
        loss.backward()
        opt.step()
        losses = (losses + [loss.item()])[-50:]
    return sum(losses) / len(losses)


def accuracy(bb, fc, data, batch=500) -> float:
    import torch
    x, y = data
    bb.eval()
    fc.eval()
    with torch.no_grad():
        hits = sum((forward(bb, fc, x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
                   for i in range(0, len(y), batch))
    bb.train()
    fc.train()
    return 100. * hits / len(y)


def supernet_accuracy(bb, fc, path, data, args) -> float:
    """Val top-1 of ``path`` in the supernet after re-estimating its BN statistics."""
    import torch

    from nas_det.engine.evaluators import bn_recalibration
    xt, _ = data[0]
    bb.set_choices(path)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad(), bn_recalibration([bb]):
        for _ in range(args.recal_batches):
            bb(xt[torch.randint(0, len(xt), (args.batch_size, ), generator=g)])
    return accuracy(bb, fc, data[1])


# ----------------------------------------------------------------------------- jobs

def job(path_json, fn):
    """Run ``fn`` unless its result file exists; write the result atomically."""
    if osp.isfile(path_json):
        with open(path_json) as f:
            return json.load(f), True
    res = fn()
    tmp = path_json + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(res, f, indent=1)
    os.replace(tmp, path_json)
    return res, False


def standalone_job(i, path, seed, data, args):
    def fn():
        t0 = time.time()
        bb, fc = build(path, args.width, seed)
        loss = train(bb, fc, data[0], args.iters, args, seed)
        return dict(path=str(path), seed=seed, acc=accuracy(bb, fc, data[1]), train_loss=loss,
                    seconds=round(time.time() - t0, 1))
    return job(osp.join(args.work_dir, f'standalone_p{i:02d}_s{seed}.json'), fn)


def supernet_job(name, paths, data, args):
    def fn():
        t0 = time.time()
        bb, fc = build(None, args.width, 0)
        loss = train(bb, fc, data[0], args.supernet_iters, args, 0, RECIPES[name])
        t1 = time.time()
        accs = [supernet_accuracy(bb, fc, p, data, args) for p in paths]
        return dict(recipe=name, options=hook_options(RECIPES[name], args.supernet_iters),
                    accs=accs, train_loss=loss, train_seconds=round(t1 - t0, 1),
                    eval_seconds=round(time.time() - t1, 1))
    return job(osp.join(args.work_dir, f'supernet_{ALIASES.get(name, name)}.json'), fn)


SETTINGS = ('data', 'paths', 'iters', 'supernet_iters', 'width', 'lr', 'batch_size',
            'recal_batches', 'train_size', 'val_size', 'path_seed')


def check_settings(args):
    os.makedirs(args.work_dir, exist_ok=True)
    mine = {k: getattr(args, k) for k in SETTINGS}
    fn = osp.join(args.work_dir, 'settings.json')
    if osp.isfile(fn):
        with open(fn) as f:
            old = json.load(f)
        diff = [k for k in SETTINGS if old.get(k) != mine[k]]
        if diff:
            raise SystemExit(f'--work-dir {args.work_dir}: its finished jobs used other '
                             f'settings ({", ".join(f"{k}={old.get(k)}" for k in diff)}); '
                             f'give another --work-dir')
    else:
        with open(fn, 'w') as f:
            json.dump(mine, f, indent=1)


def fmt_tau(t, lo, hi):
    return f'tau {t:.2f} [{lo:.2f}, {hi:.2f}]'


def report(paths, flops, stand, sup, args):
    """Print the table and the rank statistics. Paths without a standalone result or
    without every recipe's result are left out (``--part report`` while jobs run); the
    ceiling uses the paths with seeds 0 and 1."""
    names = [n for n in args.recipes if n in sup]
    keep = [i for i in range(len(paths)) if any(a is not None for a in stand[i])]
    both = [i for i in keep if stand[i][0] is not None and stand[i][1] is not None]
    if len(keep) < len(paths) or len(both) < len(paths) or len(names) < len(args.recipes):
        print(f'\npartial: {len(keep)} of {len(paths)} paths have a standalone result, '
              f'{len(both)} have seeds 0 and 1; recipes with results: {", ".join(names)}')
    mean = {i: statistics.mean(a for a in stand[i] if a is not None) for i in keep}
    print(f'\n{"path":>4} {"ops":<25} {"MFLOPs":>7} {"standalone":>13} '
          + ' '.join(f'{n:>10}' for n in names))
    for i in keep:
        done = [a for a in stand[i] if a is not None]
        sd = statistics.stdev(done) if len(done) > 1 else float('nan')
        ops = str(paths[i]).split('] ', 1)[1]
        print(f'{i:>4} {ops:<25} {flops[i] / 1e6:>7.2f} {mean[i]:>6.1f} +- '
              f'{sd:>4.1f} ' + ' '.join(f'{sup[n][i]:>10.1f}' for n in names))
    ceil = float('nan')
    k = args.top_k
    if len(both) >= 3:
        pairs = [(a, b) for a in range(args.seeds) for b in range(a + 1, args.seeds)]
        full = [i for i in both if all(a is not None for a in stand[i])]
        ceil = statistics.mean(kendall_tau([stand[i][a] for i in full],
                                           [stand[i][b] for i in full]) for a, b in pairs)
        s0, s1 = [stand[i][0] for i in both], [stand[i][1] for i in both]
        lo, hi = bootstrap_tau(s0, s1, args.bootstrap)
        print(f'\nceiling (standalone seed vs seed): {fmt_tau(ceil, lo, hi)}')
        print(f'standalone seed 0 vs seed 1: top-{k} overlap {top_k_overlap(s0, s1, k)}/{k}')
    else:
        print('\nceiling (standalone seed vs seed): needs seeds 0 and 1 of 3 paths or more')
    ref = [mean[i] for i in keep]
    # positions in `keep` of the paths with every seed: for the like-for-like comparison
    # with the ceiling (one run against one run), each recipe against each seed alone
    seeded = [j for j, i in enumerate(keep) if all(a is not None for a in stand[i])]
    for name in names:
        acc = [sup[name][i] for i in keep]
        t = kendall_tau(acc, ref)
        lo, hi = bootstrap_tau(acc, ref, args.bootstrap)
        one = statistics.mean(kendall_tau([acc[j] for j in seeded],
                                          [stand[keep[j]][s] for j in seeded])
                              for s in range(args.seeds)) if len(seeded) >= 3 else float('nan')
        ratio = one / ceil if ceil > 0 else float('nan')
        print(f'recipe {name}: {fmt_tau(t, lo, hi)} against the mean of the seeds, top-{k} '
              f'overlap {top_k_overlap(acc, ref, k)}/{k}, mean supernet acc '
              f'{statistics.mean(acc):.1f}%; against one seed at a time tau {one:.2f}, '
              f'/ ceiling {ratio:.2f}')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs/detnas_ranking'))
    p.add_argument('--recipes', nargs='+', default=['paper', 'new'], choices=list(RECIPES))
    p.add_argument('--paths', type=int, default=12, help='number of paths (12)')
    p.add_argument('--seeds', type=int, default=2, help='standalone seeds per path (2)')
    p.add_argument('--iters', type=int, default=150, help='standalone iterations (150)')
    p.add_argument('--supernet-iters', type=int, default=600,
                   help='supernet training iterations (600)')
    p.add_argument('--width', type=float, default=0.25, help='widen_factor (0.25)')
    p.add_argument('--lr', type=float, default=0.1, help='peak learning rate (0.1)')
    p.add_argument('--batch-size', type=int, default=128, help='(128)')
    p.add_argument('--recal-batches', type=int, default=20,
                   help='train batches that re-estimate a path\'s BN statistics (20)')
    p.add_argument('--data', default='mnist', choices=('mnist', 'digits'))
    p.add_argument('--train-size', type=int, default=0, help='0: all 4,000 train digits')
    p.add_argument('--val-size', type=int, default=0, help='0: all 1,000 val digits')
    p.add_argument('--path-seed', type=int, default=0, help='seed that places the ops (0)')
    p.add_argument('--part', default='all',
                   choices=('all', 'standalone', 'supernet', 'report'),
                   help='run only one kind of job (e.g. two processes on one --work-dir), or '
                   "'report': print the figures of the jobs finished so far, running "
                   'nothing (all)')
    p.add_argument('--top-k', type=int, default=3)
    p.add_argument('--bootstrap', type=int, default=1000)
    p.add_argument('--tiny', action='store_true',
                   help='CI size: 4 paths, 2 seeds, 20 / 40 iterations of batch 32, 256 / 200 digits')
    args = p.parse_args(argv)
    if args.tiny:
        args.paths, args.seeds, args.iters, args.supernet_iters = 4, 2, 20, 40
        args.train_size, args.val_size, args.recal_batches, args.batch_size = 256, 200, 2, 32
        args.top_k = 2
    for name in ('paths', 'iters', 'supernet_iters', 'batch_size', 'top_k', 'bootstrap'):
        if getattr(args, name) <= 0:
            raise SystemExit(f'--{name.replace("_", "-")}: a positive integer is expected, '
                             f'got {getattr(args, name)}')
    if args.paths < 3 or args.seeds < 2:
        raise SystemExit(f'--paths >= 3 and --seeds >= 2 are needed for a ranking and its '
                         f'ceiling, got --paths {args.paths} --seeds {args.seeds}')
    if args.width <= 0 or args.lr <= 0:
        raise SystemExit('--width, --lr: positive numbers are expected')
    check_settings(args)
    import torch
    torch.set_num_threads(1)
    from nas_det.models.shufflenet import backbone_cost
    data = load_data(args) if args.part != 'report' else ((torch.zeros(0), ) * 2, ) * 2
    paths = ranked_paths(args.paths, args.path_seed)
    flops = [backbone_cost('300M', p, (3, 32, 32), args.width)['flops'] for p in paths]
    print(f'DetNAS ranking on {args.data}: {len(paths)} paths, standalone {args.seeds} seeds '
          f'x {args.iters} iterations, supernet {args.supernet_iters} iterations, width '
          f'{args.width:g}, ' + ('the jobs finished in ' + args.work_dir if args.part == 'report'
                                 else f'{len(data[0][1])} train / {len(data[1][1])} val digits'),
          flush=True)
    t0 = time.time()
    stand = [[None] * args.seeds for _ in paths]
    sup = {}
    if args.part == 'report':  # what finished jobs hold, nothing run
        for i in range(len(paths)):
            for s in range(args.seeds):
                fn = osp.join(args.work_dir, f'standalone_p{i:02d}_s{s}.json')
                if osp.isfile(fn):
                    with open(fn) as f:
                        stand[i][s] = json.load(f)['acc']
        for name in args.recipes:
            fn = osp.join(args.work_dir, f'supernet_{ALIASES.get(name, name)}.json')
            if osp.isfile(fn):
                with open(fn) as f:
                    sup[name] = json.load(f)['accs']
    for s in range(args.seeds if args.part in ('all', 'standalone') else 0):
        for i, path in enumerate(paths):
            res, reused = standalone_job(i, path, s, data, args)
            stand[i][s] = res['acc']
            took = 'reused' if reused else f'{res["seconds"]:.0f} s'
            print(f'  standalone path {i:2d} seed {s}: {res["acc"]:.1f}% ({took})', flush=True)
    for name in (args.recipes if args.part in ('all', 'supernet') else []):
        res, reused = supernet_job(name, paths, data, args)
        sup[name] = res['accs']
        took = 'reused' if reused else f'{res["train_seconds"]:.0f} s'
        print(f'  supernet {name}: train loss {res["train_loss"]:.3f} ({took})', flush=True)
    if args.part in ('standalone', 'supernet'):
        return
    report(paths, flops, stand, sup, args)
    if args.part != 'report':
        print(f'({time.time() - t0:.0f} s)')


if __name__ == '__main__':
    main()
