"""DetNAS on CPU: supernet training speed, its overhead over a fixed subnet, memory, search.

Usage::

    python bench/detnas.py                       # 2 threads (~3-5 min idle, ~10 min shared)
    python bench/detnas.py --repeats 15 --threads 1 --skip-search
    python bench/detnas.py --checkpoint work_dirs/detnas/train/iter_240.pth
    python bench/detnas.py --tiny                # CI size (about a minute): every part, once
    python bench/detnas.py --skip-memory --skip-search --peer-dir /tmp/peers  # vs mmrazor

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
   **Layout**: the same weights with the backbone in NCHW and in NHWC
   (``channels_last``), interleaved (``--layout-pairs``).
3. **Memory**: each model trains ``--memory-steps`` steps in its own process (this script
   re-invoked with ``--mode supernet`` / ``--mode subnet``); reported: that process's
   ``ru_maxrss`` and the peak minus the RSS right after the model was built (the training
   memory: activations, gradients, momentum buffers). The supernet samples a random path
   per step, as in training; the subnet is built on the first sampled path. These run
   first, while this process is still small: Linux carries a parent's peak RSS into a
   child's ``ru_maxrss`` across ``exec`` of a vfork'ed child.
4. **Supernet training against mmrazor** (``--peer-dir``): mmrazor 1.0.0's DetNAS
   supernet (``SPOS`` over ``SearchableShuffleNetV2``) under the same neck, head, batch
   and SGD, stepped on the same fresh random path as ours (mapped op by op) and as ours
   with the other neck and head layout than the config's (``ChannelsLastHook`` or not),
   in rotating order
   (``--peer-pairs`` rounds); reported: the median of per-round ratios ours / mmrazor
   (issue 20's goal: <= 0.8).
5. **Search** (issue 22): seconds per scored candidate of ``SupernetEvaluator`` on a
   Runner built from ``SEARCH_CONFIG``'s search phase (its evaluator settings: 4 BN
   batches of 8, 48 held-out val images; ``--val-images``), for each ``--search-bn-modes``
   (``recalibrate``, the paper; ``train``, BN batch statistics), with every speed-up off
   (``SPEEDUPS_OFF``) and with the defaults (all on), and, with ``--peer-dir``, mmrazor
   1.0.0's ``EvolutionSearchLoop._val_candidate`` on its DetNAS supernet under the same
   neck, head, data and metric (``PeerScorer``). The same ``--candidates`` random paths
   for all (mapped op by op onto mmrazor's supernet), in rotating order, after one cold
   round that fills the caches and is left out. Reported: the median seconds per
   candidate (wall; and CPU time of this process, which other jobs on the machine touch
   less), each scorer's profile (data, bn, forward, postprocess, metric; wall/CPU), the
   ratios on/off and on/mmrazor (goal <= 0.5: the median of per-round wall ratios, and
   the ratio of CPU totals), the largest reward difference on vs off (0: the speed-ups
   are exact), how many levels' top-k selections ``torch.topk`` made, and the 1-min load
   average at the start and end of this part. ``--train-iters N`` first trains our
   supernet and mmrazor's N iterations on the same batches and paths (the weights a
   search scores with); ``--checkpoint`` loads ours instead (then no peer); with neither,
   the Runner's model as built, before ``init_weights``, scores near 0.5, so every val
   image gets ``max_per_img`` detections and NMS and COCO evaluation run at their most
   costly (the output says so). ``--workers N`` reads with N worker processes (ours
   with the speed-ups and mmrazor), ``--stream`` reads every batch for every candidate,
   ``--parallel-batches N`` sets the val batches ours with the speed-ups predicts at once
   (default: the evaluator's, 2 on a CPU with more than one core).
   ``--only-search`` runs this part alone::

       bash shared/peers/setup_peers.sh   # PY=... PEER_DIR=/tmp/peers (see its README)
       python bench/detnas.py --only-search --peer-dir /tmp/peers --train-iters 300 --candidates 5

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
import shutil
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


def whole_nhwc(cfg) -> bool:
    """Whether ``cfg`` lists ``ChannelsLastHook`` (the whole detector in NHWC)."""
    return any(h.get('type') == 'ChannelsLastHook' for h in cfg.get('custom_hooks', []))


def build(cfg, torch, genotype=None, channels_last=None, whole=None):
    """The detector of ``cfg`` (its backbone a subnet on ``genotype`` if given; its
    backbone's ``channels_last`` as the config sets it, or as given; the whole detector
    NHWC as ``ChannelsLastHook`` makes it when the config lists the hook, or as ``whole``
    says) and SGD."""
    import copy
    from mmengine.registry import MODELS
    from nas_det.engine.hooks import to_channels_last
    mcfg = copy.deepcopy(cfg.model)
    if genotype is not None:
        mcfg.backbone = dict(mcfg.backbone, type='ShuffleNetV2Subnet', genotype=genotype.to_dict())
    if channels_last is not None:
        mcfg.backbone = dict(mcfg.backbone, channels_last=bool(channels_last))
    model = MODELS.build(mcfg)
    model.init_weights()
    if whole_nhwc(cfg) if whole is None else whole:
        to_channels_last(model)
    model.train()
    return model, config_sgd(cfg, model, torch)


def config_sgd(cfg, model, torch):
    """SGD over ``model``'s parameters with the lr, momentum and weight decay of ``cfg``'s
    optimizer."""
    o = cfg.optim_wrapper.optimizer
    return torch.optim.SGD(model.parameters(), lr=o['lr'], momentum=o.get('momentum', 0),
                           weight_decay=o.get('weight_decay', 0))


def build_peer(cfg, peer_dir, seed, torch):
    """mmrazor's DetNAS supernet under ``cfg``'s detector (:func:`peer_model_config`),
    initialised under ``seed``, and a function that sets one of our paths on it (the
    same ops, block by block)."""
    from mmengine.registry import MODELS
    import_peer(peer_dir)
    torch.manual_seed(seed)
    peer = MODELS.build(peer_model_config(cfg.model))
    peer.init_weights()
    return peer, peer_chooser(peer)


def peer_chooser(peer):
    """A function setting one of our paths (its op names) on mmrazor's supernet ``peer``."""
    groups = list(peer.mutator.search_groups)
    if len(groups) != 20:
        raise RuntimeError(f'mmrazor supernet: {len(groups)} search groups, 20 expected')

    def choose(path):
        peer.mutator.set_choices({g: PEER_OPS[op] for g, op in zip(groups, path.ops)})
    return choose


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


def timed_pair(r: int, *fns) -> tuple:
    """Seconds of each of ``fns``, run in an order rotated by round ``r`` (two: ``a``
    first in even rounds, ``b`` in odd ones), returned in the order given."""
    k = r % len(fns)
    order = list(range(len(fns)))[k:] + list(range(len(fns)))[:k]
    out = [0.0] * len(fns)
    for i in order:
        out[i] = timed(fns[i])
    return tuple(out)


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
        ts, tb = timed_pair(r, lambda: sup(paths[i]), lambda: sub(i))
        t_sup.append(ts), t_sub.append(tb)
        print(f'[steps] pair {r + 1}/{args.repeats} path {i}: supernet {ts:.3f} s, subnet '
              f'{tb:.3f} s, ratio {ts / tb:.3f}', flush=True)
    # 3. the backbone's channels_last option: the same supernet weights in NHWC layout
    t_nchw, t_nhwc = [], []
    if args.layout_pairs:  # the same weights in both layouts, whatever the config sets
        layouts = {}
        for cl in (False, True):
            model, opt = build(cfg, torch, channels_last=cl, whole=False)
            model.load_state_dict(supernet.state_dict())
            layouts[cl] = (model, opt)

        def layout_step(cl, path):
            model, opt = layouts[cl]
            model.backbone.set_choices(path)
            losses.append(train_step(model, opt, data))

        layout_step(False, paths[0]), layout_step(True, paths[0])  # warm-up
        for r in range(args.layout_pairs):
            i = r % len(paths)
            ta, tb = timed_pair(r, lambda: layout_step(False, paths[i]),
                                lambda: layout_step(True, paths[i]))
            t_nchw.append(ta), t_nhwc.append(tb)
            print(f'[steps] layout pair {r + 1}/{args.layout_pairs} path {i}: NCHW {ta:.3f} s, '
                  f'channels_last {tb:.3f} s', flush=True)
    # 4. mmrazor 1.0.0's DetNAS supernet under the same neck and head, same batch and SGD
    t_ours, t_peer, t_other = [], [], []
    if args.peer_dir and args.peer_pairs:
        # the other layout of the neck and head than the config's (ChannelsLastHook or not)
        other, oopt = build(cfg, torch, whole=not whole_nhwc(cfg))
        other.load_state_dict(supernet.state_dict())

        def other_step(path):
            other.backbone.set_choices(path)
            losses.append(train_step(other, oopt, data))

        peer, choose = build_peer(cfg, args.peer_dir, args.seed, torch)
        peer.train()
        popt = config_sgd(cfg, peer, torch)

        def peer_step(path):  # SPOS.loss without its own sampling: the same path as ours
            choose(path)
            popt.zero_grad(set_to_none=True)
            loss, _ = peer.parse_losses(peer.architecture(**data, mode='loss'))
            loss.backward()
            popt.step()
            losses.append(loss.item())

        peer_step(paths[0]), other_step(paths[0])  # warm-up
        for r in range(args.peer_pairs):
            path = space.sample(rng)  # fresh random paths, as in supernet training
            ta, tb, tw = timed_pair(r, lambda: sup(path), lambda: peer_step(path),
                                    lambda: other_step(path))
            t_ours.append(ta), t_peer.append(tb), t_other.append(tw)
            print(f'[steps] mmrazor round {r + 1}/{args.peer_pairs}: ours {ta:.3f} s, ours '
                  f'other layout {tw:.3f} s, mmrazor {tb:.3f} s, ratios {ta / tb:.3f} / '
                  f'{tw / tb:.3f}', flush=True)
    return {'input_shape': shape, 'params_supernet': n_super, 'params_subnet': n_sub,
            'fresh': fresh, 'sup': t_sup, 'sub': t_sub, 'num_paths': len(paths),
            'nchw': t_nchw, 'nhwc': t_nhwc, 'ours': t_ours, 'peer': t_peer, 'other': t_other,
            'finite_losses': all(map(lambda v: v == v and abs(v) != float('inf'), losses))}


SPEEDUPS_OFF = dict(cache_batches=False, stop_bn_forward=False, split_nms=False, topk_select=False,
                    overlap_postprocess=False, parallel_batches=1, coco_backend='pycocotools')
"""``SupernetEvaluator`` settings with every speed-up of issue 22 switched off."""

PEER_OPS = {'shuffle3x3': 'shuffle_3x3', 'shuffle5x5': 'shuffle_5x5',
            'shuffle7x7': 'shuffle_7x7', 'xception3x3': 'shuffle_xception'}
"""Our DetNAS op names -> mmrazor's ``OneShotMutableOP`` candidate names."""


def search_config(args):
    """The search phase's config of ``SEARCH_CONFIG`` on ``args.data_root`` (the held-out
    split written first), with checkpointing and the sampling hook dropped, and the
    evaluator's settings (``--tiny``: 1 BN batch, 2 val images, val batches of 2;
    ``--val-images``)."""
    from mmengine.config import Config
    from nas_det.engine.launch.phases import PHASES, PhaseContext, normalize_phases, phase_config
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _jobs import scoring_config
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
    wd = tempfile.mkdtemp(prefix='detnas_bench_')
    for name, o in phases:  # data preparation before the search (held-out split files)
        if name == 'split':
            PHASES[name](phase_config(cfg, o, os.path.join(wd, name)), PhaseContext(wd))
    pcfg, ev_cfg = scoring_config(cfg, over[0], wd)
    if args.tiny:
        ev_cfg.update(bn_batches=1, num_val_images=2)
        # val batches of 2 (so --val-images 4 makes two); the recalibration batch stays
        # the config's: mmrazor 1.0.0's calibration cannot take a batch of 2 or fewer
        # images (it slices the batch dict once the images left are no more than its keys)
        pcfg.val_dataloader['batch_size'] = 2
    if args.val_images:
        ev_cfg['num_val_images'] = args.val_images
    return pcfg, ev_cfg, wd


def import_peer(peer_dir) -> None:
    """Make mmrazor 1.0.0 in ``peer_dir`` importable and register its modules."""
    sys.path.insert(0, os.path.abspath(peer_dir))
    import mmrazor.engine  # noqa: F401  (registers EvolutionSearchLoop)
    import mmrazor.models  # noqa: F401
    from mmrazor.utils import register_all_modules
    register_all_modules(False)


def peer_model_config(model_cfg, norm_training: bool = False) -> dict:
    """mmrazor's DetNAS supernet (``SPOS`` over ``SearchableShuffleNetV2``, the 300M
    space, its four candidate ops per block) as the backbone of ``model_cfg``'s detector:
    the same neck, head, norm layers and output stages as ours."""
    import copy
    arch = copy.deepcopy(model_cfg)
    ours = arch['backbone']
    mutable = dict(_scope_='mmrazor', type='OneShotMutableOP', candidates=dict(
        shuffle_3x3=dict(type='ShuffleBlock', kernel_size=3),
        shuffle_5x5=dict(type='ShuffleBlock', kernel_size=5),
        shuffle_7x7=dict(type='ShuffleBlock', kernel_size=7),
        shuffle_xception=dict(type='ShuffleXception')))
    arch['backbone'] = dict(
        _scope_='mmrazor', type='SearchableShuffleNetV2', widen_factor=1.0,
        out_indices=tuple(ours.get('out_indices', (0, 1, 2, 3))), with_last_layer=False,
        norm_cfg=dict(ours.get('norm_cfg', dict(type='BN', requires_grad=True))),
        arch_setting=[[c, n, mutable] for c, n in ((64, 4), (160, 4), (320, 8), (640, 4))])
    return dict(type='mmrazor.SPOS', architecture=arch, mutator=dict(type='mmrazor.NasMutator'),
                norm_training=norm_training)


class PeerScorer:
    """mmrazor 1.0.0's scoring of one candidate, ``EvolutionSearchLoop._val_candidate``
    (BN calibration when asked, validation, ``Evaluator.evaluate``), on mmrazor's DetNAS
    supernet (``SPOS`` over ``SearchableShuffleNetV2``, the 300M space) under the same
    detector neck and head, data, batch sizes, test settings and metric as ours.

    ``bn_mode='train'`` is mmrazor's ``norm_training=True`` (what its DetNAS search config
    sets); ``'recalibrate'`` its ``calibrate_sample_num`` = our BN batches x batch size. Its
    loaders read in this process (``num_workers=0``, as ours) unless ``workers`` (then
    with that many persistent worker processes, as ours with ``--workers``). Where the time goes is
    recorded in ``profile`` as for ours (``bn``: the whole calibration).
    """

    def __init__(self, peer_dir, pcfg, ev_cfg, bn_mode, work_dir, workers=None):
        import copy
        from mmengine.runner import Runner

        from nas_det.engine.evaluators.scoring import Profile
        import_peer(peer_dir)
        pc = copy.deepcopy(pcfg)
        pc.model = peer_model_config(pc.model, norm_training=bn_mode == 'train')
        val = copy.deepcopy(pc.val_dataloader)
        if ev_cfg.get('num_val_images'):
            val['dataset']['indices'] = ev_cfg['num_val_images']
        for dl in (val, pc.train_dataloader):
            dl.update(num_workers=workers or 0, persistent_workers=bool(workers))
        if ev_cfg.get('batch_size'):
            val['batch_size'] = pc.train_dataloader['batch_size'] = ev_cfg['batch_size']
        calib = -1
        if bn_mode == 'recalibrate':
            calib = ev_cfg.get('bn_batches', 20) * pc.train_dataloader['batch_size']
        pc.train_cfg = dict(
            type='mmrazor.EvolutionSearchLoop', dataloader=val, evaluator=pc.val_evaluator,
            max_epochs=1, num_candidates=10, top_k=4, num_mutation=4, num_crossover=4,
            calibrate_sample_num=calib, constraints_range=dict(flops=(0, 1e12)),
            score_key=ev_cfg.get('metric', 'coco/bbox_mAP'))
        pc.work_dir = work_dir
        pc.pop('phases', None)
        self.runner = Runner.from_cfg(pc)
        self.loop = self.runner.train_loop
        self.model = self.runner.model
        self.choose = peer_chooser(self.model)
        self.profile = Profile()
        self._instrument()

    def _instrument(self):
        loop, prof = self.loop, self.profile
        evaluator = loop.evaluator
        process, evaluate = evaluator.process, evaluator.evaluate
        calibrate = loop.calibrate_bn_statistics

        def timed(part, fn):
            def run(*a, **k):
                with prof.part(part):
                    return fn(*a, **k)
            return run

        def timed_calibration(*a, **k):  # its post-processing counts as calibration
            w, c = prof.wall['postprocess'], prof.cpu['postprocess']
            with prof.part('bn'):
                out = calibrate(*a, **k)
            prof.wall['postprocess'], prof.cpu['postprocess'] = w, c
            return out

        evaluator.process = timed('metric', process)
        evaluator.evaluate = timed('metric', evaluate)
        loop.calibrate_bn_statistics = timed_calibration

        class TimedLoader:  # reading + decoding + collating the val batches
            def __init__(self, loader):
                self.loader, self.dataset = loader, loader.dataset

            def __len__(self):
                return len(self.loader)

            def __iter__(self):
                it = iter(self.loader)
                while True:
                    with prof.part('data'):
                        batch = next(it, None)
                    if batch is None:
                        return
                    yield batch

        loop.dataloader = TimedLoader(loop.dataloader)

    def __call__(self, genotype):
        """Score ``genotype`` (our path, mapped op by op); returns the reward."""
        from nas_det.engine.evaluators.scoring import timed_postprocess
        self.choose(genotype)
        prof = self.profile
        before = sum(prof.wall.values()), sum(prof.cpu.values())
        w, c = time.perf_counter(), time.process_time()
        with timed_postprocess(self.model, prof), contextlib.redirect_stdout(io.StringIO()):
            metrics = self.loop._val_candidate()
        # what no part took: the forward passes (and mmrazor's own bookkeeping)
        prof.add('forward', time.perf_counter() - w - (sum(prof.wall.values()) - before[0]),
                 time.process_time() - c - (sum(prof.cpu.values()) - before[1]))
        prof.n += 1
        return float(metrics.get('coco/bbox_mAP', float('nan')))


def train_supernets(args, runner, modules, peer_dir, torch):
    """``--train-iters`` SGD steps of our supernet (``runner.model``, in place) and, with
    ``peer_dir``, of mmrazor's, from their initialisation, on the same batches of the
    search phase's training set and the same uniformly sampled paths (as single-path
    supernet training), the config's SGD with a linear warm-up over the first sixth and
    a cosine decay. Returns mmrazor's trained state dict (or None)."""
    import math

    from mmengine.dataset import pseudo_collate
    from torch.utils.data import DataLoader

    from nas_det.engine.evaluators import build_dataset
    cfg = runner.cfg
    n = args.train_iters
    loader = DataLoader(build_dataset(cfg.train_dataloader.dataset),
                        batch_size=cfg.train_dataloader.batch_size, shuffle=True,
                        drop_last=True, collate_fn=pseudo_collate,
                        generator=torch.Generator().manual_seed(args.seed))
    clip = (cfg.optim_wrapper.get('clip_grad') or {}).get('max_norm')
    warm = max(1, n // 6)

    def factor(i):
        if i < warm:
            return 0.1 + 0.9 * i / warm
        return 0.5 * (1 + math.cos(math.pi * (i - warm) / max(1, n - warm)))

    ours = runner.model
    ours.init_weights()
    nets = [('ours', ours, lambda path: modules[0][1].set_choices(path), ours)]
    peer = None
    if peer_dir:
        peer, choose = build_peer(cfg, peer_dir, args.seed, torch)
        nets.append(('mmrazor', peer, choose, peer.architecture))
    opts = []
    for _, net, _, _ in nets:
        net.train()
        opt = config_sgd(cfg, net, torch)
        opts.append((opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)))
    space = modules[0][1].search_space
    rng = random.Random(args.seed + 7)
    it, t0, losses = iter(loader), time.perf_counter(), {}
    for i in range(n):
        batch = next(it, None)
        if batch is None:
            it = iter(loader)
            batch = next(it)
        data = ours.data_preprocessor(batch, True)
        path = space.sample(rng)
        for (name, net, choose, forward), (opt, sched) in zip(nets, opts):
            choose(path)
            opt.zero_grad(set_to_none=True)
            loss, _ = net.parse_losses(forward(**data, mode='loss'))
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
            opt.step()
            sched.step()
            losses.setdefault(name, []).append(loss.item())
        if (i + 1) % max(1, n // 10) == 0 or i + 1 == n:
            print(f'[search] training {i + 1}/{n} ({time.perf_counter() - t0:.0f} s): loss ' +
                  ', '.join(f'{k} {statistics.mean(v[-20:]):.3f}' for k, v in losses.items()),
                  flush=True)
    for _, net, _, _ in nets:
        net.eval()
    return peer.state_dict() if peer is not None else None


def measure_search(args, torch) -> dict:
    """Per candidate: our evaluator with every speed-up off, with the defaults (all on),
    and mmrazor's scoring where ``--peer-dir`` holds it, on the same paths, in rotating
    order (a round scores one path with each; the first round, cold, is left out)."""

    pcfg, ev_cfg, wd = search_config(args)
    try:
        return _measure_search(args, pcfg, ev_cfg, wd, torch)
    finally:
        shutil.rmtree(wd, ignore_errors=True)


def _measure_search(args, pcfg, ev_cfg, wd, torch) -> dict:
    from mmengine.runner import Runner
    from nas_det.engine.evaluators import SupernetEvaluator
    from nas_det.engine.hooks import searchable_modules

    from nas_det.engine.evaluators import scoring

    runner = Runner.from_cfg(pcfg)
    if args.checkpoint:
        runner.load_checkpoint(args.checkpoint, map_location='cpu')
    modules = searchable_modules(runner.model)
    space = modules[0][1].search_space
    peer_dir = args.peer_dir
    if peer_dir and args.checkpoint:
        print('[search] --checkpoint: the peer has no trained weights; it is left out',
              flush=True)
        peer_dir = None
    peer_state = None
    if args.train_iters:
        peer_state = train_supernets(args, runner, modules, peer_dir, torch)
    weights = (args.checkpoint or (f'trained {args.train_iters} iterations here (both)'
                                   if args.train_iters else 'untrained'))
    ours_cfg = {}
    if args.workers is not None:
        ours_cfg['num_workers'] = args.workers
    if args.stream:
        ours_cfg['cache_batches'] = False
    if args.parallel_batches is not None:
        ours_cfg['parallel_batches'] = args.parallel_batches
    out = {'evaluator': ev_cfg, 'checkpoint': args.checkpoint, 'modes': {}, 'weights': weights,
           'workers': args.workers, 'stream': args.stream,
           'max_per_img': (pcfg.model.get('test_cfg') or {}).get('max_per_img'),
           'load_start': os.getloadavg()}
    for mode in args.search_bn_modes:
        cfg = dict(ev_cfg, bn_mode=mode)
        topk0 = dict(scoring._TOPK_STATE)  # (the 'off' scorer makes no topk selection)
        scorers = {'off': SupernetEvaluator(runner, modules=modules, **cfg, **SPEEDUPS_OFF),
                   'on': SupernetEvaluator(runner, modules=modules, **cfg, **ours_cfg)}
        if peer_dir:
            scorers['mmrazor'] = PeerScorer(peer_dir, pcfg, cfg, mode,
                                            os.path.join(wd, f'peer_{mode}'), args.workers)
            if peer_state is not None:
                scorers['mmrazor'].model.load_state_dict(peer_state)
        rng = random.Random(args.seed + 1)
        paths = [space.sample(rng) for _ in range(args.candidates + 1)]
        names = list(scorers)
        rows = []
        for r, path in enumerate(paths):
            row = {}
            for name in names[r % len(names):] + names[:r % len(names)]:
                sc = scorers[name]
                w, c = time.perf_counter(), time.process_time()
                with contextlib.redirect_stdout(io.StringIO()):  # pycocotools' tables
                    res = sc(path)
                reward = res if isinstance(res, float) else res.reward
                row[name] = {'wall': time.perf_counter() - w, 'cpu': time.process_time() - c,
                             'reward': reward,
                             'detections': getattr(sc, 'last_detections', None)}
            rows.append(row)
            if r == 0:  # the cold round: caches filled, first touch; left out
                for sc in scorers.values():
                    sc.profile.reset()
            print(f'[search] {mode} {"cold " if r == 0 else ""}round {r}: ' + ', '.join(
                f'{k} {v["wall"]:.2f} s (cpu {v["cpu"]:.2f}) reward {v["reward"]:.6g}'
                for k, v in row.items()), flush=True)
        out['modes'][mode] = {
            'rows': rows, 'val_images': len(scorers['on'].val_set),
            'bn_batch_size': scorers['on'].train_bs,
            'coco_backend': scorers['on'].coco_backend,
            'lanes': scorers['on'].lanes_for(runner.model),
            'profiles': {k: sc.profile.per_candidate() for k, sc in scorers.items()},
            'topk': {k: scoring._TOPK_STATE[k] - topk0[k] for k in ('calls', 'hits')}}
    out['load_end'] = os.getloadavg()
    return out


def search_summary(args, search) -> None:
    med = statistics.median
    e = search['evaluator']
    load = ' / '.join(f'{a:.1f}' for a in search['load_start'][:1] + search['load_end'][:1])
    first = next(iter(search['modes'].values()))
    print(f'5. search, per candidate: {med(r["on"]["wall"] for r in first["rows"][1:]):.2f} s '
          f'(ours with the speed-ups, bn_mode={next(iter(search["modes"]))!r}, median); '
          f'{args.candidates} paths per mode after a cold one, rotating order; 1-min load '
          f'average {load} at start / end of this part')
    for mode, m in search['modes'].items():
        rows = m['rows'][1:]
        names = list(m['rows'][0])
        print(f'   bn_mode={mode!r}: {e.get("bn_batches")} BN batches of {m["bn_batch_size"]}, '
              f'{m["val_images"]} val images; weights: {search["weights"]}; '
              f'COCO evaluation with speed-ups: {m["coco_backend"]}; reading: '
              f'{search["workers"] or 0} worker(s) for ours with the speed-ups (and mmrazor)'
              f'{", streamed (no cache)" if search["stream"] else ""}; val batches predicted '
              f'at once by ours with the speed-ups: {m["lanes"]}')
        for name in names:
            wall = [r[name]['wall'] for r in rows]
            cpu = [r[name]['cpu'] for r in rows]
            p = m['profiles'][name]
            parts = ', '.join(f'{k} {p["wall"][k]:.2f}/{p["cpu"][k]:.2f}' for k in p['wall'])
            label = {'off': 'ours, speed-ups off', 'on': 'ours, speed-ups on ',
                     'mmrazor': 'mmrazor 1.0.0      '}[name]
            print(f'   {label}: {med(wall):.2f} s per candidate (median; cpu {med(cpu):.2f} s); '
                  f'cold {m["rows"][0][name]["wall"]:.2f} s')
            print(f'      profile, s per candidate (wall/cpu): {parts}')
        def ratio(a, b):
            return (med(r[a]['wall'] / r[b]['wall'] for r in rows),
                    sum(r[a]['cpu'] for r in rows) / sum(r[b]['cpu'] for r in rows))
        pairs = [('on', 'off')] + [(x, 'mmrazor') for x in ('on', 'off') if 'mmrazor' in names]
        for a, b in pairs:
            w, c = ratio(a, b)
            goal = ' (goal <= 0.5)' if (a, b) == ('on', 'mmrazor') else ''
            print(f'   ratio {a}/{b}: {w:.3f} (median of per-round wall ratios), {c:.3f} '
                  f'(cpu totals){goal}')
        diff = max(abs(r['on']['reward'] - r['off']['reward']) for r in m['rows'])
        print(f'   rewards on vs off: largest difference {diff:.3g} over {len(m["rows"])} paths')
        t = m['topk']
        print(f'   top-k selections by torch.topk (exact, no tie at the top): {t["hits"]} of '
              f'{t["calls"]} levels that needed a selection (the rest sorted)')
        det = [r['on']['detections'] / m['val_images'] for r in m['rows']]
        print(f'   detections per val image: {[round(d, 1) for d in det]}')
        cap = search['max_per_img']
        if cap and all(d >= cap for d in det):
            why = 'scores above the threshold' + (', untrained' if search['weights'] ==
                                                  'untrained' else '')
            print(f'   NOTE: every val image got max_per_img={cap} detections ({why}): NMS and '
                  'COCO eval run at their most costly.')
        if not all(det):
            print('   NOTE: some candidates made no detection (untrained weights score below '
                  'the threshold), so their COCO eval was nearly free.')


def layouts_described() -> tuple:
    """The config's layouts in words, and those of the other model of the mmrazor rounds."""
    from mmengine.config import Config
    cfg = Config.fromfile(SUPERNET_CONFIG)
    bb = 'NHWC' if cfg.model.backbone.get('channels_last', False) else 'NCHW'
    if whole_nhwc(cfg):
        return (f'backbone {bb}, neck and head NHWC: ChannelsLastHook',
                'the neck and head NCHW (no ChannelsLastHook)')
    return f'backbone {bb}, neck and head NCHW', 'the neck and head NHWC too (ChannelsLastHook)'


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
    if steps and steps['peer']:
        a, c, w = steps['ours'], steps['peer'], steps['other']
        mine, theirs = layouts_described()
        print(f'4. supernet training vs mmrazor 1.0.0 (goal <= 0.8): ours as the config '
              f'({mine}) median {med(a):.3f} s, mmrazor {med(c):.3f} s per step; median of '
              f'per-round ratios {med(x / y for x, y in zip(a, c)):.3f}, ratio of medians '
              f'{med(a) / med(c):.3f}; {len(a)} rounds on fresh random paths (the same path '
              'for all)')
        print(f'   ours with {theirs}: median {med(w):.3f} s; median of per-round ratios '
              f'{med(x / y for x, y in zip(w, c)):.3f}, ratio of medians {med(w) / med(c):.3f}')
    if search:
        search_summary(args, search)
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
    p.add_argument('--peer-pairs', type=int, default=8,
                   help='with --peer-dir: interleaved supernet training steps, ours vs '
                   "mmrazor's, on the same fresh random paths (0: skip)")
    p.add_argument('--candidates', type=int, default=3, help='timed search candidates')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--skip-memory', action='store_true')
    p.add_argument('--skip-search', action='store_true')
    p.add_argument('--checkpoint', help='supernet checkpoint for the search timing')
    p.add_argument('--train-iters', type=int, default=0,
                   help='search part: first train our supernet and (with --peer-dir) '
                   "mmrazor's this many iterations on the same batches and paths, so both "
                   'score candidates with trained weights')
    p.add_argument('--workers', type=int, default=None,
                   help="search part: num_workers of our evaluator's loaders (with the "
                   "speed-ups) and of mmrazor's (default: ours the config's, mmrazor 0)")
    p.add_argument('--parallel-batches', type=int, default=None,
                   help="search part: parallel_batches of our evaluator with the speed-ups "
                   '(default: its own, 2 on a CPU with more than one core)')
    p.add_argument('--stream', action='store_true',
                   help='search part: ours with the speed-ups reads every batch for every '
                   'candidate (cache_batches=False), as the COCO configs')
    p.add_argument('--search-bn-modes', nargs='+', default=['recalibrate', 'train'],
                   choices=('recalibrate', 'train'), help="the evaluator's bn_mode(s) timed")
    p.add_argument('--val-images', type=int, default=None,
                   help="val images per candidate (default: the search config's 48)")
    p.add_argument('--peer-dir', default=None,
                   help='a folder holding mmrazor 1.0.0 (shared/peers/setup_peers.sh): its '
                   'DetNAS supernet trains beside ours in the step part (--peer-pairs) and '
                   'its EvolutionSearchLoop scores the same paths in the search part')
    p.add_argument('--only-search', action='store_true',
                   help='the search part alone (no memory, no training steps)')
    p.add_argument('--mode', choices=('bench', 'supernet', 'subnet'), default='bench',
                   help='internal: supernet/subnet run the memory child process')
    p.add_argument('--data-root', default=os.path.join(ROOT, 'data/digits_det'),
                   help='the digit detection set (built there when missing); default '
                   'data/digits_det')
    p.add_argument('--tiny', action='store_true',
                   help='CI size: 1 thread, batch 2 at 128 px, 1 pair, path, fresh step, '
                   'memory step and candidate (1 BN batch, 2 val images, val batches of 2), no '
                   'layout pairs')
    args = p.parse_args(argv)
    args.data_root = os.path.abspath(args.data_root)
    if args.tiny:
        for k, v in dict(repeats=1, threads=1, paths=1, fresh=1, batch=2, size=128,
                         memory_steps=1, layout_pairs=0, candidates=1,
                         peer_pairs=1 if args.peer_dir else 0).items():
            setattr(args, k, v)
    for k in ('repeats', 'threads', 'paths', 'fresh', 'batch', 'size', 'memory_steps',
              'candidates'):
        if getattr(args, k) < 1:
            raise ValueError(f'--{k.replace("_", "-")}: a positive integer is expected, got '
                             f'{getattr(args, k)}')
    for k in ('layout_pairs', 'peer_pairs'):
        if getattr(args, k) < 0:
            raise ValueError(f'--{k.replace("_", "-")}: a non-negative integer is expected, '
                             f'got {getattr(args, k)}')
    if args.parallel_batches is not None and args.parallel_batches < 1:
        raise ValueError('--parallel-batches: a positive integer is expected, got '
                         f'{args.parallel_batches}')
    if args.train_iters < 0 or (args.workers is not None and args.workers < 0):
        raise ValueError('--train-iters and --workers: non-negative integers are expected')
    if args.train_iters and args.checkpoint:
        raise ValueError('--train-iters and --checkpoint exclude each other')
    if args.checkpoint and not os.path.isfile(args.checkpoint):
        raise ValueError(f'--checkpoint: no file at {args.checkpoint!r}')
    if args.checkpoint:
        args.checkpoint = os.path.abspath(args.checkpoint)
    if args.val_images is not None and args.val_images < 1:
        raise ValueError(f'--val-images: a positive integer is expected, got {args.val_images}')
    if args.peer_dir and not os.path.isdir(os.path.join(args.peer_dir, 'mmrazor')):
        raise ValueError(f'--peer-dir: no mmrazor package in {args.peer_dir!r} (install it '
                         'there with shared/peers/setup_peers.sh)')
    if args.only_search and args.skip_search:
        raise ValueError('--only-search and --skip-search exclude each other')
    if args.mode != 'bench':
        return memory_mode(args)
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    mem = None if args.skip_memory or args.only_search else measure_memory(args)  # first: small
    torch = setup(args.threads, args.data_root)
    steps = None if args.only_search else measure_steps(args, torch)
    search = None if args.skip_search else measure_search(args, torch)
    summary(args, torch, load0, mem, steps, search)
    print(f'total {time.perf_counter() - t0:.0f} s')


if __name__ == '__main__':
    main()
