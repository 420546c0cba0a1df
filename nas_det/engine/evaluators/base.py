"""Evaluators: the one bridge from a genotype to a reward (``Result``); here, their
registry and the pieces they share (local loaders, local metrics, rewards).

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

import torch
from mmengine.dataset import pseudo_collate
from mmengine.model import is_model_wrapper

from .scoring import coco_eval_class, resolve_coco_backend

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


def build_dataset(dataset_cfg, num_images=None):
    """The dataset of ``dataset_cfg`` (built from mmengine's registry), restricted to its
    first ``num_images`` items when given."""
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


def clear_results(evaluator) -> None:
    """Drop what an mmengine ``Evaluator``'s metrics hold (a candidate that failed
    half-way leaves its first batches there, which the next would be scored with)."""
    for metric in evaluator.metrics:
        metric.results.clear()


def local_metrics(evaluator, coco_backend: str = 'pycocotools') -> dict:
    """Compute an mmengine ``Evaluator``'s metrics on this rank only, then reset them.

    ``coco_backend`` (see :data:`~nas_det.engine.evaluators.scoring.COCO_BACKENDS`): what
    computes mmdet's COCO metrics; ``'faster-coco-eval'`` gives pycocotools' statistics (to
    the last bits of a double) in a fraction of the time where that package is installed."""
    coco_eval = coco_eval_class(resolve_coco_backend(coco_backend))
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
        with _full_precision_coco(coco_eval) as evals, \
                contextlib.redirect_stdout(io.StringIO()):
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
def _full_precision_coco(coco_eval=None):
    """Record the ``COCOeval`` objects mmdet's ``CocoMetric`` creates meanwhile (instances
    of ``coco_eval`` instead of its own class where given).

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
        parent = coco_eval or base

        class Recording(parent):
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
