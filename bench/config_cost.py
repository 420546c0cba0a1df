"""Expected cost of a paper-scale config: measured seconds per training iteration on
this machine times the iterations of the config's schedule.

For each config: the model is built exactly as configured (full widths; SyncBN reverted to
BN, as there is no process group on one CPU; a supernet gets one uniformly sampled path per
step, as ``UniformSamplingHook`` would), then forward + backward + optimizer step
(``model.train_step`` with the config's own optimizer wrapper) on a synthetic batch of the
config's per-GPU train batch size and input size (read from the train pipeline: the last
Resize / RandomResize / RandomCrop / RandomResizedCrop; detection batches carry a few random
gt boxes per image), one warm-up step then the median of ``--iters`` steps, with torch
threads = the machine's cores. Supernet searches (DetNAS, NAS-FPN one-shot) also time one
no-grad forward of the same batch, the unit of their BN re-estimation and scoring.

The schedule: ``train_cfg.max_iters``, or ``max_epochs`` x dataset size / (batch x GPUs)
with the dataset sizes below; a controller / evolution search (``SearchLoop`` with a
training evaluator) costs children x child iterations at the evaluator's batch, one child
per GPU; GPUs = ``auto_scale_lr.base_batch_size`` / per-GPU batch. CPU-hours = seconds
per per-GPU step x iterations x GPUs / 3600: every GPU's step would run on this CPU.
These are CPU figures; no GPU run exists yet, so GPU hours are "not measured".

    python bench/config_cost.py configs/detnas/shufflenet-300M-supernet_cifar10-cls.py [...] [--iters 3]
    python bench/config_cost.py --tiny      # one small config, 1 iteration (CI)
"""
from __future__ import annotations

import argparse
import copy
import math
import os
import os.path as osp
import random
import statistics
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CONFIG = 'configs/detnas/shufflenet-300M-supernet_cifar10-cls.py'

# training images per epoch, as the papers train on them
DATASET_SIZE = {
    'CocoDataset': 118287,      # COCO train2017
    'ImageNet': 1281167,        # ImageNet-1k train
    'CIFAR10': 50000,           # CIFAR-10 train
}
COCO_ANNOTATED = 117266       # train2017 images with boxes (mmdet's filter_empty_gt=True)
COCO_HELDOUT = 5000           # held out by the `split` phase of the COCO searches


def dataset_size(cfg) -> tuple[int, str]:
    """Images per epoch of the config's training set, with where the figure comes from."""
    ds = cfg.train_dataloader.dataset
    while 'dataset' in ds:       # wrappers (RepeatDataset, ...)
        ds = ds.dataset
    n = DATASET_SIZE.get(ds.get('type'))
    if n is None:
        raise SystemExit(f'config_cost: no dataset size for {ds.get("type")!r}: add it to '
                         'DATASET_SIZE in bench/config_cost.py')
    note = ds['type']
    if ds['type'] == 'CocoDataset' and (ds.get('filter_cfg') or {}).get('filter_empty_gt'):
        n, note = COCO_ANNOTATED, 'COCO train2017 with boxes'
    indices = ds.get('indices')
    if isinstance(indices, int):
        n, note = indices, f'{note}[:{indices}]'
    elif indices is not None:
        n, note = len(indices), f'{note}[{len(indices)} indices]'
    phases = [p.get('type') if isinstance(p, dict) else p for p in cfg.get('phases', [])]
    if 'split' in phases:
        n, note = n - COCO_HELDOUT, f'{note} minus {COCO_HELDOUT} held out'
    return n, note


def input_size(cfg) -> tuple[int, int]:
    """(height, width) of a training image after the train pipeline's geometric steps."""
    ds = cfg.train_dataloader.dataset
    while 'dataset' in ds:
        ds = ds.dataset
    hw = None
    for t in ds.get('pipeline', []):
        kind = t['type']
        if kind in ('Resize', 'RandomResize', 'RandomResizedCrop') and 'scale' in t:
            s = t['scale']
            if isinstance(s, int):
                hw = (s, s)
            elif isinstance(s[0], (list, tuple)):   # a range of scales: the largest
                w, h = max(s, key=lambda x: x[0] * x[1])
                hw = (h, w)
            else:
                hw = (s[1], s[0])                 # mmcv scales are (w, h)
        elif kind in ('RandomCrop', 'CenterCrop') and 'crop_size' in t:
            c = t['crop_size']
            ch, cw = (c, c) if isinstance(c, int) else (c[0], c[1])
            hw = (ch, cw) if hw is None else (min(hw[0], ch), min(hw[1], cw))
    if hw is None:
        if ds.get('type') == 'CIFAR10':
            hw = (32, 32)
        else:
            raise SystemExit('config_cost: no Resize / crop in the train pipeline to read '
                             'the input size from')
    return hw


def search_loop(cfg):
    """The config's SearchLoop dict (``train_cfg`` or the one a search phase names)."""
    if cfg.get('train_cfg', {}).get('type') == 'SearchLoop':
        return cfg.train_cfg
    for p in cfg.get('phases', []):
        if isinstance(p, dict) and p.get('type') == 'search':
            return cfg.get(p.get('train_cfg', 'train_cfg'))
    return None


def schedule(cfg, batch: int) -> dict:
    """Iterations of the training schedule and how many GPUs share each, plus the
    supernet search's forward passes where there is one."""
    out = dict(gpus=1, note='', search=None)
    base = (cfg.get('auto_scale_lr') or {}).get('base_batch_size')
    loop = search_loop(cfg)
    ev = (loop or {}).get('evaluator', {})
    if loop is not None and 'train_iters' in ev:     # children trained from scratch
        children, child = loop['max_trials'], ev['train_iters']
        out.update(iters=children * child, batch=ev.get('batch_size', batch),
                   note=f'{children:,} children x {child:,} iterations, one GPU each')
        return out
    gpus = max(1, base // batch) if base else 1
    tc = cfg.train_cfg
    if 'max_iters' in tc:
        iters, note = tc['max_iters'], f'{tc["max_iters"]:,} iterations'
    else:
        n, where = dataset_size(cfg)
        per_epoch = math.ceil(n / (batch * gpus))
        iters = tc['max_epochs'] * per_epoch
        note = (f'{tc["max_epochs"]} epochs x {per_epoch:,} iterations '
                f'({n:,} images, {where})')
    out.update(iters=iters, batch=batch, gpus=gpus, note=note + f', {gpus} GPU(s)')
    if loop is not None and ev.get('type') == 'SupernetEvaluator':
        st = loop['strategy']
        cands = st['population'] * st.get('generations', 1)
        vb = cfg.val_dataloader.get('batch_size', 1)
        out['search'] = dict(candidates=cands, bn_batches=ev.get('bn_batches', 0),
                             val_images=ev.get('num_val_images', 0), val_batch=vb)
    return out


def synthetic_batch(cfg, batch: int, hw, rng: random.Random):
    import torch
    h, w = hw
    inputs = [torch.randint(0, 256, (3, h, w), dtype=torch.uint8) for _ in range(batch)]
    if cfg.get('default_scope') == 'mmdet':
        from mmdet.structures import DetDataSample
        from mmengine.structures import InstanceData
        num_classes = 80
        samples = []
        for _ in range(batch):
            boxes = []
            for _ in range(rng.randint(2, 6)):
                bw, bh = rng.uniform(32, w / 2), rng.uniform(32, h / 2)
                x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
                boxes.append([x, y, x + bw, y + bh])
            s = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                            scale_factor=(1.0, 1.0), flip=False))
            s.gt_instances = InstanceData(
                bboxes=torch.tensor(boxes, dtype=torch.float32),
                labels=torch.tensor([rng.randrange(num_classes) for _ in boxes]))
            s.ignored_instances = InstanceData(bboxes=torch.zeros(0, 4),
                                               labels=torch.zeros(0, dtype=torch.long))
            samples.append(s)
    else:
        from mmpretrain.structures import DataSample
        nc = cfg.model.get('head', {}).get('num_classes', 1000)
        samples = [DataSample(metainfo=dict(img_shape=(h, w))).set_gt_label(rng.randrange(nc))
                   for _ in range(batch)]
    return dict(inputs=inputs, data_samples=samples)


_MEASURED = {}   # (model, optimizer, batch, input) -> (s per step, s per forward)


def measure(path: str, iters: int, max_batch: int | None, seed: int = 0) -> dict:
    import torch
    from mmengine.config import Config
    from mmengine.model import revert_sync_batchnorm
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope, init_default_scope
    cfg = Config.fromfile(path)
    scope = cfg.get('default_scope', 'mmdet')
    if scope == 'mmdet':
        from mmdet.utils import register_all_modules
    else:
        from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    import nas_det  # noqa: F401  registers our modules
    if DefaultScope.get_current_instance() is None or \
            DefaultScope.get_current_instance().scope_name != scope:
        init_default_scope(scope)
    from mmengine.registry import MODELS
    batch_cfg = cfg.train_dataloader.batch_size
    sched = schedule(cfg, batch_cfg)
    batch = sched['batch']
    hw = input_size(cfg)
    run_batch = min(batch, max_batch) if max_batch else batch
    key = repr((cfg.model, cfg.optim_wrapper, run_batch, hw))
    if key in _MEASURED and (_MEASURED[key][1] is not None or not sched['search']):
        sec, fwd, load = _MEASURED[key]   # the same network and step as a config before
        return result(path, sched, sec, fwd, hw, batch, run_batch, load, True)
    mcfg = copy.deepcopy(cfg.model)
    if 'backbone' in mcfg and isinstance(mcfg.backbone, dict):
        mcfg.backbone.pop('init_cfg', None)    # no pretrained weights here
        mcfg.backbone['init_cfg'] = None
    torch.manual_seed(seed)
    model = revert_sync_batchnorm(MODELS.build(mcfg))
    model.train()
    searchable = [m for m in model.modules()
                  if callable(getattr(m, 'set_choices', None)) and hasattr(m, 'search_space')]
    optim = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    rng = random.Random(seed)

    def step():
        for m in searchable:
            m.set_choices(m.search_space.sample(rng))
        data = synthetic_batch(cfg, run_batch, hw, rng)
        t0 = time.perf_counter()
        losses = model.train_step(data, optim)
        dt = time.perf_counter() - t0
        for k, v in losses.items():
            if not math.isfinite(float(v.detach())):
                raise SystemExit(f'config_cost: {path}: loss {k} is {float(v.detach())}')
        return dt

    load = os.getloadavg()[0]
    step()                                        # warm-up
    times = [step() for _ in range(iters)]
    sec = statistics.median(times) * batch / run_batch
    fwd = None
    if sched['search']:
        data = model.data_preprocessor(synthetic_batch(cfg, run_batch, hw, rng), True)
        with torch.no_grad():
            t0 = time.perf_counter()
            model(**data, mode='loss')
            fwd = (time.perf_counter() - t0) * batch / run_batch
    _MEASURED[key] = (sec, fwd, load)
    return result(path, sched, sec, fwd, hw, batch, run_batch, load, False)


def result(path, sched, sec, fwd, hw, batch, run_batch, load, reused) -> dict:
    return dict(config=osp.relpath(path, ROOT) if path.startswith(ROOT) else path,
                sec=sec, hw=hw, batch=batch, run_batch=run_batch, load=load, fwd=fwd,
                reused=reused, **{k: sched[k] for k in ('iters', 'gpus', 'note', 'search')})


HEADER = ('config | batch x GPUs | input | s per iteration (CPU) | iterations | '
          'CPU-hours | GPU hours')


def report(r: dict, threads: int) -> list[str]:
    """The table row of one config (and its search line), and its totals in ``r``."""
    steps = r['iters'] * r['gpus']
    hours = r['sec'] * steps / 3600
    scaled = '' if r['run_batch'] == r['batch'] else f', scaled from batch {r["run_batch"]}'
    if r['reused']:
        scaled += ', same network and step as a config above'
    lines = [
        f'{r["config"]} | {r["batch"]} x {r["gpus"]} | {r["hw"][0]}x{r["hw"][1]} | '
        f'{r["sec"]:.2f} ({threads} thread{"s" if threads > 1 else ""}, '
        f'load {r["load"]:.1f}{scaled}) | '
        f'{r["iters"]:,} ({r["note"]}) | {hours:,.0f} | not measured (no GPU run yet)']
    r['train_hours'] = r['total_hours'] = hours
    if r['search'] and r['fwd'] is not None:
        s = r['search']
        per_img = r['fwd'] / r['batch']
        per_cand = s['bn_batches'] * r['fwd'] + s['val_images'] * per_img
        sh = s['candidates'] * per_cand / 3600
        lines.append(
            f'  + search: {s["candidates"]:,} candidates x ({s["bn_batches"]} BN batches + '
            f'{s["val_images"]:,} images) of no-grad forward at {r["fwd"]:.2f} s per batch '
            f'of {r["batch"]} = {sh:,.0f} CPU-hours; total {hours + sh:,.0f} CPU-hours')
        r['search_hours'], r['total_hours'] = sh, hours + sh
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('configs', nargs='*')
    ap.add_argument('--iters', type=int, default=3, help='timed steps after one warm-up')
    ap.add_argument('--threads', type=int, default=os.cpu_count(),
                    help='torch threads. Defaults to the machine\'s cores.')
    ap.add_argument('--max-batch', type=int, default=None,
                    help='time at most this many images per step and scale the time '
                         'linearly to the config\'s batch (for batches that do not fit '
                         'in memory); flagged in the table')
    ap.add_argument('--json', help='append one JSON line per config to this file')
    ap.add_argument('--tiny', action='store_true',
                    help=f'{TINY_CONFIG} with --iters 1 (CI)')
    args = ap.parse_args(argv)
    if args.tiny:
        args.configs, args.iters = [osp.join(ROOT, TINY_CONFIG)], 1
    if not args.configs:
        ap.error('name at least one config, or --tiny')
    import torch
    from mmengine.logging import MMLogger
    torch.set_num_threads(args.threads)
    MMLogger.get_instance('config_cost', log_level='WARNING')  # no per-parameter lines
    print(f'[config_cost] {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, '
          f'{args.iters} timed step(s) after 1 warm-up, load average at start '
          f'{os.getloadavg()[0]:.1f}', flush=True)
    rows, threads = [], torch.get_num_threads()
    for c in args.configs:
        path = c if osp.isabs(c) else osp.join(os.getcwd(), c)
        if not osp.isfile(path):
            raise SystemExit(f'config_cost: no such config {c}')
        t0 = time.perf_counter()
        r = measure(path, args.iters, args.max_batch)
        lines = report(r, threads)
        rows.append(lines)
        if args.json:
            import json
            with open(args.json, 'a') as f:
                f.write(json.dumps(r | dict(threads=threads)) + '\n')
        print('\n'.join(lines) + f'   [{time.perf_counter() - t0:.0f} s]', flush=True)
    print('\n[config_cost] table')
    print(HEADER)
    for lines in rows:
        print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
