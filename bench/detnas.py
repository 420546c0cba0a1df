"""DetNAS on CPU: supernet training speed, its overhead over a fixed subnet, memory, search.

Usage::

    python bench/detnas.py                       # 2 threads (~3-5 min idle, ~10 min shared)
    python bench/detnas.py --repeats 15 --threads 1 --skip-search
    python bench/detnas.py --checkpoint work_dirs/detnas/train/iter_240.pth
    python bench/detnas.py --tiny                # CI size (about a minute): every part, once

On the RetinaNet DetNAS configuration (``SUPERNET_CONFIG``: RetinaNet with the 20-block
``ShuffleNetV2Supernet(arch='300M')``), read at run time, with ``--batch`` real images of
the embedded digits (train pipeline with its Resize set to ``--size`` x ``--size``,
collated and put through the model's data preprocessor once, outside the timings):

1. **Supernet step**: seconds per training iteration with a fresh random path each time
   (``set_choices(search_space.sample(rng))``, loss, backward, SGD step with
   ``zero_grad(set_to_none=True)``; SGD settings from the config's ``optim_wrapper``,
   without its gradient clipping).
2. **Supernet / subnet**: the same step of a standalone detector whose backbone is
   ``ShuffleNetV2Subnet(genotype=path)`` (everything else as in the config), for
   ``--paths`` paths sampled up front. Interleaved pairs on the same path and batch,
   which of the two runs first alternating; reported: the median of the per-pair ratios
   (robust to load drift on a shared machine), the ratio of the medians and the number
   of pairs. Target: <= 1.05.
3. **Memory**: each model trains ``--memory-steps`` steps in its own process (this script
   re-invoked with ``--mode supernet`` / ``--mode subnet``); reported: that process's
   ``ru_maxrss`` and the peak minus the RSS right after the model was built (the training
   memory: activations, gradients, momentum buffers). The supernet samples a random path
   per step, as in training; the subnet is built on the first sampled path. These run
   first, while this process is still small: Linux carries a parent's peak RSS into a
   child's ``ru_maxrss`` across ``exec`` of a vfork'ed child.
4. **Search**: seconds per evaluated candidate of ``SupernetEvaluator`` (BN recalibration
   + validation + COCO metric) on a Runner built from ``SEARCH_CONFIG`` with its search
   phase's ``train_cfg`` and evaluator settings, on ``--candidates`` random paths after
   one untimed candidate that fills the evaluator's batch caches. Untrained weights
   unless ``--checkpoint`` (the Runner's model as built, before ``init_weights``): its
   scores sit near 0.5, so every val image gets ``max_per_img`` detections and NMS and
   COCO evaluation run at their most costly; with the head's prior-initialised bias it
   would make none and COCO evaluation would be nearly free. The output gives the
   detections per image and says which case it was.

Timings are wall clock on whatever else the machine runs; the summary gives the load
average. On a 2-core machine shared with other jobs, 2 torch threads can be several
times slower than 1 (each op waits for its descheduled thread), so compare with
``--threads 1`` there.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUPERNET_CONFIG = 'configs/detnas/retinanet_detnas-shufflenet-300M-supernet_fpn_digits.py'
SEARCH_CONFIG = 'configs/detnas/retinanet_detnas-shufflenet-300M_search_digits.py'
MARK = '@@detnas-bench '


def rss_mb() -> float:
    """Current resident set size of this process (MiB)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def maxrss_mb() -> float:
    """``ru_maxrss`` of this process (KiB on Linux) in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def setup(threads: int, data_root: str):
    """Import the stack, set threads, make sure the digits exist in ``data_root``; returns
    torch."""
    os.chdir(ROOT)  # the configs' paths are relative to the repository root
    sys.path.insert(0, ROOT)
    if not os.path.isfile(os.path.join(data_root, 'annotations/instances_train.json')):
        subprocess.run([sys.executable, 'tools/make_data.py', 'det', '--out', data_root],
                       check=True, cwd=ROOT)
    import torch
    torch.set_num_threads(threads)
    import nas_det  # noqa: F401  (registers models, hooks, loops)
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    MMLogger.get_instance('detnas_bench', log_level='WARNING')  # quiet init_weights logs
    return torch


def data_options(data_root: str) -> dict:
    """Config keys that point the DetNAS digits configs at ``data_root``."""
    root = data_root.rstrip('/') + '/'
    return {'train_dataloader.dataset.data_root': root,
            'val_dataloader.dataset.data_root': root,
            'test_dataloader.dataset.data_root': root,
            'val_evaluator.ann_file': root + 'annotations/instances_val.json',
            'test_evaluator.ann_file': root + 'annotations/instances_val.json'}


def load_config(size: int, data_root: str):
    """The supernet config on ``data_root`` with every train-pipeline Resize set to
    ``size`` x ``size``."""
    from mmengine.config import Config
    cfg = Config.fromfile(SUPERNET_CONFIG)
    cfg.merge_from_dict(data_options(data_root))
    for t in cfg.train_dataloader.dataset.pipeline:
        if t['type'] == 'Resize':
            t['scale'] = (size, size)
    return cfg


def make_batch(cfg, batch_size: int, seed: int = 0) -> list:
    """``batch_size`` real training samples (a seeded pick), through the train pipeline."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DATASETS
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    idx = random.Random(seed).sample(range(len(dataset)), batch_size)
    return pseudo_collate([dataset[i] for i in idx])


def build(cfg, torch, genotype=None, channels_last=False):
    """The detector of ``cfg`` (its backbone a subnet on ``genotype`` if given, in NHWC
    layout with ``channels_last``) and SGD."""
    import copy
    from mmengine.registry import MODELS
    mcfg = copy.deepcopy(cfg.model)
    if genotype is not None:
        mcfg.backbone = dict(mcfg.backbone, type='ShuffleNetV2Subnet', genotype=genotype.to_dict())
    if channels_last:
        mcfg.backbone = dict(mcfg.backbone, channels_last=True)
    model = MODELS.build(mcfg)
    model.init_weights()
    model.train()
    o = cfg.optim_wrapper.optimizer
    opt = torch.optim.SGD(model.parameters(), lr=o['lr'], momentum=o.get('momentum', 0),
                          weight_decay=o.get('weight_decay', 0))
    return model, opt


def train_step(model, opt, data) -> float:
    """One training step; returns the loss."""
    opt.zero_grad(set_to_none=True)
    loss, _ = model.parse_losses(model(**data, mode='loss'))
    loss.backward()
    opt.step()
    return loss.item()


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def memory_mode(args) -> None:
    """``--mode supernet|subnet``: build one model, train a few steps, print the RSS figures."""
    torch = setup(args.threads, args.data_root)
    cfg = load_config(args.size, args.data_root)
    rng = random.Random(args.seed)
    space = None
    batch = make_batch(cfg, args.batch, args.seed)
    if args.mode == 'supernet':
        model, opt = build(cfg, torch)
        space = model.backbone.search_space
    else:
        from nas_det.space.detnas import DetNASSpace
        path = DetNASSpace(cfg.model.backbone.arch).sample(rng)
        model, opt = build(cfg, torch, path)
    data = model.data_preprocessor(batch, True)
    built = rss_mb()
    losses = []
    for _ in range(args.memory_steps):
        if space is not None:
            model.backbone.set_choices(space.sample(rng))
        losses.append(train_step(model, opt, data))
    print(MARK + json.dumps({'mode': args.mode, 'maxrss_mb': maxrss_mb(), 'built_rss_mb': built,
                             'steps': args.memory_steps, 'losses': losses}), flush=True)


def measure_memory(args) -> dict:
    out = {}
    for mode in ('supernet', 'subnet'):
        cmd = [sys.executable, os.path.abspath(__file__), '--mode', mode, '--threads',
               str(args.threads), '--batch', str(args.batch), '--size', str(args.size),
               '--seed', str(args.seed), '--memory-steps', str(args.memory_steps),
               '--data-root', args.data_root]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
        if proc.returncode or not lines:
            raise RuntimeError(f'--mode {mode} failed ({proc.returncode}):\n{proc.stderr[-3000:]}')
        out[mode] = json.loads(lines[-1][len(MARK):])
        print(f'[memory] {mode}: peak {out[mode]["maxrss_mb"]:.0f} MiB, after build '
              f'{out[mode]["built_rss_mb"]:.0f} MiB ({time.perf_counter() - t:.0f} s)', flush=True)
    return out


def measure_steps(args, torch) -> dict:
    cfg = load_config(args.size, args.data_root)
    rng = random.Random(args.seed)
    batch = make_batch(cfg, args.batch, args.seed)
    torch.manual_seed(args.seed)
    supernet, sopt = build(cfg, torch)
    space = supernet.backbone.search_space
    paths = [space.sample(rng) for _ in range(args.paths)]
    subnets = [build(cfg, torch, p) for p in paths]
    n_super = sum(p.numel() for p in supernet.parameters())
    n_sub = statistics.mean(sum(p.numel() for p in m.parameters()) for m, _ in subnets)
    data = supernet.data_preprocessor(batch, True)
    shape = tuple(data['inputs'].shape)
    print(f'[steps] input {shape}; parameters: supernet {n_super / 1e6:.2f}M, subnets '
          f'{n_sub / 1e6:.2f}M (mean of {len(paths)})', flush=True)
    losses = []

    def sup(path):
        supernet.backbone.set_choices(path)
        losses.append(train_step(supernet, sopt, data))

    def sub(i):
        losses.append(train_step(*subnets[i], data))

    for i, p in enumerate(paths):  # warm-up: first-touch allocations, momentum buffers
        sup(p), sub(i)
    # 1. fresh random paths, as in supernet training
    fresh = [timed(lambda: sup(space.sample(rng))) for _ in range(args.fresh)]
    print(f'[steps] supernet, fresh random paths: {[round(t, 3) for t in fresh]}', flush=True)
    # 2. interleaved pairs on the same path and batch
    t_sup, t_sub = [], []
    for r in range(args.repeats):
        i = r % len(paths)
        a = lambda: sup(paths[i])  # noqa: E731
        b = lambda: sub(i)  # noqa: E731
        if r % 2 == 0:
            ts, tb = timed(a), timed(b)
        else:
            tb, ts = timed(b), timed(a)
        t_sup.append(ts), t_sub.append(tb)
        print(f'[steps] pair {r + 1}/{args.repeats} path {i}: supernet {ts:.3f} s, subnet '
              f'{tb:.3f} s, ratio {ts / tb:.3f}', flush=True)
    # 3. the backbone's channels_last option: the same supernet weights in NHWC layout
    t_nchw, t_nhwc = [], []
    if args.layout_pairs:
        nhwc, nopt = build(cfg, torch, channels_last=True)
        nhwc.load_state_dict(supernet.state_dict())

        def nhwc_step(path):
            nhwc.backbone.set_choices(path)
            losses.append(train_step(nhwc, nopt, data))

        nhwc_step(paths[0])  # warm-up
        for r in range(args.layout_pairs):
            i = r % len(paths)
            a = lambda: sup(paths[i])  # noqa: E731
            b = lambda: nhwc_step(paths[i])  # noqa: E731
            if r % 2 == 0:
                ta, tb = timed(a), timed(b)
            else:
                tb, ta = timed(b), timed(a)
            t_nchw.append(ta), t_nhwc.append(tb)
            print(f'[steps] layout pair {r + 1}/{args.layout_pairs} path {i}: NCHW {ta:.3f} s, '
                  f'channels_last {tb:.3f} s', flush=True)
    return {'input_shape': shape, 'params_supernet': n_super, 'params_subnet': n_sub,
            'fresh': fresh, 'sup': t_sup, 'sub': t_sub, 'num_paths': len(paths),
            'nchw': t_nchw, 'nhwc': t_nhwc,
            'finite_losses': all(map(lambda v: v == v and abs(v) != float('inf'), losses))}


def measure_search(args, torch) -> dict:
    from mmengine.config import Config
    from mmengine.runner import Runner
    from nas_det.engine.evaluators import SupernetEvaluator
    from nas_det.engine.hooks import searchable_modules
    from nas_det.engine.launch.phases import PHASES, PhaseContext, normalize_phases, phase_config

    cfg = Config.fromfile(SEARCH_CONFIG)
    root = args.data_root + '/'  # the held-out split is written beside the annotations
    cfg.merge_from_dict({**data_options(root), 'heldout_split.data_root': root,
                         'heldout_evaluator.ann_file': root + cfg.heldout_split['heldout']})
    # the phases as tools/search.py reads them: a phase may name a top-level dict
    # (train_cfg='search_cfg'), resolved here
    phases = normalize_phases(cfg)
    over = [o for name, o in phases if name == 'search']
    if not over:
        raise ValueError(f'{SEARCH_CONFIG}: phases has no search phase')
    over = over[0]
    with tempfile.TemporaryDirectory(prefix='detnas_bench_') as wd:
        for name, o in phases:  # data preparation before the search (held-out split files)
            if name == 'split':
                PHASES[name](phase_config(cfg, o, os.path.join(wd, name)), PhaseContext(wd))
        pcfg = phase_config(cfg, over, wd)
        pcfg.load_from = None
        pcfg.resume = False
        pcfg.custom_hooks = [h for h in pcfg.get('custom_hooks', [])
                             if h.get('type') != 'UniformSamplingHook']
        pcfg.default_hooks = dict(pcfg.get('default_hooks', {}), checkpoint=None)
        pcfg.log_level = 'WARNING'
        ev_cfg = {k: v for k, v in pcfg.train_cfg.evaluator.items() if k != 'type'}
        if args.tiny:
            ev_cfg.update(bn_batches=1, num_val_images=2)
        runner = Runner.from_cfg(pcfg)
        if args.checkpoint:
            runner.load_checkpoint(args.checkpoint, map_location='cpu')
        modules = searchable_modules(runner.model)
        ev = SupernetEvaluator(runner, modules=modules, **ev_cfg)
        model, detections = runner.model, []
        val_step = model.val_step

        def counting_val_step(data):  # count the detections the metric gets
            out = val_step(data)
            detections[-1] += sum(len(o.pred_instances) for o in out)
            return out

        model.val_step = counting_val_step
        rng = random.Random(args.seed + 1)
        space = modules[0][1].search_space

        def evaluate():
            detections.append(0)
            with contextlib.redirect_stdout(io.StringIO()):  # pycocotools' tables
                return ev(space.sample(rng))

        t = time.perf_counter()
        evaluate()  # untimed: decodes and caches the recalibration and val batches
        cold = time.perf_counter() - t
        ev.timing = {'bn': 0.0, 'val': 0.0, 'n': 0}
        del detections[:]
        results = [evaluate() for _ in range(args.candidates)]
    timing = dict(ev.timing)
    print(f'[search] timing {timing}; first (cold) candidate {cold:.2f} s; rewards '
          f'{[round(r.reward, 4) for r in results]}; detections {detections}', flush=True)
    return {'timing': timing, 'cold_s': cold, 'detections': detections, 'evaluator': ev_cfg,
            'val_images': len(ev.val_set), 'bn_batch_size': ev.train_bs,
            'max_per_img': (pcfg.model.get('test_cfg') or {}).get('max_per_img'),
            'checkpoint': args.checkpoint}


def summary(args, torch, load0, mem, steps, search) -> None:
    med = statistics.median
    line = '-' * 78
    print('\n' + line)
    print(f'DetNAS bench: {SUPERNET_CONFIG}')
    cores = len(os.sched_getaffinity(0))
    print(f'machine: {os.cpu_count()} CPUs ({cores} usable), torch threads '
          f'{torch.get_num_threads()}; 1-min load average {load0:.2f} at start (other work), '
          f'{os.getloadavg()[0]:.2f} at end; batch {args.batch} at {args.size}x{args.size}')
    if torch.get_num_threads() > 1 and load0 + torch.get_num_threads() > cores + 0.5:
        print('NOTE: other work shares these cores: timings with several torch threads suffer '
              'most (every op waits for its slowest thread); compare with --threads 1')
    print(line)
    if steps:
        s, b = steps['sup'], steps['sub']
        pair = med(x / y for x, y in zip(s, b))
        print(f'1. supernet step, fresh random path : median {med(steps["fresh"]):.3f} s '
              f'(n={len(steps["fresh"])}, min {min(steps["fresh"]):.3f})')
        print(f'   supernet step, in the pairs      : median {med(s):.3f} s (n={len(s)})')
        print(f'   subnet step, in the pairs        : median {med(b):.3f} s (n={len(b)})')
        print(f'2. supernet / subnet (target <=1.05): median of per-pair ratios {pair:.3f}, '
              f'ratio of medians {med(s) / med(b):.3f}; {len(s)} pairs over '
              f'{steps["num_paths"]} paths')
        print(f'   parameters: supernet {steps["params_supernet"] / 1e6:.2f}M, subnet '
              f'{steps["params_subnet"] / 1e6:.2f}M; losses finite: {steps["finite_losses"]}')
        if steps['nhwc']:
            a, c = steps['nchw'], steps['nhwc']
            print(f'   backbone channels_last=True      : supernet step median {med(c):.3f} s '
                  f'vs {med(a):.3f} s NCHW; speed-up (median of per-pair NCHW/NHWC) '
                  f'{med(x / y for x, y in zip(a, c)):.2f}x over {len(a)} pairs')
    if mem:
        print(f'3. memory ({args.memory_steps} steps each, own process): ru_maxrss / peak minus '
              'RSS after build')
        for k in ('supernet', 'subnet'):
            m = mem[k]
            train = m['maxrss_mb'] - m['built_rss_mb']
            print(f'   {k:8s}: {m["maxrss_mb"]:7.0f} MiB / {train:6.0f} MiB (RSS after build '
                  f'{m["built_rss_mb"]:.0f} MiB)')
        ds = mem['supernet']['maxrss_mb'] - mem['subnet']['maxrss_mb']
        print(f'   supernet - subnet peak: {ds:.0f} MiB')
    if search:
        t = search['timing']
        n, tot = t['n'], t['bn'] + t['val']
        e = search['evaluator']
        print(f'4. search, per candidate: {tot / n:.2f} s = BN recalibration {t["bn"] / n:.2f} s '
              f'({100 * t["bn"] / tot:.0f}%) + validation {t["val"] / n:.2f} s '
              f'({100 * t["val"] / tot:.0f}%); n={n} (cached batches; first, cold candidate '
              f'{search["cold_s"]:.2f} s)')
        print(f'   {e.get("bn_batches")} BN batches of {search["bn_batch_size"]}, '
              f'{search["val_images"]} val images; weights: '
              f'{search["checkpoint"] or "untrained"}')
        det = search['detections']
        print(f'   detections per val image: {[round(d / search["val_images"], 1) for d in det]}')
        cap = search['max_per_img']
        if cap and all(d >= cap * search['val_images'] for d in det):
            why = 'scores above the threshold' + ('' if search['checkpoint'] else ', untrained')
            print(f'   NOTE: every val image got max_per_img={cap} detections ({why}): NMS and '
                  'COCO eval run at their most costly, the validation share is an upper bound.')
        if not all(det):
            print(f'   NOTE: {sum(not d for d in det)}/{n} candidates made no detection (untrained '
                  'weights score below the threshold), so their COCO eval was nearly free: the '
                  'validation share is a lower bound for a trained supernet.')
    print(line, flush=True)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--repeats', type=int, default=8, help='interleaved supernet/subnet pairs')
    p.add_argument('--threads', type=int, default=2, help='torch.set_num_threads')
    p.add_argument('--paths', type=int, default=3, help='paths (subnets built up front)')
    p.add_argument('--fresh', type=int, default=4, help='timed supernet steps on fresh paths')
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--size', type=int, default=256, help='image side of the train Resize')
    p.add_argument('--memory-steps', type=int, default=3)
    p.add_argument('--layout-pairs', type=int, default=4,
                   help='interleaved supernet steps NCHW vs channels_last (0: skip)')
    p.add_argument('--candidates', type=int, default=3, help='timed search candidates')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--skip-memory', action='store_true')
    p.add_argument('--skip-search', action='store_true')
    p.add_argument('--checkpoint', help='supernet checkpoint for the search timing')
    p.add_argument('--mode', choices=('bench', 'supernet', 'subnet'), default='bench',
                   help='internal: supernet/subnet run the memory child process')
    p.add_argument('--data-root', default=os.path.join(ROOT, 'data/digits_det'),
                   help='the digit detection set (built there when missing); default '
                   'data/digits_det')
    p.add_argument('--tiny', action='store_true',
                   help='CI size: 1 thread, batch 2 at 128 px, 1 pair, path, fresh step, '
                   'memory step and candidate (1 BN batch, 2 val images), no layout pairs')
    args = p.parse_args(argv)
    args.data_root = os.path.abspath(args.data_root)
    if args.tiny:
        for k, v in dict(repeats=1, threads=1, paths=1, fresh=1, batch=2, size=128,
                         memory_steps=1, layout_pairs=0, candidates=1).items():
            setattr(args, k, v)
    for k in ('repeats', 'threads', 'paths', 'fresh', 'batch', 'size', 'memory_steps',
              'candidates'):
        if getattr(args, k) < 1:
            raise ValueError(f'--{k.replace("_", "-")}: a positive integer is expected, got '
                             f'{getattr(args, k)}')
    if args.layout_pairs < 0:
        raise ValueError(f'--layout-pairs: a non-negative integer is expected, got '
                         f'{args.layout_pairs}')
    if args.checkpoint and not os.path.isfile(args.checkpoint):
        raise ValueError(f'--checkpoint: no file at {args.checkpoint!r}')
    if args.checkpoint:
        args.checkpoint = os.path.abspath(args.checkpoint)
    if args.mode != 'bench':
        return memory_mode(args)
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    mem = None if args.skip_memory else measure_memory(args)  # first: this process is small
    torch = setup(args.threads, args.data_root)
    steps = measure_steps(args, torch)
    search = None if args.skip_search else measure_search(args, torch)
    summary(args, torch, load0, mem, steps, search)
    print(f'total {time.perf_counter() - t0:.0f} s')


if __name__ == '__main__':
    main()
