"""``SupernetEvaluator``: paths of a trained one-shot supernet scored by validation, after
their BN statistics are re-estimated (:func:`recalibrate_bn`)."""
from __future__ import annotations

import contextlib
import time

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from ...strategies.driver import Result
from .base import (build_dataset, check_int, local_loader, local_metrics, register_evaluator,
                   reward_from_metrics, unwrap)


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
        self.train_set = build_dataset(train_dl['dataset'])
        self.val_set = build_dataset(val_dl['dataset'], num_val_images)
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
