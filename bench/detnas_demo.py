#!/usr/bin/env python
"""The DetNAS demo: search, then retrain the best path against random paths from scratch.

The default config runs the paper's pipeline at CPU scale
(configs/detnas/retinanet_detnas-shufflenet-300M-half_search_digits-easy.py):

0. Pre-trains the supernet backbone on classification (the plain digits, the warm-start
   recipe of bench/detnas_ranking.py, ``--pretrain-iters``), as the paper pre-trains on
   ImageNet; writes ``<work dir>/pretrain/supernet.pth``, which the config loads. Configs
   without a ``supernet_pretrain`` key (the from-scratch ones) skip this step.
1. Runs the search config with ``tools/search.py --resume``: held-out split of the
   training images, supernet detection training on the rest, evolutionary search under
   the FLOPs limit scored on the held-out images, export of the best path.
2. Draws ``--random-paths`` random paths under the same FLOPs limit, within
   ``--flops-tolerance`` of the best path's FLOPs (the same draw for the same seed).
3. Retrains the best path and each random path from scratch (no supernet weights), with
   one schedule, for every seed of ``--seeds``: with pre-training, the path's own
   backbone is first pre-trained on the digits from random init (``--retrain-pretrain-iters``,
   that seed), then the exported config with only the genotype, the seed and that
   checkpoint changed trains ``--retrain-iters`` iterations on the whole training set.
   Each run is scored once, at its end, with COCO bbox mAP on val (unrounded).
4. Prints every run, the best path and the random paths as mean +- std, and one line
   saying whether the best path is separated from the random ones beyond the noise (the
   difference of the means larger than twice its standard error).
5. With ``--rank-paths N``: N paths spread over the FLOPs range (bench/detnas_ranking.py's
   paths, all-shuffle3x3 to all-xception3x3) are scored by the trained supernet as the
   search scores candidates, and retrained like the paths above; prints Kendall's tau of
   the supernet's held-out mAP against the retrained val mAP (bootstrap interval), top-3
   overlap, and the ceiling (tau between two retrain seeds).

    python bench/detnas_demo.py                     # what `bash tools/demo.sh` runs
    python bench/detnas_demo.py --tiny              # a few iterations of everything (CI)
    python bench/detnas_demo.py --full              # longer supernet, search and retrains
    python bench/detnas_demo.py --only-pretrain     # step 0 only
    python bench/detnas_demo.py --rank-paths 8      # then the supernet's detection ranking

Resumable: the pre-trained supernet and every retrain write their result in the work dir
(``pretrain/``, ``retrain/<path>_seed<s>/result.json``); a rerun reuses finished parts,
resumes the search, and restarts an unfinished retrain. ``--resume`` is accepted (the
demo always resumes).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import os.path as osp
import random
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _jobs import run_jobs, scoring_config  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'configs/detnas/retinanet_detnas-shufflenet-300M-half_search_digits-easy.py'

# settings of the modes; --cfg-options given on the command line come after (and win)
TINY_SEARCH = ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
               'default_hooks.checkpoint.interval=2', 'train_dataloader.batch_size=2',
               'val_dataloader.batch_size=2', 'heldout_split.num_images=4',
               'search_cfg.strategy.population=4', 'search_cfg.strategy.top_k=2',
               'search_cfg.strategy.num_mutation=1', 'search_cfg.strategy.num_crossover=1',
               'search_cfg.strategy.generations=1', 'search_cfg.evaluator.bn_batches=1',
               'search_cfg.evaluator.num_val_images=4', 'search_cfg.compare_random=0',
               'search_cfg.plot=False']
FULL_SEARCH = ['train_cfg.max_iters=1200', 'train_cfg.val_interval=1200',
               'default_hooks.checkpoint.interval=400',
               'param_scheduler.1.end=1200', 'param_scheduler.1.T_max=1160',
               'search_cfg.strategy.population=20', 'search_cfg.strategy.generations=8',
               'search_cfg.evaluator.num_val_images=100', 'search_cfg.evaluator.bn_batches=8']
MODES = {
    # default: 8 retrains (150 classification + 600 detection iterations each), 2 at a
    # time, after a 600-iteration pre-training and the config's search: sized for the
    # demo's 20 minutes on 2 cores
    'default': dict(retrain_iters=600, pretrain_iters=600, retrain_pretrain_iters=150,
                    seeds=[0, 1], random_paths=3, search=[]),
    'tiny': dict(retrain_iters=2, pretrain_iters=4, retrain_pretrain_iters=2, seeds=[0, 1],
                 random_paths=1, search=TINY_SEARCH),
    'full': dict(retrain_iters=1500, pretrain_iters=1200, retrain_pretrain_iters=300,
                 seeds=[0, 1, 2], random_paths=5, search=FULL_SEARCH),
}
PRETRAIN = dict(data='mnist', train_size=0, val_size=0, lr=0.1, batch_size=128)
"""Classification pre-training on the plain digits: bench/detnas_ranking.py's settings
(SGD Nesterov, batch 128, peak lr 0.1, warm-up then cosine; its inputs are normalised with
mean 25.5 and std 76.5 on 0-255, which the demo config's data_preprocessor repeats)."""


def pretrain(genotype, width: float, seed: int, iters: int, out: str) -> dict:
    """Pre-train a backbone of the 300M space at ``width`` on the plain digits from random
    init: the supernet with the warm-start recipe when ``genotype`` is None, else that
    path. Writes ``out`` (``backbone.*`` keys, loadable by ``init_cfg=dict(type=
    'Pretrained', prefix='backbone.')``) and ``out``.json; reuses a finished one."""
    info = osp.splitext(out)[0] + '.json'
    want = dict(genotype=None if genotype is None else str(genotype), width=width, seed=seed,
                iters=iters)
    if osp.isfile(out) and osp.isfile(info):
        with open(info) as f:
            done = json.load(f)
        if all(done.get(k) == v for k, v in want.items()):
            return done
        log(f'{out}: made with other settings ({ {k: done.get(k) for k in want} }); '
            'pre-training again')
    import torch
    import detnas_ranking as R
    ns = argparse.Namespace(**PRETRAIN)
    t0 = time.time()
    data = R.load_data(ns)
    bb, fc = R.build(None if genotype is None else list(genotype.ops), width, seed)
    recipe = R.RECIPES['new'] if genotype is None else None
    loss = R.train(bb, fc, data[0], iters, ns, seed, recipe)
    res = dict(want, train_loss=loss, seconds=round(time.time() - t0, 1))
    if genotype is not None:
        res['val_top1'] = R.accuracy(bb, fc, data[1])
    os.makedirs(osp.dirname(out), exist_ok=True)
    state = {'backbone.' + k: v for k, v in bb.state_dict().items()}
    torch.save({'state_dict': state, 'meta': dict(pretrain=res)}, out + '.tmp')
    os.replace(out + '.tmp', out)
    with open(info, 'w') as f:
        json.dump(res, f, indent=1)
    return res


def log(msg: str) -> None:
    print(f'[demo] {msg}', flush=True)


def run_search(args) -> dict:
    """Run the search config (resumably); return the export and search phase outputs."""
    cmd = [sys.executable, 'tools/search.py', args.config, '--work-dir', args.work_dir,
           '--resume']
    opts = args.search_options + args.cfg_options
    if opts:
        cmd += ['--cfg-options', *opts]
    env = {**os.environ, 'PYTHONPATH': ROOT, 'OMP_NUM_THREADS': os.environ.get(
        'OMP_NUM_THREADS', '1')}
    t0 = time.time()
    p = subprocess.run(cmd, cwd=ROOT, env=env)
    if p.returncode:
        raise SystemExit(f'[demo] the search ({" ".join(cmd[1:3])}) failed with status '
                         f'{p.returncode}')
    out = {}
    for phase in ('search', 'export'):
        marker = osp.join(args.work_dir, phase, 'phase_done.json')
        if not osp.isfile(marker):
            raise SystemExit(f'[demo] {args.config}: no {phase} phase finished in '
                             f'{args.work_dir} (a DetNAS search config with search and export '
                             'phases is expected)')
        with open(marker) as f:
            out[phase] = json.load(f)
    out['seconds'] = time.time() - t0
    return out


def draw_random_paths(best: dict, backbone: dict, max_flops: float | None,
                      cost_input_shape, n: int, tolerance: float, seed: int) -> list:
    """``n`` distinct random paths of the best path's space, other than it, with at most
    ``max_flops`` and within ``tolerance`` (relative) of its FLOPs."""
    from nas_det.models.shufflenet import backbone_cost
    from nas_det.space.detnas import DetNASPath, DetNASSpace
    g_best = DetNASPath.from_dict(best)
    space = DetNASSpace(g_best.stage_blocks)

    def flops(g):
        return backbone_cost(backbone.get('arch', '300M'), g, tuple(cost_input_shape),
                             backbone.get('widen_factor', 1.0),
                             backbone.get('with_last_conv', False))['flops']

    target = flops(g_best)
    rng = random.Random(seed)
    picks, seen = [], {str(g_best)}
    for _ in range(200000):
        if len(picks) == n:
            break
        g = space.sample(rng)
        f = flops(g)
        if str(g) in seen or (max_flops is not None and f > max_flops) \
                or abs(f - target) > tolerance * target:
            continue
        seen.add(str(g))
        picks.append((g, f))
    if len(picks) < n:
        raise SystemExit(f'[demo] --flops-tolerance {tolerance}: only {len(picks)} random paths '
                         f'within it of the best path ({target / 1e6:.1f}M FLOPs); widen it')
    return [(g_best, target)] + picks


def schedule(n: int) -> list:
    warm = min(40, n // 4)
    sched = [dict(type='CosineAnnealingLR', by_epoch=False, begin=warm, end=n,
                  T_max=max(1, n - warm))]
    if warm:
        sched.insert(0, dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
                             end=warm))
    return sched


def retrain_job(label: str, genotype, flops: float, seed: int, args) -> dict:
    """Train ``genotype`` from scratch with the exported config (seed ``seed``); score it
    on val. Reuses a finished run's ``result.json``."""
    wd = osp.join(args.work_dir, 'retrain', f'{label}_seed{seed}')
    res_file = osp.join(wd, 'result.json')
    if osp.isfile(res_file):
        with open(res_file) as f:
            return json.load(f)
    os.makedirs(wd, exist_ok=True)
    n = args.retrain_iters
    cfg_file = osp.join(args.work_dir, 'retrain', 'configs', f'{label}_seed{seed}.py')
    os.makedirs(osp.dirname(cfg_file), exist_ok=True)
    backbone = dict(genotype=genotype.to_dict())
    pre = None
    if args.pretrain:
        # the path's own classification pre-training (in the worker), from random init
        pre = dict(genotype=genotype.to_dict(), width=args.width, seed=seed,
                   iters=args.retrain_pretrain_iters, out=osp.join(wd, 'pretrain.pth'))
        init = dict(type='Pretrained', prefix='backbone.', checkpoint=pre['out'])
        if isinstance(args.exported_init, dict):
            init['_delete_'] = True
        backbone['init_cfg'] = init
    else:
        backbone['init_cfg'] = None
    with open(osp.join(wd, 'pretrain_job.json'), 'w') as f:
        json.dump(pre, f)
    with open(cfg_file, 'w') as f:
        f.write(f'''# written by bench/detnas_demo.py: {label}, from scratch, seed {seed}
_base_ = {args.exported!r}
load_from = None
# the search's score threshold (COCO practice; mmdet's 0.05 keeps no box of a weak model)
model = dict(backbone={backbone!r}, test_cfg=dict(score_thr=0.001))
randomness = dict(seed={seed})
# no validation while training: the run is scored once, at its end, unrounded
train_cfg = dict(max_iters={n}, val_interval={n}, val_begin={n + 1})
param_scheduler = {schedule(n)!r}
default_hooks = dict(checkpoint=dict(interval={n}, max_keep_ckpts=1),
                     logger=dict(interval={max(1, min(50, n))}))
''')
    log_file = osp.join(wd, 'train.log')
    env = {**os.environ, 'PYTHONPATH': ROOT, 'OMP_NUM_THREADS': '1'}
    t0 = time.time()
    with open(log_file, 'w') as f:
        p = subprocess.run([sys.executable, osp.abspath(__file__), '--worker', cfg_file, wd],
                           cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
    if p.returncode:
        with open(log_file) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f'retrain {label} seed {seed} failed; see {log_file}:\n{tail}')
    with open(osp.join(wd, 'metrics.json')) as f:
        metrics = json.load(f)
    res = dict(label=label, seed=seed, genotype=str(genotype), flops=flops,
               mAP=metrics['coco/bbox_mAP'], mAP50=metrics.get('coco/bbox_mAP_50'),
               seconds=round(time.time() - t0, 1), iters=n)
    if pre is not None:
        with open(osp.join(wd, 'pretrain.json')) as f:
            res['pretrain'] = json.load(f)
    with open(res_file, 'w') as f:
        json.dump(res, f, indent=1)
    return res


def worker(cfg_file: str, wd: str) -> None:
    """Train a retrain config (resuming its checkpoint when there is one), then score the
    model on val with the config's metric, unrounded; writes ``<wd>/metrics.json``."""
    sys.path.insert(0, ROOT)
    import torch
    from mmengine.config import Config
    from mmengine.runner import Runner

    import nas_det  # noqa: F401
    from nas_det.engine.evaluators import local_metrics, reward_from_metrics, unwrap
    from nas_det.space.detnas import DetNASPath
    job = osp.join(wd, 'pretrain_job.json')
    if osp.isfile(job):
        with open(job) as f:
            pre = json.load(f)
        if pre is not None:
            pretrain(DetNASPath.from_dict(pre['genotype']), pre['width'], pre['seed'],
                     pre['iters'], pre['out'])
    cfg = Config.fromfile(cfg_file)
    cfg.work_dir = wd
    cfg.resume = osp.isfile(osp.join(wd, 'last_checkpoint'))
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = unwrap(runner.model)
    model.eval()
    loop = runner.val_loop  # built by Runner: dataloader + evaluator with dataset meta
    with torch.no_grad():
        for data in loop.dataloader:
            loop.evaluator.process(data_samples=model.val_step(data), data_batch=data)
    metric = 'coco/bbox_mAP'
    _, metrics = reward_from_metrics(local_metrics(loop.evaluator), metric)  # none kept: 0
    with open(osp.join(wd, 'metrics.json'), 'w') as f:
        json.dump({k: v for k, v in metrics.items() if isinstance(v, float)}, f)


def supernet_scores(args, paths: list) -> list:
    """Held-out mAP of each path inside the trained supernet, scored as the search scores
    its candidates (the search phase's config and evaluator: BN re-estimated, the held-out
    images); kept in ``<work dir>/ranking/supernet_scores.json``."""
    out_file = osp.join(args.work_dir, 'ranking', 'supernet_scores.json')
    key = [str(g) for g in paths]
    if osp.isfile(out_file):
        with open(out_file) as f:
            done = json.load(f)
        if done['paths'] == key:
            return done['rewards']
    import shutil
    import tempfile

    from mmengine.config import Config
    from mmengine.runner import Runner

    from nas_det.engine.evaluators import SupernetEvaluator
    from nas_det.engine.hooks import searchable_modules
    from nas_det.engine.launch.entry import parse_cfg_options
    from nas_det.engine.launch.phases import normalize_phases
    cfg = Config.fromfile(args.config if osp.isfile(args.config)
                          else osp.join(ROOT, args.config))
    cfg.merge_from_dict(parse_cfg_options(args.search_options + args.cfg_options))
    over = dict(normalize_phases(cfg))['search']
    with open(osp.join(args.work_dir, 'train', 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    tmp = tempfile.mkdtemp(prefix='detnas_rank_')
    cwd = os.getcwd()
    os.chdir(ROOT)  # the config's relative data paths, as tools/search.py reads them
    try:
        pcfg, ev_cfg = scoring_config(cfg, over, tmp)
        runner = Runner.from_cfg(pcfg)
        runner.load_checkpoint(ckpt, map_location='cpu')
        scorer = SupernetEvaluator(runner, modules=searchable_modules(runner.model), **ev_cfg)
        rewards = []
        for i, g in enumerate(paths):
            rewards.append(float(scorer(g).reward))
            log(f'ranking: supernet path {i} ({g}): held-out mAP {fmt(rewards[-1])}')
    finally:
        os.chdir(cwd)
        shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(osp.dirname(out_file), exist_ok=True)
    with open(out_file, 'w') as f:
        json.dump(dict(paths=key, rewards=rewards, checkpoint=ckpt), f, indent=1)
    return rewards


def rank_report(paths, flops, sup, runs, seeds, top_k: int = 3) -> dict:
    """Kendall's tau of the supernet's held-out mAP against the retrained val mAP (mean
    of the seeds, and each seed), with a bootstrap interval, top-k overlap, and the
    ceiling (seed against seed)."""
    from detnas_ranking import bootstrap_tau, kendall_tau, top_k_overlap
    per_seed = {s: [runs[(i, s)]['mAP'] for i in range(len(paths))] for s in seeds}
    mean = [statistics.mean(per_seed[s][i] for s in seeds) for i in range(len(paths))]
    print(f'\n{"path":>4}{"FLOPs":>9}{"supernet":>10}{"retrained (seeds)":>22}  genotype')
    for i, g in enumerate(paths):
        vals = [per_seed[s][i] for s in seeds]
        m, sd = mean_std(vals)
        print(f'{i:>4}{flops[i] / 1e6:>8.1f}M{fmt(sup[i]):>10}{fmt(m):>13} +- {fmt(sd):<7}  {g}')
    tau, (lo, hi) = kendall_tau(sup, mean), bootstrap_tau(sup, mean)
    one = statistics.mean(kendall_tau(sup, per_seed[s]) for s in seeds)
    ceil = [kendall_tau(per_seed[a], per_seed[b]) for ai, a in enumerate(seeds)
            for b in seeds[ai + 1:]]
    c = statistics.mean(ceil)
    overlap = top_k_overlap(sup, mean, top_k)
    print(f'\nceiling (retrained seed vs seed): tau {c:.2f}')
    print(f'supernet vs retrained (mean of {len(seeds)} seeds): tau {tau:.2f} '
          f'[{lo:.2f}, {hi:.2f}], top-{top_k} overlap {overlap}/{top_k}; against one seed '
          f'at a time tau {one:.2f}')
    return dict(tau=tau, tau_interval=[lo, hi], tau_one_seed=one, ceiling=c,
                top_k=top_k, top_k_overlap=overlap)


def run_ranking(args, backbone, shape) -> None:
    """``--rank-paths N``: N paths spread over the FLOPs range (bench/detnas_ranking.py's
    paths: from all-shuffle3x3 to all-xception3x3), scored by the supernet and retrained
    like the demo's paths; prints the ranking figures."""
    from detnas_ranking import ranked_paths

    from nas_det.models.shufflenet import backbone_cost
    paths = ranked_paths(args.rank_paths, seed=0)
    flops = [backbone_cost(backbone.get('arch', '300M'), g, tuple(shape),
                           backbone.get('widen_factor', 1.0),
                           backbone.get('with_last_conv', False))['flops'] for g in paths]
    sup = supernet_scores(args, paths)
    jobs = [(f'rank{i:02d}', g, f, s) for i, (g, f) in enumerate(zip(paths, flops))
            for s in args.seeds]
    log(f'ranking: {len(paths)} paths from {min(flops) / 1e6:.1f}M to {max(flops) / 1e6:.1f}M '
        f'FLOPs, {len(jobs)} retrains')
    t0 = time.time()
    results = run_jobs(
        lambda *job: retrain_job(*job, args), jobs, args.jobs, prefix=lambda job: '[demo] ',
        on_result=lambda r: log(f'ranking: {r["label"]} seed {r["seed"]}: val mAP '
                                f'{fmt(r["mAP"])} ({r["seconds"]:.0f} s)'))
    runs = {(int(r['label'][4:]), r['seed']): r for r in results}
    rep = rank_report(paths, flops, sup, runs, args.seeds)
    rep.update(paths=[str(g) for g in paths], flops=flops, supernet=sup, seeds=args.seeds,
               retrain_seconds=round(time.time() - t0, 1), results=results)
    with open(osp.join(args.work_dir, 'ranking', 'ranking_summary.json'), 'w') as f:
        json.dump(rep, f, indent=1)


def fmt(x: float) -> str:
    """4 decimals, or 3 significant digits below 0.01 (an mAP near 0 is not all 0.0000)."""
    return f'{x:.4f}' if x == 0 or abs(x) >= 0.01 else f'{x:.2e}'


def mean_std(values: list) -> tuple:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def separation(best: list, rand: list) -> tuple:
    """``(separated, difference, standard error)``: the difference of the means and its
    standard error (Welch); separated when the difference exceeds twice the error."""
    (mb, sb), (mr, sr) = mean_std(best), mean_std(rand)
    se = math.sqrt(sb ** 2 / len(best) + sr ** 2 / len(rand))
    diff = mb - mr
    return diff > 2 * se and diff > 0, diff, se


def prepare_tiny(args) -> None:
    """A tiny detection set in the work dir, and the options that point the config at it."""
    sys.path.insert(0, ROOT)
    from nas_det.data import make_detection_set
    data = osp.join(args.work_dir, 'data')
    make_detection_set(data, num_train=16, num_val=8, seed=0)
    held = 'annotations/instances_train_search-heldout.json'
    args.search_options = [
        f'train_dataloader.dataset.data_root={data}/', f'val_dataloader.dataset.data_root={data}/',
        f'test_dataloader.dataset.data_root={data}/',
        f'val_evaluator.ann_file={data}/annotations/instances_val.json',
        f'test_evaluator.ann_file={data}/annotations/instances_val.json',
        f'heldout_split.data_root={data}/', f'heldout_evaluator.ann_file={data}/{held}',
        *args.search_options]


def main(argv=None) -> None:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ['--worker']:
        worker(*argv[1:3])
        return
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--config', default=CONFIG, help=f'the search config (default {CONFIG})')
    p.add_argument('--work-dir', default=None,
                   help='default work_dirs/<config name>[_tiny|_full]')
    mode = p.add_mutually_exclusive_group()
    mode.add_argument('--tiny', action='store_true',
                      help='a few iterations of everything on a 16-image set (a test)')
    mode.add_argument('--full', action='store_true',
                      help='longer supernet training, search and retrains, 3 seeds')
    p.add_argument('--retrain-iters', type=int, default=None,
                   help='detection iterations of every retrain (default 600; --tiny 2, '
                   '--full 1500)')
    p.add_argument('--seeds', type=int, nargs='+', default=None,
                   help='retrain seeds (default 0 1; --full 0 1 2)')
    p.add_argument('--random-paths', type=int, default=None,
                   help='random paths retrained (default 3; --tiny 1, --full 5)')
    p.add_argument('--pretrain-iters', type=int, default=None,
                   help='classification pre-training of the supernet (default 600; --tiny 4, '
                   '--full 1200); configs with a supernet_pretrain key only')
    p.add_argument('--retrain-pretrain-iters', type=int, default=None,
                   help='classification pre-training of every retrained path (default 150; '
                   '--tiny 2, --full 300)')
    p.add_argument('--only-pretrain', action='store_true',
                   help='pre-train the supernet (step 0) and stop')
    p.add_argument('--flops-tolerance', type=float, default=0.1,
                   help='random paths within this relative distance of the best path\'s '
                   'FLOPs (and under the limit); default 0.1')
    p.add_argument('--rank-paths', type=int, default=0, metavar='N',
                   help='also rank N paths spread over the FLOPs range: supernet held-out mAP '
                   'against retrained val mAP (Kendall tau, top-3 overlap, seed-vs-seed '
                   'ceiling); default 0 (off), at least 4')
    p.add_argument('--jobs', type=int, default=2, help='retrains at a time (one thread each)')
    p.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                   help='more --cfg-options for the search config')
    p.add_argument('--resume', action='store_true', help='accepted; the demo always resumes')
    args = p.parse_args(argv)
    name = 'tiny' if args.tiny else 'full' if args.full else 'default'
    preset = MODES[name]
    args.retrain_iters = args.retrain_iters or preset['retrain_iters']
    args.pretrain_iters = args.pretrain_iters or preset['pretrain_iters']
    args.retrain_pretrain_iters = (args.retrain_pretrain_iters
                                   or preset['retrain_pretrain_iters'])
    args.seeds = sorted(set(args.seeds if args.seeds is not None else preset['seeds']))
    args.random_paths = args.random_paths if args.random_paths is not None \
        else preset['random_paths']
    args.search_options = list(preset['search'])
    if min(args.retrain_iters, args.jobs, args.random_paths, args.pretrain_iters,
           args.retrain_pretrain_iters) <= 0:
        p.error('--retrain-iters, --pretrain-iters, --retrain-pretrain-iters, --jobs and '
                '--random-paths: positive integers are expected')
    if args.rank_paths and args.rank_paths < 4:
        p.error(f'--rank-paths: at least 4 paths (or 0: off) are expected, got {args.rank_paths}')
    if len(args.seeds) < 2:
        p.error('--seeds: at least 2 seeds are needed to tell the noise')
    if not osp.isfile(osp.join(ROOT, args.config)) and not osp.isfile(args.config):
        p.error(f'--config: {args.config} does not exist')
    stem = osp.splitext(osp.basename(args.config))[0]
    args.work_dir = osp.abspath(args.work_dir or osp.join(
        'work_dirs', stem + ('' if name == 'default' else f'_{name}')))
    os.makedirs(args.work_dir, exist_ok=True)
    if args.tiny:
        prepare_tiny(args)
    t0 = time.time()
    sys.path.insert(0, ROOT)
    from mmengine.config import Config

    # 0. the easy detection set when the config reads it; classification pre-training of
    # the supernet, for configs that load one
    cfg = Config.fromfile(args.config if osp.isfile(args.config)
                          else osp.join(ROOT, args.config))
    root = cfg.train_dataloader.dataset.get('data_root', '')
    if not args.tiny and osp.normpath(root) == osp.normpath('data/digits_det_easy'):
        from nasfpn_compare import EASY_SET
        mk = subprocess.run([sys.executable, 'tools/make_data.py', *EASY_SET, '--out', root],
                            cwd=ROOT, capture_output=True, text=True)
        if mk.returncode:
            raise SystemExit(f'[demo] building {root} failed:\n{mk.stderr[-2000:]}')
        if 'up to date' not in mk.stdout:
            log(f'built the easy detection digits in {root}')
    args.pretrain = cfg.get('supernet_pretrain') is not None
    if args.only_pretrain and not args.pretrain:
        p.error(f'--only-pretrain: {args.config} has no supernet_pretrain key (it trains '
                'its supernet from scratch)')
    if args.pretrain:
        out = osp.join(args.work_dir, 'pretrain', 'supernet.pth')
        width = cfg.model.backbone.get('widen_factor', 1.0)
        log(f'pre-training the supernet (x{width} width) on the plain digits for '
            f'{args.pretrain_iters} iterations (warm-start recipe) -> {out}')
        res = pretrain(None, width, 0, args.pretrain_iters, out)
        log(f'pre-trained in {res["seconds"]:.0f} s (mean train loss of the last '
            f'iterations {res["train_loss"]:.3f})')
        args.search_options += [f'supernet_pretrain={out}',
                                f'model.backbone.init_cfg.checkpoint={out}']
        if args.only_pretrain:
            return

    # 1. split, supernet, search, export
    out = run_search(args)
    search, export = out['search'], out['export']
    t_search = time.time() - t0
    args.exported = osp.abspath(export['config'])
    exported = Config.fromfile(args.exported)
    backbone = exported.model.backbone.to_dict()
    args.width = backbone.get('widen_factor', 1.0)
    args.exported_init = backbone.get('init_cfg')
    search_cfg = exported.get('search_cfg', None) or {}
    max_flops = search_cfg.get('max_flops')
    shape = search_cfg.get('cost_input_shape', (3, 224, 224))
    with open(search['best_genotype']) as f:
        best = json.load(f)
    best = best.get('genotype', best)

    # 2. the best path and random paths under the same limit, of similar FLOPs
    paths = draw_random_paths(best, backbone, max_flops, shape, args.random_paths,
                              args.flops_tolerance, seed=12345)
    jobs = [('best' if i == 0 else f'random{i}', g, f, s)
            for i, (g, f) in enumerate(paths) for s in args.seeds]
    log(f'search: best {paths[0][0]} ({paths[0][1] / 1e6:.1f}M FLOPs), held-out mAP '
        f'{search.get("best_reward", float("nan")):.4g}; {len(jobs)} retrains from scratch'
        + (f' ({args.retrain_pretrain_iters} classification iterations, then'
           if args.pretrain else ' (') +
        f' {args.retrain_iters} detection iterations; {len(paths) - 1} random paths within '
        f'{args.flops_tolerance:.0%} of its FLOPs, under {(max_flops or math.inf) / 1e6:.0f}M; '
        f'seeds {args.seeds})')

    # 3. retrains
    t1 = time.time()
    results = run_jobs(
        lambda *job: retrain_job(*job, args), jobs, args.jobs, prefix=lambda job: '[demo] ',
        on_result=lambda r: log(
            f'{r["label"]} seed {r["seed"]}: val mAP {fmt(r["mAP"])} ({r["seconds"]:.0f} s'
            + (f'; pre-trained to {r["pretrain"]["val_top1"]:.1f}% digit top-1'
               if r.get('pretrain') else '') + ')'))
    t_retrain = time.time() - t1

    # 4. report
    results.sort(key=lambda r: (r['label'] != 'best', r['label'], r['seed']))
    print(f'\n{"path":<9}{"seed":>5}{"FLOPs":>9}{"val mAP":>10}{"mAP@50":>10}  genotype')
    for r in results:
        m50 = fmt(r['mAP50']) if r['mAP50'] is not None else '-'
        print(f'{r["label"]:<9}{r["seed"]:>5}{r["flops"] / 1e6:>8.1f}M{fmt(r["mAP"]):>10}'
              f'{m50:>10}  {r["genotype"]}')
    best_maps = [r['mAP'] for r in results if r['label'] == 'best']
    rand_maps = [r['mAP'] for r in results if r['label'] != 'best']
    (mb, sb), (mr, sr) = mean_std(best_maps), mean_std(rand_maps)
    print()
    print(f'best path    ({len(best_maps)} seeds): val mAP {fmt(mb)} +- {fmt(sb)}')
    print(f'random paths ({len(paths) - 1} paths x {len(args.seeds)} seeds): val mAP '
          f'{fmt(mr)} +- {fmt(sr)}')
    sep, diff, se = separation(best_maps, rand_maps)
    if sep:
        print(f'the best path is separated from the random paths beyond the noise '
              f'(difference {fmt(diff)} > 2 x its standard error {fmt(se)})')
    else:
        print(f'the best path is NOT separated from the random paths beyond the noise '
              f'(difference {fmt(diff)}, 2 x its standard error {fmt(2 * se)})')
    summary = dict(best=best_maps, random=rand_maps, separated=sep, difference=diff,
                   standard_error=se, retrain_iters=args.retrain_iters, seeds=args.seeds,
                   search_seconds=round(t_search, 1), retrain_seconds=round(t_retrain, 1),
                   results=results)
    with open(osp.join(args.work_dir, 'demo_summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    log(f'wall time: search {t_search:.0f} s, retrains {t_retrain:.0f} s (this run; finished '
        f'parts of a resumed run are not counted); summary in '
        f'{osp.join(args.work_dir, "demo_summary.json")}')
    if args.rank_paths:
        run_ranking(args, backbone, shape)


if __name__ == '__main__':
    main()
