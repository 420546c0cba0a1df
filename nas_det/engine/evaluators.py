"""Evaluators: the one bridge from a genotype to a reward (``Result``).

An evaluator is built by the search loop with the Runner (model, configs, work dir) and
is called as ``evaluator(genotype) -> Result``. Every rank holds one; in a distributed
search each rank evaluates its own candidates, with a non-distributed dataloader and a
metric computed locally (mmengine's metrics would otherwise gather over all ranks).
"""
from __future__ import annotations

import contextlib
import copy
import io
import math
import time

import torch
from mmengine.dataset import pseudo_collate
from mmengine.model import is_model_wrapper
from torch.nn.modules.batchnorm import _BatchNorm

from .driver import Result

EVALUATORS: dict = {}


def register_evaluator(cls):
    EVALUATORS[cls.__name__] = cls
    return cls


def build_evaluator(cfg: dict, runner, **kwargs):
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise ValueError(f'evaluator: a dict with a "type" key is expected, got {cfg!r}')
    cfg = dict(cfg)
    name = cfg.pop('type')
    if name not in EVALUATORS:
        raise ValueError(f'evaluator.type: {name!r} is not allowed; allowed values: '
                         f'{sorted(EVALUATORS)}')
    try:
        return EVALUATORS[name](runner, **cfg, **kwargs)
    except TypeError as e:
        raise ValueError(f'evaluator {name}: {e}') from None


def check_int(name: str, value, allow_none: bool = False, allow_zero: bool = False) -> None:
    """``ValueError`` naming ``evaluator.<name>`` unless ``value`` is a positive integer
    (non-negative with ``allow_zero``; None allowed with ``allow_none``)."""
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < (0 if allow_zero else 1):
        what = 'a non-negative' if allow_zero else 'a positive'
        raise ValueError(f'evaluator.{name}: {what} integer{" or None" if allow_none else ""}'
                         f' is expected, got {value!r}')


def unwrap(model):
    return model.module if is_model_wrapper(model) else model


def _build_dataset(dataset_cfg, num_images=None):
    from mmengine.registry import DATASETS
    cfg = copy.deepcopy(dataset_cfg)
    if num_images is not None:
        cfg['indices'] = int(num_images)
    return DATASETS.build(cfg)


def local_loader(dataset, batch_size: int, shuffle_seed: int | None = None, num_workers: int = 0):
    """A non-distributed dataloader (every rank reads everything it is given)."""
    from torch.utils.data import DataLoader, RandomSampler, SequentialSampler
    if shuffle_seed is None:
        sampler = SequentialSampler(dataset)
    else:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(shuffle_seed))
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      collate_fn=pseudo_collate)


def local_metrics(evaluator) -> dict:
    """Compute an mmengine ``Evaluator``'s metrics on this rank only, then reset them."""
    out = {}
    for metric in evaluator.metrics:
        if not metric.results:
            raise RuntimeError(f'{type(metric).__name__}: no results to compute a metric from')
        if hasattr(metric, 'img_ids'):
            # COCO-style metrics score every image of their annotation file unless told
            # otherwise: restrict them to the images evaluated (a val subset)
            ids = []
            for r in metric.results:
                pred = r[1] if isinstance(r, tuple) and len(r) == 2 else r
                if isinstance(pred, dict) and 'img_id' in pred:
                    ids.append(pred['img_id'])
            if ids:
                metric.img_ids = sorted(set(ids))
        with _full_precision_coco() as evals, contextlib.redirect_stdout(io.StringIO()):
            res = metric.compute_metrics(metric.results)
        _unround(res, evals)
        prefix = f'{metric.prefix}/' if getattr(metric, 'prefix', None) else ''
        out.update({f'{prefix}{k}': v for k, v in res.items()})
        metric.results.clear()
    return out


# index of each of mmdet's CocoMetric items in ``COCOeval.stats``
_COCO_STATS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l', 'AR@100', 'AR@300',
               'AR@1000', 'AR_s@1000', 'AR_m@1000', 'AR_l@1000')


@contextlib.contextmanager
def _full_precision_coco():
    """Record the ``COCOeval`` objects mmdet's ``CocoMetric`` creates meanwhile.

    ``CocoMetric`` rounds every figure to 3 decimals, which on a small val subset or an
    early supernet turns most rewards into ties (0.0 against 0.0); the recorded
    evaluations give :func:`_unround` the full-precision statistics back.
    """
    evals = []
    try:
        from mmdet.evaluation.metrics import coco_metric
    except ImportError:  # not an mmdet metric: nothing to record
        yield evals
        return
    patched = {}
    for name in ('COCOeval', 'COCOevalMP'):
        base = getattr(coco_metric, name, None)
        if base is None:
            continue

        class Recording(base):
            def summarize(self, *args, **kwargs):
                out = super().summarize(*args, **kwargs)
                evals.append(self)
                return out

        patched[name] = base
        setattr(coco_metric, name, Recording)
    try:
        yield evals
    finally:
        for name, base in patched.items():
            setattr(coco_metric, name, base)


def _unround(res: dict, evals: list) -> None:
    """Replace ``CocoMetric``'s rounded items in ``res`` by the recorded full statistics."""
    for ev in evals:
        stats = getattr(ev, 'stats', None)
        if stats is None:
            continue
        proposal = not ev.params.useCats
        prefix = '' if proposal else f'{ev.params.iouType}_'
        for i, item in enumerate(_COCO_STATS[:len(stats)]):
            key = f'{prefix}{item}'
            if key in res:
                res[key] = float(stats[i])


def reward_from_metrics(metrics: dict, metric: str) -> tuple:
    """``(reward, JSON-able metrics)`` from the metrics of a validation: no metrics at all
    (e.g. CocoMetric without a single detection) is a reward of 0, a negative value (COCO's
    -1 when there is nothing to score) is NaN, an unknown key a ``KeyError``."""
    if not metrics:
        metrics = {metric: 0.0, 'no_detections': 1.0}
    if metric not in metrics:
        raise KeyError(f'evaluator.metric: {metric!r} is not among the metrics {sorted(metrics)}')
    reward = float(metrics[metric])
    if reward < 0:
        reward = float('nan')
    clean = {k: (float(v) if isinstance(v, (int, float)) and math.isfinite(float(v)) else str(v))
             for k, v in metrics.items()}
    return reward, clean


@contextlib.contextmanager
def bn_recalibration(modules):
    """Inside: the BN layers of ``modules`` (those tracking running statistics) are reset,
    in training mode and on a cumulative average (``momentum=None``), so batches run
    through them re-estimate their statistics; on exit each gets its momentum and its
    train/eval mode back. Yields the list of those layers."""
    bns = [m for mod in modules for m in mod.modules()
           if isinstance(m, _BatchNorm) and m.track_running_stats]
    saved = [(bn.momentum, bn.training) for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
    try:
        yield bns
    finally:
        for bn, (mom, training) in zip(bns, saved):
            bn.momentum = mom
            bn.train(training)


@torch.no_grad()
def recalibrate_bn(model, modules, batches) -> int:
    """Reset and re-estimate the BN statistics of ``modules`` on ``batches``.

    The BN layers inside ``modules`` are reset and switched to a cumulative average
    (``momentum=None``, :func:`bn_recalibration`), then ``batches`` go through the model
    in ``tensor`` mode with only those layers in training mode; the rest of the model
    is in eval mode meanwhile. Afterwards every module has its train/eval mode back.
    Returns the number of BN layers recalibrated.
    """
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with bn_recalibration(modules) as bns:
            for data in batches:
                data = model.data_preprocessor(data, True)
                model._run_forward(data, mode='tensor')
    finally:
        for m, training in modes:
            m.training = training
    return len(bns)


@register_evaluator
class SupernetEvaluator:
    """Evaluate paths of a trained one-shot supernet (DetNAS).

    Per candidate: set the path on the searchable module(s), re-estimate BN statistics on
    ``bn_batches`` training batches (the paper resets and re-estimates them), validate on
    the val set (or its first ``num_val_images``) with the config's ``val_evaluator``, and
    return ``metric`` as the reward. The same training batches (a seeded sample) and val
    images serve every candidate, so candidates are compared on equal terms.

    Args:
        runner (Runner): the runner (model, dataloader and evaluator configs).
        modules (list): ``[(name, module)]`` of the searchable modules; the genotype is
            given to the first (the search loop passes them).
        metric (str): key of the reward in the metrics. Defaults to 'coco/bbox_mAP'.
        bn_mode (str): ``'recalibrate'`` (reset and re-estimate running statistics, the
            paper) or ``'train'`` (validate with BN in training mode, i.e. batch
            statistics of each val batch). Defaults to 'recalibrate'.
        bn_batches (int): training batches for recalibration. Defaults to 20.
        num_val_images (int, optional): validate on the first N val images only.
            Defaults to None (all).
        batch_size (int, optional): batch size of both loaders. Defaults to the configs'.
        cache_batches (bool): keep the recalibration and val batches in memory after the
            first candidate (saves decoding images again for every candidate).
            Defaults to True.
        seed (int): seed of the sample of training batches. Defaults to 0.
    """

    BN_MODES = ('recalibrate', 'train')

    def __init__(self, runner, modules, metric: str = 'coco/bbox_mAP',
                 bn_mode: str = 'recalibrate', bn_batches: int = 20,
                 num_val_images: int | None = None, batch_size: int | None = None,
                 cache_batches: bool = True, seed: int = 0):
        if bn_mode not in self.BN_MODES:
            raise ValueError(f'evaluator.bn_mode: {bn_mode!r} is not allowed; allowed values: '
                             f'{list(self.BN_MODES)}')
        check_int('bn_batches', bn_batches, allow_zero=True)
        if bn_mode == 'recalibrate' and bn_batches == 0:
            raise ValueError("evaluator.bn_batches: must be > 0 with bn_mode='recalibrate'")
        check_int('num_val_images', num_val_images, allow_none=True)
        self.runner = runner
        self.modules = modules
        self.metric = metric
        self.bn_mode = bn_mode
        self.bn_batches = bn_batches
        self.seed = seed
        self.cache = cache_batches
        cfg = runner.cfg
        train_dl, val_dl = cfg.train_dataloader, cfg.val_dataloader
        self.train_set = _build_dataset(train_dl['dataset'])
        self.val_set = _build_dataset(val_dl['dataset'], num_val_images)
        self.train_bs = batch_size or train_dl.get('batch_size', 2)
        self.val_bs = batch_size or val_dl.get('batch_size', 1)
        self.evaluator = runner.build_evaluator(cfg.val_evaluator)
        meta = getattr(self.val_set, 'metainfo', None)
        if meta is not None:
            self.evaluator.dataset_meta = meta
        self._bn_cache = None
        self._val_cache = None
        self.timing = {'bn': 0.0, 'val': 0.0, 'n': 0}

    def _bn_data(self):
        if self._bn_cache is not None:
            return self._bn_cache
        loader = local_loader(self.train_set, self.train_bs, shuffle_seed=self.seed)
        batches = []
        for i, b in enumerate(loader):
            if i >= self.bn_batches:
                break
            batches.append(b)
        if self.cache:
            self._bn_cache = batches
        return batches

    def _val_data(self):
        if self._val_cache is not None:
            return self._val_cache
        batches = local_loader(self.val_set, self.val_bs)
        if self.cache:
            batches = list(batches)
            self._val_cache = batches
        return batches

    @torch.no_grad()
    def __call__(self, genotype) -> Result:
        model = unwrap(self.runner.model)
        self.modules[0][1].set_choices(genotype)
        targets = [m for _, m in self.modules]
        t0 = time.time()
        if self.bn_mode == 'recalibrate':
            recalibrate_bn(model, targets, self._bn_data())
        t1 = time.time()
        model.eval()
        if self.bn_mode == 'train':
            for mod in targets:
                for m in mod.modules():
                    if isinstance(m, _BatchNorm):
                        m.train()
        for data in self._val_data():
            outputs = model.val_step(data)
            self.evaluator.process(data_samples=outputs, data_batch=data)
        metrics = local_metrics(self.evaluator)
        model.eval()
        t2 = time.time()
        self.timing['bn'] += t1 - t0
        self.timing['val'] += t2 - t1
        self.timing['n'] += 1
        reward, clean = reward_from_metrics(metrics, self.metric)
        return Result(reward, clean, {'bn_seconds': round(t1 - t0, 3), 'val_seconds': round(t2 - t1, 3)})
