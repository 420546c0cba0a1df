"""Proxy-task evaluation: build a child network from a genotype, train it briefly,
validate it, and return the metric as the reward.

The evaluator knows nothing of any particular space: the genotype goes into one slot of
a child config (``genotype_key``, e.g. ``'model.neck.genotype'`` for a NAS-FPN pyramid,
``'model.backbone.genotype'`` for a cell network), the child is built from the registry,
trained with a plain loop for ``train_iters`` iterations on its own non-distributed
loader, its learning rate (and any other parameter) driven by the child config's
``param_scheduler`` (mmengine's schedulers, built for the child's optimizer), scored with an mmengine metric computed on this rank only, and forgotten. Every
child gets its own seed derived from the base seed and the genotype's canonical string,
so a child scores the same whichever rank evaluates it, in whatever order, and again
after a resume.

Example (a search config, the child being the config's own detector)::

    train_cfg = dict(type='SearchLoop',
                     search_space=dict(type='NASFPNSpace', num_cells=7),
                     strategy=dict(type='ReinforceController', batch_size=4),
                     evaluator=dict(type='ProxyTrainEvaluator',
                                    genotype_key='model.neck.genotype',
                                    metric='coco/bbox_mAP', train_iters=100,
                                    child=dict(param_scheduler=[
                                        dict(type='LinearLR', start_factor=0.1,
                                             by_epoch=False, begin=0, end=11),
                                        dict(type='CosineAnnealingLR', by_epoch=False,
                                             begin=10)])))

A scheduler without ``end`` ends with the child's training (``train_iters``, or its
epochs for ``by_epoch=True``), as in an mmengine Runner.
"""
from __future__ import annotations

import copy
import math
import random
import time
import warnings
import zlib

import numpy as np
import torch

from ...strategies.driver import Result
from .base import (build_dataset, check_int, clear_results, local_loader, local_metrics,
                   register_evaluator, reward_from_metrics, unwrap)

CHILD_KEYS = ('model', 'train_dataloader', 'val_dataloader', 'val_evaluator', 'optim_wrapper',
              'param_scheduler')
"""Keys of a child config; those ``child`` does not give come from the search config
(``param_scheduler`` may be absent from both: a constant learning rate)."""
LR_SCHEDULES = ('constant', 'cosine', 'linear')
"""Values of the deprecated ``lr_schedule`` (see :func:`schedule_from_lr_schedule`)."""


def schedule_from_lr_schedule(lr_schedule: str | None, warmup_iters: int | None,
                              train_iters: int) -> list:
    """The ``param_scheduler`` (mmengine's) of the deprecated ``lr_schedule`` /
    ``warmup_iters`` options: a linear warm-up from 10% of the learning rate over
    ``warmup_iters`` iterations, then ``'constant'``, ``'cosine'`` (to 0 at
    ``train_iters``) or ``'linear'`` (to 0 at ``train_iters``); ``lr_schedule`` None means
    ``'cosine'``, the old default. The learning rate of iteration ``i`` is the old one's:
    ``0.1 + 0.9 * i / w`` during the warm-up, then ``0.5 * (1 + cos(pi * t))`` or
    ``1 - t`` with ``t = (i - w) / (train_iters - w)``."""
    lr_schedule = 'cosine' if lr_schedule is None else lr_schedule
    w = warmup_iters or 0
    out = []
    if w:  # mmengine's LinearLR reaches end_factor at step end - 1
        out.append(dict(type='LinearLR', start_factor=0.1, end_factor=1.0, by_epoch=False,
                        begin=0, end=w + 1))
    if w < train_iters:
        if lr_schedule == 'cosine':
            out.append(dict(type='CosineAnnealingLR', T_max=train_iters - w, eta_min=0.0,
                            by_epoch=False, begin=w, end=train_iters))
        elif lr_schedule == 'linear':
            out.append(dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=False,
                            begin=w, end=train_iters + 1))
    return out


def check_param_scheduler(value, field: str = 'evaluator.child.param_scheduler') -> list:
    """A list of scheduler dicts (one dict is wrapped), each of a registered type."""
    from mmengine.registry import PARAM_SCHEDULERS
    if value is None:
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f'{field}: a list of scheduler dicts is expected, got {value!r}')
    out = []
    for i, s in enumerate(value):
        if not isinstance(s, dict) or not isinstance(s.get('type'), str):
            raise ValueError(f'{field}[{i}]: a dict(type=...) is expected, got {s!r}')
        if 'ReduceOnPlateau' in s['type']:
            raise ValueError(f'{field}[{i}]: {s["type"]} needs validation metrics during '
                             'training; a child is validated once, after it')
        if PARAM_SCHEDULERS.get(s['type']) is None:
            raise ValueError(f'{field}[{i}].type: {s["type"]!r} is not a registered parameter '
                             'scheduler (e.g. LinearLR, CosineAnnealingLR, MultiStepLR)')
        out.append(copy.deepcopy(dict(s.to_dict() if hasattr(s, 'to_dict') else s)))
    return out


def _lookup(cfg: dict, dotted: str):
    node = cfg
    for part in dotted.split('.'):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _config(x):
    """A deep copy as a ConfigDict (mmdet modules read their configs by attribute)."""
    from mmengine.config import ConfigDict
    return ConfigDict(copy.deepcopy(x)) if isinstance(x, dict) else copy.deepcopy(x)


def genotype_seed(seed: int, genotype) -> int:
    """The child's seed: the base seed mixed with the genotype's canonical string."""
    return (zlib.crc32(str(genotype).encode()) ^ (int(seed) * 0x9E3779B1)) % (2 ** 31)


@register_evaluator
class ProxyTrainEvaluator:
    """Train every candidate as its own child network on a proxy task; its validation
    metric is the reward.

    Per candidate: a deep copy of the child config gets the genotype at
    ``genotype_key``; the model is built (SyncBN reverted to BN: every rank trains its own
    child), initialised and trained for ``train_iters`` iterations with the child's
    ``optim_wrapper`` and a per-child seed; then it is validated on the first
    ``num_val_images`` of the val set with the child's ``val_evaluator``, computed on this
    rank only. A non-finite loss stops the child: its reward is NaN (a failure the
    strategies record and skip) and the search goes on.

    Args:
        runner (Runner): the runner of the search; only ``runner.cfg`` (the child's parts
            that ``child`` leaves out, ``default_scope``, ``randomness.seed``), the device
            of ``runner.model`` and ``runner.logger`` are used, each when present.
        child (dict, optional): the child config: any of ``model``, ``train_dataloader``,
            ``val_dataloader``, ``val_evaluator``, ``optim_wrapper``, ``param_scheduler``;
            each given key replaces the search config's key of that name as a whole.
            ``param_scheduler`` is mmengine's (a list of e.g. ``LinearLR``,
            ``CosineAnnealingLR``, ``MultiStepLR``), built for the child's optimizer and
            stepped every iteration (``by_epoch=False``) or after every pass over the
            child's training images (``by_epoch=True``, or ``convert_to_iter_based``); a
            scheduler without ``end`` ends with the child's training. Defaults to None
            (the search config's own model, data, metric, optimizer and schedule).
        genotype_key (str): dotted path in the child config that receives the genotype.
            Its parent must exist in the child config (e.g. ``model.neck``). Defaults to
            'model.neck.genotype'.
        genotype_format (str): what is written there: ``'dict'`` (the genotype's
            ``to_dict()``, JSON-able, with its space header) or ``'str'`` (its canonical
            string). Defaults to 'dict'.
        metric (str): key of the reward in the metrics (``'coco/bbox_mAP'``,
            ``'accuracy/top1'``, ...). Defaults to 'coco/bbox_mAP'.
        train_iters (int): training iterations per child. Defaults to 100.
        lr_schedule (str, optional): deprecated, use ``child.param_scheduler``: with it or
            ``warmup_iters``, the schedule is :func:`schedule_from_lr_schedule`
            (``'constant'``, ``'cosine'`` or ``'linear'`` after a linear warm-up, the same
            learning rates as before, through mmengine's schedulers) instead of the
            child's ``param_scheduler``. Defaults to None.
        warmup_iters (int, optional): deprecated, see ``lr_schedule``. Defaults to None.
        num_train_images (int, optional): train on the first N training images only.
            Defaults to None (all).
        num_val_images (int, optional): validate on the first N val images only.
            Defaults to None (all).
        batch_size (int, optional): training batch size. Defaults to the child's
            ``train_dataloader.batch_size``.
        val_batch_size (int, optional): Defaults to the child's
            ``val_dataloader.batch_size``.
        seed (int, optional): base seed of the children. Defaults to the search config's
            ``randomness.seed`` (0 if none).
        failed_reward (float): reward of a child whose loss is not finite. Defaults to
            NaN (a failure).
        cache_val_batches (bool): keep the decoded val batches between children.
            Defaults to True.
        device (str, optional): where children train. Defaults to the device of the
            runner's model (CPU when it has no parameters and no GPU is present).
        log_interval (int): log the loss every N iterations; 0 logs only the final loss.
            Defaults to 0.
        modules (list): passed by the search loop (searchable modules of the runner's
            model); not used.
    """
    trains_children = True   # builds and trains its own networks: no load_from needed

    def __init__(self, runner, child: dict | None = None,
                 genotype_key: str = 'model.neck.genotype', genotype_format: str = 'dict',
                 metric: str = 'coco/bbox_mAP', train_iters: int = 100,
                 lr_schedule: str | None = None, warmup_iters: int | None = None,
                 num_train_images: int | None = None, num_val_images: int | None = None,
                 batch_size: int | None = None, val_batch_size: int | None = None,
                 seed: int | None = None, failed_reward: float = float('nan'),
                 cache_val_batches: bool = True, device: str | None = None,
                 log_interval: int = 0, modules=None):
        check_int('train_iters', train_iters)
        check_int('warmup_iters', warmup_iters, allow_zero=True, allow_none=True)
        check_int('log_interval', log_interval, allow_zero=True)
        for name, v in (('num_train_images', num_train_images),
                        ('num_val_images', num_val_images), ('batch_size', batch_size),
                        ('val_batch_size', val_batch_size)):
            check_int(name, v, allow_none=True)
        if lr_schedule is not None and lr_schedule not in LR_SCHEDULES:
            raise ValueError(f'evaluator.lr_schedule: {lr_schedule!r} is not allowed; allowed '
                             f'values: {list(LR_SCHEDULES)} (deprecated: give '
                             'evaluator.child.param_scheduler, mmengine schedulers)')
        if genotype_format not in ('dict', 'str'):
            raise ValueError(f"evaluator.genotype_format: {genotype_format!r} is not allowed; "
                             "allowed values: ['dict', 'str']")
        if not isinstance(metric, str) or not metric:
            raise ValueError(f'evaluator.metric: a metric key is expected, got {metric!r}')
        if child is not None and not isinstance(child, dict):
            raise ValueError(f'evaluator.child: a dict is expected, got {child!r}')
        child = dict(child or {})
        unknown = sorted(set(child) - set(CHILD_KEYS))
        if unknown:
            raise ValueError(f'evaluator.child: unknown keys {unknown}; allowed keys: '
                             f'{list(CHILD_KEYS)}')
        cfg = runner.cfg
        from mmengine.registry import init_default_scope
        if cfg.get('default_scope'):
            # the children are built in the config's scope (a Runner of this config has
            # set it already; another scope left current, e.g. mmpretrain's by a
            # classifier built earlier in the process, would not find mmdet's datasets)
            init_default_scope(cfg.default_scope)
        self.child = {}
        for k in CHILD_KEYS:
            v = child.get(k, cfg.get(k))
            if v is None and k != 'param_scheduler':
                raise ValueError(f'evaluator.child.{k}: missing, and the search config has no '
                                 f'{k} either')
            self.child[k] = _config(v)
        if lr_schedule is not None or warmup_iters is not None:
            if 'param_scheduler' in child:
                raise ValueError('evaluator.lr_schedule / warmup_iters: deprecated, and '
                                 'evaluator.child.param_scheduler is given too; keep only '
                                 'child.param_scheduler')
            warnings.warn('evaluator.lr_schedule / warmup_iters are deprecated: give '
                          'evaluator.child.param_scheduler (mmengine schedulers); mapped to '
                          f'{schedule_from_lr_schedule(lr_schedule, warmup_iters, train_iters)}',
                          DeprecationWarning, stacklevel=2)
            self.child['param_scheduler'] = schedule_from_lr_schedule(
                lr_schedule, warmup_iters, train_iters)
        self.child['param_scheduler'] = check_param_scheduler(
            self.child['param_scheduler'],
            'evaluator.child.param_scheduler' if 'param_scheduler' in child
            else 'param_scheduler')
        if not isinstance(genotype_key, str) or not genotype_key.startswith('model.') \
                or genotype_key.count('.') < 1:
            raise ValueError(f"evaluator.genotype_key: a dotted path into the child's model "
                             f"such as 'model.neck.genotype' is expected, got {genotype_key!r}")
        parent_key, self._slot = genotype_key.rsplit('.', 1)
        parent = _lookup(self.child, parent_key)
        if not isinstance(parent, dict):
            raise ValueError(f'evaluator.genotype_key: {genotype_key!r}: the child config has '
                             f'no {parent_key!r} (a dict) to put the genotype in')
        self.runner = runner
        self.genotype_key = genotype_key
        self._parent_key = parent_key
        self.genotype_format = genotype_format
        self.metric = metric
        self.train_iters = train_iters
        self.failed_reward = float(failed_reward)
        if seed is None:
            seed = (cfg.get('randomness') or {}).get('seed', 0) or 0
        self.seed = int(seed)
        self.cache = cache_val_batches
        self.log_interval = log_interval
        tdl, vdl = self.child['train_dataloader'], self.child['val_dataloader']
        self.train_set = build_dataset(tdl['dataset'], num_train_images)
        self.val_set = build_dataset(vdl['dataset'], num_val_images)
        if len(self.train_set) == 0 or len(self.val_set) == 0:
            raise ValueError('evaluator: the child has an empty training or val set')
        self.train_bs = batch_size or tdl.get('batch_size', 2)
        self.val_bs = val_batch_size or vdl.get('batch_size', 1)
        from mmengine.evaluator import Evaluator
        self.evaluator = Evaluator(copy.deepcopy(self.child['val_evaluator']))
        meta = getattr(self.val_set, 'metainfo', None)
        if meta is not None:
            self.evaluator.dataset_meta = meta
        if device is None:
            model = getattr(runner, 'model', None)
            params = list(unwrap(model).parameters()) if model is not None else []
            device = params[0].device if params else ('cuda' if torch.cuda.is_available() else 'cpu')
        self.device = torch.device(device)
        self._val_cache = None
        self.timing = {'train': 0.0, 'val': 0.0, 'n': 0}

    # ---- pieces ---------------------------------------------------------------
    def child_config(self, genotype) -> dict:
        """The child's config with ``genotype`` in its slot (a plain dict)."""
        cfg = copy.deepcopy(self.child)
        value = genotype.to_dict() if self.genotype_format == 'dict' else str(genotype)
        _lookup(cfg, self._parent_key)[self._slot] = value
        return cfg

    def build_model(self, genotype):
        """The child model, initialised, on the evaluator's device."""
        from mmengine.model import revert_sync_batchnorm
        from mmengine.registry import MODELS
        model = MODELS.build(self.child_config(genotype)['model'])
        if hasattr(model, 'init_weights'):
            model.init_weights()
        return revert_sync_batchnorm(model).to(self.device)

    def build_schedulers(self, optim) -> list:
        """The child's ``param_scheduler`` built for ``optim`` (as an mmengine Runner
        does: a missing ``end`` is the child's last iteration or epoch)."""
        from mmengine.registry import PARAM_SCHEDULERS
        epoch_len = math.ceil(len(self.train_set) / self.train_bs)
        out = []
        for s in self.child['param_scheduler']:
            s = copy.deepcopy(s)
            s.setdefault('end', math.ceil(self.train_iters / epoch_len)
                         if s.get('by_epoch', True) else self.train_iters)
            out.append(PARAM_SCHEDULERS.build(
                s, default_args=dict(optimizer=optim, epoch_length=epoch_len)))
        return out

    def _val_data(self):
        if self._val_cache is not None:
            return self._val_cache
        batches = local_loader(self.val_set, self.val_bs)
        if self.cache:
            batches = list(batches)
            self._val_cache = batches
        return batches

    def _log(self, msg):
        try:
            self.runner.logger.info(msg)
        except Exception:  # noqa: BLE001  (a bare runner stand-in in tests)
            print(msg, flush=True)

    # ---- evaluation -----------------------------------------------------------
    def train(self, model, seed: int):
        """Train ``model`` for ``train_iters`` iterations; returns ``(last_loss, failure)``
        where ``failure`` is None or a message (non-finite loss)."""
        from mmengine.optim import build_optim_wrapper
        optim = build_optim_wrapper(model, copy.deepcopy(self.child['optim_wrapper']))
        schedulers = self.build_schedulers(optim)
        model.train()
        loader, it, loss_val = None, 0, float('nan')
        epoch = 0
        while it < self.train_iters:
            loader = iter(local_loader(self.train_set, self.train_bs, shuffle_seed=seed + epoch))
            epoch += 1
            for data in loader:
                if it >= self.train_iters:
                    break
                log_vars = model.train_step(data, optim)
                loss = log_vars['loss']
                loss_val = float(loss.item() if torch.is_tensor(loss) else loss)
                it += 1
                if not math.isfinite(loss_val):
                    return loss_val, f'loss is {loss_val} at iteration {it}'
                if self.log_interval and it % self.log_interval == 0:
                    self._log(f'[proxy]   iter {it}/{self.train_iters}: loss {loss_val:.4f}')
                for s in schedulers:  # as mmengine's ParamSchedulerHook
                    if not s.by_epoch:
                        s.step()
            else:
                for s in schedulers:
                    if s.by_epoch:
                        s.step()
        return loss_val, None

    @torch.no_grad()
    def validate(self, model) -> dict:
        model.eval()
        clear_results(self.evaluator)
        for data in self._val_data():
            outputs = model.val_step(data)
            self.evaluator.process(data_samples=outputs, data_batch=data)
        return local_metrics(self.evaluator)

    def __call__(self, genotype) -> Result:
        seed = genotype_seed(self.seed, genotype)
        states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
        cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            t0 = time.time()
            model = self.build_model(genotype)
            n_params = sum(p.numel() for p in model.parameters())
            cost = {'params': int(n_params)}
            sub = self._parent_key.split('.', 1)[1] if '.' in self._parent_key else ''
            mod = model
            for part in sub.split('.') if sub else ():
                mod = getattr(mod, part, None)
            if isinstance(mod, torch.nn.Module) and mod is not model:
                cost['module_params'] = int(sum(p.numel() for p in mod.parameters()))
            loss, failure = self.train(model, seed)
            t1 = time.time()
            cost['train_seconds'] = round(t1 - t0, 3)
            if failure is not None:
                self._log(f'[proxy] {genotype}: failed: {failure}')
                return Result(self.failed_reward, {'failure': failure, 'seed': seed}, cost)
            metrics = self.validate(model)
            t2 = time.time()
            cost['val_seconds'] = round(t2 - t1, 3)
        finally:
            random.setstate(states[0])
            np.random.set_state(states[1])
            torch.set_rng_state(states[2])
            if cuda_states is not None:
                torch.cuda.set_rng_state_all(cuda_states)
        self.timing['train'] += t1 - t0
        self.timing['val'] += t2 - t1
        self.timing['n'] += 1
        reward, clean = reward_from_metrics(metrics, self.metric)
        clean.update({'final_loss': loss, 'seed': seed})
        return Result(reward, clean, cost)
