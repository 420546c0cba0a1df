#!/usr/bin/env python
"""MorphNet on a ResNet-18 classifier on the embedded digits, against uniform width
scaling at equal FLOPs (CPU).

On ``configs/morphnet/resnet18-width_morphnet_digits-cls.py``:

1. the network trains once with the FLOP-weighted MorphNet regularizer (``--seed``);
   then shrink (scales under the threshold dropped; a block whose inner layer empties
   loses its residual branch, any other layer keeps ``--min-width`` channels) and expand
   (one width multiplier, found by bisection, so the backbone FLOPs hit the budget: by
   default the original's);
2. the paper's comparison: the shrunk-and-expanded network against the original widths
   times one multiplier at the same FLOPs (the nearest multiples of ``--divisor``
   allow), both trained from scratch with the same schedule for each of ``--seeds``.

Prints the backbone FLOPs (multiply-adds, conv + linear, one image; the exported
networks counted by ``mmengine.analysis.FlopAnalyzer``) before, after shrink, after
expand and of the uniform baseline, the relative error against the budget, the removed
blocks, the widths, and the validation top-1 of every run with the mean +- std over
the seeds.

    python bench/morphnet.py [--iters 200] [--width 0.5] [--seeds 0 1 2] [--work-dir DIR]
    python bench/morphnet.py --tiny          # seconds: the CI size (tests/e2e/test_benches.py)

``--width 0.5`` halves every ResNet-18 width (stem 32 ... stage4 256) to keep it quick on
a CPU; ``--width 1`` is the stock ResNet-18. The digits are built under ``--data-root``
when missing.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

CONFIG = 'configs/morphnet/resnet18-width_morphnet_digits-cls.py'
# --tiny: strength factor 300 so that 12 iterations prune (a block goes, with seed 0)
TINY = dict(iters=12, width=0.25, seeds=[0, 1], train=160, val=60, batch=16,
            strength_factor=300.0)


def ensure_data(root: str, tiny: bool) -> None:
    """Build the classification digits under ``root`` when its annotation files are
    missing (the tiny set: a few hundred images)."""
    if osp.isfile(osp.join(root, 'meta', 'train.txt')) and \
            osp.isfile(osp.join(root, 'meta', 'val.txt')):
        return
    kw = dict(num_train=TINY['train'], num_val=TINY['val']) if tiny else {}
    print(f'[morphnet] building {root} (python tools/make_data.py cls --out {root}'
          + (f' --train {TINY["train"]} --val {TINY["val"]}' if tiny else '') + ')', flush=True)
    from nas_det.data import make_classification_set
    make_classification_set(root, **kw)


def _schedule(cfg, args, work_dir: str, seed: int) -> None:
    """The bench's schedule and data, the same for every run."""
    iters = args.iters
    cfg.work_dir = work_dir
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters + 1)
    warm = min(30, iters // 5)
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warm),
        dict(type='CosineAnnealingLR', by_epoch=False, begin=warm, end=iters,
             T_max=iters - warm)]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=iters, by_epoch=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=50)
    cfg.randomness = dict(seed=seed)
    cfg.log_level = 'WARNING'
    for dl in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if dl in cfg:
            cfg[dl].dataset.data_root = args.data_root
            if args.tiny:
                cfg[dl].batch_size = TINY['batch']
                cfg[dl].num_workers = 0
                cfg[dl].persistent_workers = False


def _cfg(args, work_dir):
    """The regularized run's config."""
    from mmengine.config import Config

    from nas_det.models.width_resnet import resnet_widths
    cfg = Config.fromfile(osp.join(ROOT, CONFIG))
    widths = resnet_widths(18).scaled(args.width) if args.width != 1 else resnet_widths(18)
    cfg.model.backbone.widths = [list(p) for p in widths.groups]
    cfg.model.head.in_channels = widths['stage4']
    _schedule(cfg, args, work_dir, args.seed)
    cfg.pop('phases', None)
    m = cfg.optim_wrapper.morphnet
    m.update(strength_factor=args.strength_factor, threshold=args.threshold,
             warmup_iters=min(m.get('warmup_iters', 0), args.iters // 5))
    return cfg


def _train(cfg):
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    t = time.time()
    runner.train()
    train_s = time.time() - t
    metrics = runner.val_loop.run()
    return runner, float(metrics['accuracy/top1']), train_s


def _from_scratch(config: str, args, work_dir: str, seed: int):
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    cfg.load_from = None
    _schedule(cfg, args, work_dir, seed)
    _, acc, secs = _train(cfg)
    return acc, secs


def mean_std(values) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f'{statistics.mean(values):.2f} +- {std:.2f}'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--iters', type=int, default=200)
    p.add_argument('--width', type=float, default=0.5, help='ResNet-18 width multiplier')
    p.add_argument('--strength-factor', type=float, default=None,
                   help='strength x initial cost; default 5 x 200 / iters (the penalty '
                   'moves a scale by about the same total over the run; --tiny: '
                   f'{TINY["strength_factor"]:g})')
    p.add_argument('--threshold', type=float, default=0.1)
    p.add_argument('--min-width', type=int, default=1,
                   help='fewest channels a layer outside a residual branch keeps (0: error)')
    p.add_argument('--budget-ratio', type=float, default=1.0,
                   help="budget = this x the original backbone's FLOPs")
    p.add_argument('--divisor', type=int, default=8)
    p.add_argument('--mode', choices=('under', 'nearest'), default='under',
                   help='expanded cost never above the budget, or nearest to it')
    p.add_argument('--seed', type=int, default=0, help='seed of the regularized run')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2],
                   help='seeds of the from-scratch trainings of both networks')
    p.add_argument('--data-root', default=None,
                   help='the classification digits (built when missing); default '
                   'data/digits_cls, with --tiny <work dir>/digits_cls_tiny')
    p.add_argument('--work-dir', default=None,
                   help='default work_dirs/bench_morphnet (--tiny: work_dirs/bench_morphnet_tiny)')
    p.add_argument('--tiny', action='store_true',
                   help=f'CI size: {TINY["iters"]} iters, width {TINY["width"]}, seeds '
                   f'{TINY["seeds"]}, {TINY["train"]} train / {TINY["val"]} val digits, '
                   f'strength factor {TINY["strength_factor"]:g}')
    args = p.parse_args(argv)
    if args.tiny:
        args.iters, args.width, args.seeds = TINY['iters'], TINY['width'], TINY['seeds']
    if args.iters < 10:
        p.error('--iters: at least 10')
    if not args.width > 0:
        p.error('--width: a positive number is expected')
    if args.min_width < 0:
        p.error('--min-width: an integer >= 0 is expected')
    if args.strength_factor is None:
        args.strength_factor = TINY['strength_factor'] if args.tiny else 5.0 * 200 / args.iters
    if args.work_dir is None:
        args.work_dir = 'work_dirs/bench_morphnet' + ('_tiny' if args.tiny else '')
    args.work_dir = osp.abspath(args.work_dir)
    if args.data_root is None:
        args.data_root = osp.join(args.work_dir, 'digits_cls_tiny') if args.tiny \
            else osp.join(ROOT, 'data/digits_cls')
    args.data_root = osp.abspath(args.data_root)
    return args


def main(argv=None):
    args = parse_args(argv)
    import torch
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '1')))
    from mmengine.config import Config
    from mmengine.logging import MMLogger

    import nas_det  # noqa: F401
    from nas_det.engine.export import morphnet_export
    ensure_data(args.data_root, args.tiny)
    wd = args.work_dir
    t0 = time.time()

    cfg = _cfg(args, osp.join(wd, 'morphnet'))
    runner, acc_reg, t_reg = _train(cfg)
    hub = runner.message_hub
    history = {k.split('/', 1)[1]: [float(v) for v in hub.get_scalar(k).data[0]]
               for k in ('train/loss', 'train/morphnet_flops', 'train/morphnet_loss',
                         'train/morphnet_strength')}
    try:
        out = morphnet_export(cfg, runner.model, osp.join(wd, 'morphnet', 'export'),
                              dict(cfg.optim_wrapper.morphnet), budget_ratio=args.budget_ratio,
                              budget_scope='backbone', divisor=args.divisor, mode=args.mode,
                              history=history, min_width=args.min_width)
    except ValueError as e:
        raise SystemExit(f'bench/morphnet.py: {e}') from None
    runs = {'expanded': [], 'uniform': []}
    for seed in args.seeds:
        for key in runs:
            acc, secs = _from_scratch(out[key]['config'], args, osp.join(wd, f'{key}_s{seed}'),
                                      seed)
            runs[key].append(dict(seed=seed, acc=acc, seconds=secs))

    e, u, s = out['expanded'], out['uniform'], out['shrunk']
    budget = out['budget']
    rows = [
        ('backbone FLOPs before (multiply-adds, 1x3x32x32)', f"{out['original']['cost']:,.0f}"),
        ('backbone FLOPs after shrink (model / FlopAnalyzer)',
         f"{s['cost']:,.0f} / {s['measured_cost']:,.0f}"),
        ('removed blocks (residual branch pruned away)',
         ', '.join(out['removed_blocks']) or 'none'),
        ('layers kept at --min-width', str(len(out['widened_layers']))),
        ('backbone FLOPs after expand (FlopAnalyzer)', f"{e['measured_cost']:,.0f}"),
        ('budget', f"{budget:,.0f}  ({args.budget_ratio:g} x before)"),
        ('budget error of the expanded network', f"{100 * e['measured_rel_error']:+.2f}% "
         f"({'within' if abs(e['measured_rel_error']) <= 0.02 else 'OUTSIDE'} 2%)"),
        ('expand width multiplier', f"{e['multiplier']:.4f}"),
        ('uniform baseline: multiplier on the original', f"{u['multiplier']:.4f}"),
        ('uniform baseline FLOPs (FlopAnalyzer)', f"{u['measured_cost']:,.0f}"),
        ('uniform vs expanded FLOPs', f"{100 * u['measured_rel_to_expanded']:+.2f}% "
         f"({'within' if abs(u['measured_rel_to_expanded']) <= 0.02 else 'OUTSIDE'} 2%)"),
        (f'val top-1, regularized (before shrink, seed {args.seed})',
         f'{acc_reg:.2f}%  ({t_reg:.0f} s)'),
    ]
    for key, label in (('expanded', 'MorphNet shrunk+expanded'), ('uniform', 'uniform width')):
        for r in runs[key]:
            rows.append((f'val top-1, {label}, seed {r["seed"]}',
                         f'{r["acc"]:.2f}%  ({r["seconds"]:.0f} s)'))
    MMLogger.get_current_instance()  # keep mmengine's logger alive for the prints below
    print(f'\nMorphNet bench (ResNet-18 x{args.width:g} widths, embedded digits, '
          f'{args.iters} iters, CPU)')
    for k, v in rows:
        print(f'  {k:<58} {v}')
    acc_e = [r['acc'] for r in runs['expanded']]
    acc_u = [r['acc'] for r in runs['uniform']]
    diff = [a - b for a, b in zip(acc_e, acc_u)]
    print(f'  equal-FLOPs comparison over {len(args.seeds)} seeds ({args.iters} iters each, '
          'same schedule), val top-1 mean +- std:')
    print(f'    MorphNet shrunk+expanded  {mean_std(acc_e)}%')
    print(f'    uniform width scaling     {mean_std(acc_u)}%')
    print(f'    MorphNet - uniform        {mean_std(diff)} points (paired by seed)')
    orig_w = dict(out['original']['widths']['groups'])
    cols = [dict(out[k]['widths']['groups']) for k in ('shrunk', 'expanded', 'uniform')]
    print('  widths (original -> shrunk -> expanded | uniform):')
    for n in orig_w:
        print(f'    {n:<22} {orig_w[n]:>4} -> {cols[0][n]:>4} -> {cols[1][n]:>4} | '
              f'{cols[2][n]:>4}')
    print(f"  plot: {out['plot']}")
    summary = dict(args=vars(args), export=out, acc_regularized=acc_reg, runs=runs,
                   seconds=dict(regularized=t_reg, total=time.time() - t0))
    with open(osp.join(wd, 'bench_morphnet.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    print(f"  summary: {osp.join(wd, 'bench_morphnet.json')}")
    print(f'  total {time.time() - t0:.0f} s')


if __name__ == '__main__':
    main()
