#!/usr/bin/env python
"""MorphNet on a ResNet-18 classifier on the embedded digits (CPU, a few minutes).

Three trainings of the same length on ``configs/morphnet/resnet18-width_morphnet_digits-cls.py``:

1. the original network, plain SGD;
2. the same network with the FLOP-weighted MorphNet regularizer; then shrink (scales under
   the threshold dropped) and expand (one width multiplier, found by bisection, so the
   backbone FLOPs hit the budget: by default the original's);
3. the shrunk-and-expanded network, trained from scratch (MorphNet's protocol).

Prints the backbone FLOPs (multiply-adds, conv + linear, one image) before, after shrink
and after expand (the exported network counted by ``mmengine.analysis.FlopAnalyzer``), the
budget, the relative error of the final FLOPs against it, and the validation accuracy of
(1), (2) and (3).

    python bench/morphnet.py [--iters 200] [--width 0.5] [--work-dir DIR]

``--width 0.5`` halves every ResNet-18 width (stem 32 ... stage4 256) to keep it quick on
a CPU; ``--width 1`` is the stock ResNet-18.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

CONFIG = 'configs/morphnet/resnet18-width_morphnet_digits-cls.py'


def _cfg(args, work_dir, morphnet: bool, iters: int):
    from mmengine.config import Config

    from nas_det.models.morphnet import resnet_widths
    cfg = Config.fromfile(osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), CONFIG))
    widths = resnet_widths(18).scaled(args.width) if args.width != 1 else resnet_widths(18)
    cfg.model.backbone.widths = [list(p) for p in widths.groups]
    cfg.model.head.in_channels = widths['stage4']
    cfg.work_dir = work_dir
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters + 1)
    warm = min(30, iters // 5)
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warm),
        dict(type='CosineAnnealingLR', by_epoch=False, begin=warm, end=iters,
             T_max=iters - warm)]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=iters, by_epoch=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=50)
    cfg.randomness = dict(seed=args.seed)
    cfg.pop('phases', None)
    if not morphnet:
        cfg.optim_wrapper = dict(type='OptimWrapper', optimizer=cfg.optim_wrapper.optimizer,
                                 clip_grad=cfg.optim_wrapper.get('clip_grad'))
    else:
        cfg.optim_wrapper.morphnet.update(strength_factor=args.strength_factor,
                                          threshold=args.threshold)
    return cfg


def _train(cfg):
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    t = time.time()
    runner.train()
    train_s = time.time() - t
    metrics = runner.val_loop.run()
    return runner, float(metrics['accuracy/top1']), train_s


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--iters', type=int, default=200)
    p.add_argument('--width', type=float, default=0.5, help='ResNet-18 width multiplier')
    p.add_argument('--strength-factor', type=float, default=None,
                   help='strength x initial cost; default 5 x 200 / iters (the penalty '
                   'moves a scale by about the same total over the run)')
    p.add_argument('--threshold', type=float, default=0.1)
    p.add_argument('--budget-ratio', type=float, default=1.0,
                   help="budget = this x the original backbone's FLOPs")
    p.add_argument('--divisor', type=int, default=8)
    p.add_argument('--mode', choices=('under', 'nearest'), default='under',
                   help='expanded cost never above the budget, or nearest to it')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--work-dir', default='work_dirs/bench_morphnet')
    args = p.parse_args()
    if args.iters < 10:
        p.error('--iters: at least 10')
    if args.strength_factor is None:
        args.strength_factor = 5.0 * 200 / args.iters
    import torch
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '1')))
    from mmengine.config import Config
    from mmengine.logging import MMLogger

    import nas_det  # noqa: F401
    from nas_det.engine.morphnet import morphnet_export
    wd = osp.abspath(args.work_dir)

    _, acc_orig, t_orig = _train(_cfg(args, osp.join(wd, 'original'), False, args.iters))
    cfg = _cfg(args, osp.join(wd, 'morphnet'), True, args.iters)
    runner, acc_reg, t_reg = _train(cfg)
    hub = runner.message_hub
    history = {k.split('/', 1)[1]: [float(v) for v in hub.get_scalar(k).data[0]]
               for k in ('train/loss', 'train/morphnet_flops', 'train/morphnet_loss',
                         'train/morphnet_strength')}
    out = morphnet_export(cfg, runner.model, osp.join(wd, 'morphnet', 'export'),
                          dict(cfg.optim_wrapper.morphnet), budget_ratio=args.budget_ratio,
                          budget_scope='backbone', divisor=args.divisor, mode=args.mode,
                          history=history)
    exp_cfg = Config.fromfile(out['expanded']['config'])
    exp_cfg.work_dir = osp.join(wd, 'expanded')
    exp_cfg.train_cfg = cfg.train_cfg
    exp_cfg.param_scheduler = cfg.param_scheduler
    exp_cfg.default_hooks = cfg.default_hooks
    exp_cfg.randomness = cfg.randomness
    _, acc_exp, t_exp = _train(exp_cfg)

    e = out['expanded']
    rows = [
        ('backbone FLOPs before (multiply-adds, 1x3x32x32)', f"{out['original']['cost']:,.0f}"),
        ('backbone FLOPs after shrink', f"{out['shrunk']['measured_cost']:,.0f}"),
        ('backbone FLOPs after expand (FlopAnalyzer)', f"{e['measured_cost']:,.0f}"),
        ('budget', f"{out['budget']:,.0f}  ({args.budget_ratio:g} x before)"),
        ('relative error of final FLOPs vs budget', f"{100 * e['measured_rel_error']:+.2f}% "
         f"({'within' if abs(e['measured_rel_error']) <= 0.02 else 'OUTSIDE'} 2%)"),
        ('width multiplier', f"{e['multiplier']:.4f}"),
        (f'val top-1, original, {args.iters} iters', f'{acc_orig:.2f}%  ({t_orig:.0f} s)'),
        (f'val top-1, regularized (before shrink), {args.iters} iters',
         f'{acc_reg:.2f}%  ({t_reg:.0f} s)'),
        (f'val top-1, shrunk+expanded from scratch, {args.iters} iters',
         f'{acc_exp:.2f}%  ({t_exp:.0f} s)'),
    ]
    MMLogger.get_current_instance()  # keep mmengine's logger alive for the prints below
    print('\nMorphNet bench (ResNet-18 x{:g} widths, embedded digits, CPU)'.format(args.width))
    for k, v in rows:
        print(f'  {k:<58} {v}')
    shrunk_w = dict(out['shrunk']['widths']['groups'])
    exp_w = dict(e['widths']['groups'])
    orig_w = dict(out['original']['widths']['groups'])
    print('  widths (original -> shrunk -> expanded):')
    for n in orig_w:
        print(f'    {n:<22} {orig_w[n]:>4} -> {shrunk_w[n]:>4} -> {exp_w[n]:>4}')
    print(f"  plot: {out['plot']}")
    summary = dict(args=vars(args), export=out, acc_original=acc_orig, acc_regularized=acc_reg,
                   acc_expanded=acc_exp, seconds=dict(original=t_orig, regularized=t_reg,
                                                      expanded=t_exp))
    with open(osp.join(wd, 'bench_morphnet.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    print(f"  summary: {osp.join(wd, 'bench_morphnet.json')}")


if __name__ == '__main__':
    main()
