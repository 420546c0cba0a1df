#!/usr/bin/env python
"""NAS-FPN on the embedded digits: controller search vs one-shot search vs a plain FPN.

For every seed, both modes search on the easy digits (``controller``: REINFORCE +
proxy-trained children, ``configs/nasfpn/retinanet_r18_nasfpn_search_digits-easy.py``;
``oneshot``: supernet neck + evolutionary search, its child config
``configs/nasfpn/retinanet_r18_nasfpn-supernet_search_digits-easy.py``), then the best
pyramid of each, a plain mmdet ``FPN`` (same channels, same levels; ``fpn``) and the
paper's 7-cell pyramid (one stack; ``published``) are retrained the same way
(``--retrain-iters`` iterations from the same frozen, digits-pretrained ResNet-18, seed
``seed``) and scored with COCO bbox mAP on the 100 val images. Printed: per seed and
mode the search's wall time, its best proxy reward, the neck's parameters and the
retrained mAP / mAP@50; then mean and standard deviation over the seeds.

    python bench/nasfpn_compare.py                       # seeds 0 1 2, 2 jobs at a time
    python bench/nasfpn_compare.py --seeds 0 --jobs 1 --retrain-iters 300
    python bench/nasfpn_compare.py --tiny   # CI size: seed 0, controller + fpn, untrained
                                            # backbone, 32/8 images, 1 child, 2 iterations

Runs ``tools/search.py`` in subprocesses (one thread each). Prerequisites are made when
missing: the easy detection set (in ``--data-root``, default ``data/digits_det_easy``;
``tools/make_data.py`` checks it on every start and rebuilds one made with other settings)
and the backbone pretraining (``configs/nasfpn/resnet18-half_digits-cls.py``). Every job
writes ``result.json`` in its folder under ``--work-dir``; a rerun reuses finished jobs and
resumes unfinished ones (``--resume``), so a killed comparison goes on where it stopped
(the wall time of a resumed search then counts only its resumed part).
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import re
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _jobs import run_jobs  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SEARCH_CFG = osp.join(ROOT, 'configs/nasfpn/retinanet_r18_nasfpn_search_digits-easy.py')
SEARCH_CFGS = {  # mode -> its search config
    'controller': SEARCH_CFG,
    'oneshot': osp.join(ROOT, 'configs/nasfpn/retinanet_r18_nasfpn-supernet_search_digits-easy.py')}
PRETRAIN_CFG = osp.join(ROOT, 'configs/nasfpn/resnet18-half_digits-cls.py')
EASY_SET = ['det', '--size', '128', '--scale', '24', '64', '--objects', '1', '4',
            '--no-clutter', '--train', '800', '--val', '100']
TINY_SET = ['--train', '32', '--val', '8']   # replaces EASY_SET's sizes with --tiny
TINY_CONTROLLER = ['controller_search.max_trials=1', 'controller_search.evaluator.train_iters=2',
                   'controller_search.evaluator.num_val_images=4']
MODES = ('controller', 'oneshot')
BASELINES = ('fpn', 'published')   # retrained only: mmdet's FPN, the paper's 7-cell pyramid


def run(args, log, env_extra=None):
    """Run a python tool; its output goes to ``log``. Returns (seconds, output)."""
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': ROOT, **(env_extra or {})}
    t0 = time.time()
    with open(log, 'w') as f:
        p = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, stdout=f,
                           stderr=subprocess.STDOUT)
    seconds = time.time() - t0
    with open(log) as f:
        out = f.read()
    if p.returncode:
        raise RuntimeError(f'{" ".join(args[:2])} failed ({p.returncode}); see {log}:\n'
                           f'{out[-3000:]}')
    return seconds, out


def last_metric(out: str, key: str) -> float:
    found = re.findall(rf'{re.escape(key)}: (-?[0-9.]+)', out)
    if not found:
        raise RuntimeError(f'no {key} in the run output')
    return float(found[-1])


def finished(wd):
    """The result of the job in ``wd`` when it finished earlier, else None (and the
    folder made)."""
    if osp.isfile(osp.join(wd, 'result.json')):
        with open(osp.join(wd, 'result.json')) as f:
            return json.load(f)
    os.makedirs(wd, exist_ok=True)
    return None


def save(wd, res):
    with open(osp.join(wd, 'result.json'), 'w') as f:
        json.dump(res, f, indent=1)
    return res


def data_options(root):
    """--cfg-options pointing the search config at the detection set in ``root``."""
    return [f'train_dataloader.dataset.data_root={root}/',
            f'val_dataloader.dataset.data_root={root}/',
            f'val_evaluator.ann_file={root}/annotations/instances_val.json']


def search_job(mode, seed, args):
    wd = osp.join(args.work_dir, f'{mode}_seed{seed}')
    done = finished(wd)
    if done:
        return done
    opts = [f'randomness.seed={seed}',
            f'model.backbone.init_cfg.checkpoint={args.backbone}', *data_options(args.data_root)]
    if mode == 'oneshot':
        opts.append(f'custom_hooks.0.seed={seed}')
    opts += args.search_options.get(mode, [])
    seconds, _ = run(['tools/search.py', SEARCH_CFGS[mode], '--work-dir', wd, '--resume',
                      '--cfg-options', *opts], osp.join(wd, 'search.log'))
    with open(osp.join(wd, 'search', 'search_summary.json')) as f:
        summary = json.load(f)
    with open(osp.join(wd, 'search', 'best_genotype.json')) as f:
        best = json.load(f)
    return save(wd, dict(mode=mode, seed=seed, search_seconds=round(seconds, 1),
                         best_reward=summary.get('reward'),
                         genotype=best.get('genotype', best)))


def retrain_job(mode, seed, neck, args):
    wd = osp.join(args.work_dir, f'retrain_{mode}_seed{seed}')
    done = finished(wd)
    if done:
        return done
    n = args.retrain_iters
    warm = min(50, n // 4)
    sched = [dict(type='CosineAnnealingLR', by_epoch=False, begin=warm, end=n,
                  T_max=n - warm)]
    if warm:
        sched.insert(0, dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
                             end=warm))
    # beside, not inside, the run's work dir: the runner dumps its config there by name
    cfg_file = osp.join(args.work_dir, 'configs', f'retrain_{mode}_seed{seed}.py')
    os.makedirs(osp.dirname(cfg_file), exist_ok=True)
    with open(cfg_file, 'w') as f:
        f.write(f'''# written by bench/nasfpn_compare.py: retrain {mode} (seed {seed})
_base_ = {SEARCH_CFG!r}
phases = ['train']
randomness = dict(seed={seed})
model = dict(neck={neck!r}, backbone=dict(init_cfg=dict(checkpoint={args.backbone!r})))
train_cfg = dict(max_iters={n}, val_interval={n})
param_scheduler = {sched!r}
default_hooks = dict(checkpoint=dict(interval={n}), logger=dict(interval=50))
''')
    seconds, out = run(['tools/search.py', cfg_file, '--work-dir', wd, '--resume',
                        '--cfg-options', *data_options(args.data_root)],
                       osp.join(wd, 'train.log'))
    return save(wd, dict(mode=mode, seed=seed, retrain_seconds=round(seconds, 1),
                         mAP=last_metric(out, 'coco/bbox_mAP'),
                         mAP50=last_metric(out, 'coco/bbox_mAP_50')))


_BUILD_LOCK = threading.Lock()


def neck_params(neck: dict) -> int:
    with _BUILD_LOCK:  # the jobs' threads share the registries
        import nas_det  # noqa: F401  registers NASFPNNeck
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
        register_all_modules(init_default_scope=False)
        module = MODELS.build({k: v for k, v in neck.items() if k != '_delete_'})
    return sum(p.numel() for p in module.parameters())


def one_seed_mode(mode, seed, args):
    # the search config's neck (NASFPNNeck, published pyramid), its genotype or mmdet's
    # FPN with the same widths and levels swapped in
    base = args.base_neck
    if mode == 'fpn':
        neck = dict(_delete_=True, type='FPN', in_channels=base['in_channels'],
                    out_channels=base['out_channels'], start_level=base['start_level'],
                    add_extra_convs='on_input', num_outs=base['num_outs'])
        return {**retrain_job(mode, seed, neck, args), 'neck_params': neck_params(neck)}
    s = search_job(mode, seed, args) if mode in MODES else {}
    neck = dict(base, genotype=s.get('genotype', base['genotype']))
    res = retrain_job(mode, seed, dict(_delete_=True, **neck), args)
    return {**res, 'search_seconds': s.get('search_seconds'),
            'best_reward': s.get('best_reward'), 'neck_params': neck_params(neck)}


def prepare(args):
    # every start: written when missing, rebuilt when made with other settings
    sizes = EASY_SET[:-4] + TINY_SET if args.tiny else EASY_SET
    _, out = run(['tools/make_data.py', *sizes, '--out', args.data_root],
                 osp.join(args.work_dir, 'make_data.log'))
    if 'up to date' not in out:
        print(f'[compare] built the easy detection set in {args.data_root}', flush=True)
    if args.backbone is None and args.tiny:
        args.backbone = untrained_backbone(osp.join(args.work_dir, 'untrained_backbone.pth'))
    if args.backbone is None:
        pre = osp.join(args.work_dir, 'pretrain')
        if not osp.isfile(osp.join(pre, 'phase_done.json')):
            print('[compare] pretraining the ResNet-18 on the classification digits '
                  f'({osp.relpath(PRETRAIN_CFG, ROOT)})', flush=True)
            run(['tools/make_data.py', 'cls', '--out', 'data/digits_cls'],
                osp.join(args.work_dir, 'make_cls.log'))
            seconds, out = run(['tools/search.py', PRETRAIN_CFG, '--work-dir',
                                osp.join(args.work_dir, 'pretrain'), '--resume'],
                               osp.join(args.work_dir, 'pretrain.log'))
            print(f'[compare]   val top-1 {last_metric(out, "accuracy/top1"):.1f}% '
                  f'({seconds:.0f} s)', flush=True)
        with open(osp.join(pre, 'last_checkpoint')) as f:  # mmengine's pointer
            args.backbone = f.read().strip()
    elif not osp.isfile(args.backbone):
        raise SystemExit(f'--backbone: no checkpoint at {args.backbone}')


def untrained_backbone(path: str) -> str:
    """The search config's backbone, freshly initialised, saved as a checkpoint (--tiny:
    no pretraining)."""
    if not osp.isfile(path):
        import torch
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
        from mmengine.config import Config
        register_all_modules(init_default_scope=False)
        bb = Config.fromfile(SEARCH_CFG).model.backbone.to_dict()
        bb.pop('init_cfg', None)
        sd = MODELS.build(bb).state_dict()
        torch.save({'state_dict': {f'backbone.{k}': v for k, v in sd.items()}}, path)
    return path


def fmt(x, nd=3):
    return '-' if x is None else f'{x:.{nd}f}'


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--modes', nargs='+', default=[*MODES, *BASELINES],
                   choices=[*MODES, *BASELINES])
    p.add_argument('--retrain-iters', type=int, default=600)
    p.add_argument('--jobs', type=int, default=2, help='runs at a time (one thread each)')
    p.add_argument('--backbone', default=None,
                   help='pretrained ResNet-18 checkpoint (default: pretrain one first)')
    p.add_argument('--work-dir', default='work_dirs/nasfpn_compare')
    p.add_argument('--data-root', default=None,
                   help='folder of the easy detection set (built there when missing); default '
                   'data/digits_det_easy, with --tiny <work dir>/digits_det_easy_tiny')
    p.add_argument('--tiny', action='store_true',
                   help='CI size: seed 0, modes controller and fpn, an untrained backbone '
                   '(unless --backbone), 32 train / 8 val images, one controller child of 2 '
                   'iterations, retrains of 2 iterations, 1 job')
    examples = dict(controller='controller_search.max_trials=4',
                    oneshot='oneshot_search.strategy.generations=2')
    for mode in MODES:
        p.add_argument(f'--{mode}-options', nargs='+', default=[], metavar='KEY=VALUE',
                       help=f'more --cfg-options for the {mode} searches (e.g. '
                       f'{examples[mode]})')
    args = p.parse_args(argv)
    if args.tiny:
        args.seeds, args.retrain_iters, args.jobs = [0], 2, 1
        if args.modes == [*MODES, *BASELINES]:
            args.modes = ['controller', 'fpn']
        args.controller_options = TINY_CONTROLLER + args.controller_options
    if args.data_root is None:
        args.data_root = osp.join(args.work_dir, 'digits_det_easy_tiny') if args.tiny \
            else osp.join(ROOT, 'data/digits_det_easy')
    args.search_options = {m: getattr(args, f'{m}_options') for m in MODES}
    if args.retrain_iters <= 0 or args.jobs <= 0:
        raise SystemExit('--retrain-iters and --jobs: positive integers are expected')
    args.work_dir = osp.abspath(args.work_dir)
    args.data_root = osp.abspath(args.data_root)
    if args.backbone:
        args.backbone = osp.abspath(args.backbone)
    os.makedirs(args.work_dir, exist_ok=True)
    prepare(args)
    from mmengine.config import Config  # read once, here: config parsing is not thread-safe
    args.base_neck = Config.fromfile(SEARCH_CFG).model.neck.to_dict()
    tasks = [(m, s) for s in sorted(set(args.seeds)) for m in dict.fromkeys(args.modes)]
    results = run_jobs(
        lambda m, s: one_seed_mode(m, s, args), tasks, args.jobs,
        prefix=lambda task: f'[compare] {task[0]} seed {task[1]}: ',
        on_result=lambda r: print(
            f'[compare] {r["mode"]} seed {r["seed"]}: retrained mAP {fmt(r["mAP"])} '
            f'(search {fmt(r.get("search_seconds"), 0)} s, best proxy reward '
            f'{fmt(r.get("best_reward"), 4)})', flush=True))
    args.modes = list(dict.fromkeys(args.modes))
    print(f'\n{"mode":<11}{"seed":>5}{"search s":>10}{"proxy best":>12}{"neck params":>13}'
          f'{"mAP":>8}{"mAP@50":>8}')
    for m in args.modes:
        for r in sorted((r for r in results if r['mode'] == m), key=lambda r: r['seed']):
            print(f'{m:<11}{r["seed"]:>5}{fmt(r.get("search_seconds"), 0):>10}'
                  f'{fmt(r.get("best_reward"), 4):>12}{r["neck_params"]:>13,}'
                  f'{fmt(r["mAP"]):>8}{fmt(r["mAP50"]):>8}')
    print()
    for m in args.modes:
        maps = [r['mAP'] for r in results if r['mode'] == m]
        sd = statistics.stdev(maps) if len(maps) > 1 else 0.0
        print(f'{m:<11} retrained mAP over {len(maps)} seed(s): mean {statistics.mean(maps):.3f}'
              f', std {sd:.3f}')


if __name__ == '__main__':
    main()
