"""``SupernetEvaluator``: paths of a trained one-shot supernet scored by validation, after
their BN statistics are re-estimated (:func:`recalibrate_bn`)."""
from __future__ import annotations

import contextlib
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from ...strategies.driver import Result
from .base import (build_dataset, check_int, clear_results, local_metrics,
                   register_evaluator, reward_from_metrics, unwrap)
from .scoring import (BatchLanes, Profile, RNGScope, SeededSamples, detections_cap,
                      forward_until, nbytes, overlappable, resolve_coco_backend, split_nms,
                      timed_postprocess, topk_select, usable_cores)


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
    return ``metric`` as the reward. The same training batches (a seeded sample, the random
    transforms of its image ``i`` drawn from generators seeded with ``(seed, i)``) and val
    images serve every candidate, so candidates are compared on equal terms; they do not
    depend on ``num_workers``.

    The speed-up switches below change the time a candidate takes, never its reward: each
    gives the same reward with it on and off (``tests/engine/test_search_speedups.py``; figures
    in ``docs/experiments/search_throughput.md``). ``profile`` (a
    :class:`~nas_det.engine.evaluators.scoring.Profile`) holds where the time went.

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
        num_workers (int, optional): worker processes that read, decode and transform the
            recalibration and val images (each loader's own, kept from one candidate to the
            next while its set is not cached). Defaults to None: each of the config's
            ``train_dataloader`` and ``val_dataloader`` has its ``num_workers``.
        cache_batches (bool): keep the recalibration and val batches in memory after the
            first candidate, decoded, transformed and through the model's data
            preprocessor, so later candidates read no image again. Defaults to True.
        cache_max_mb (int): the cap of that cache, in MiB, for both sets together: a set
            that would take it over is read again for every candidate instead (a warning
            says so). Defaults to 2048.
        stop_bn_forward (bool): end each recalibration forward once the searchable
            modules have run (the BN layers re-estimated are inside them; for DetNAS the
            neck and head are skipped). Defaults to True.
        split_nms (bool): the heads' class-aware NMS class by class
            (:func:`~nas_det.engine.evaluators.scoring.split_batched_nms`: mmcv's result, fewer box
            pairs compared). Defaults to True.
        topk_select (bool): the heads' selection of the highest scores per level
            (mmdet's ``filter_scores_and_topk``) by ``torch.topk`` where that gives the
            full sort's result, else by that sort
            (:func:`~nas_det.engine.evaluators.scoring.topk_filter_scores`; CPU only).
            Defaults to True.
        overlap_postprocess (bool): for single-stage detectors (mmdet's own ``predict``:
            RetinaNet, FCOS, ATSS, ...), each val batch's post-processing and metric run
            in a second thread while the next batch's forward runs (the same detections
            in the same order; a candidate takes less wall time wherever a core is idle
            while the other works, as during single-threaded NMS). Defaults to True.
        parallel_batches (int, optional): for those single-stage detectors on a CPU, val
            batches predicted at once (forward and post-processing), each in its own
            thread with the process's torch thread count, so each operation does the
            arithmetic of a one-batch-at-a-time pass (the same detections, bit for bit);
            the metric takes them in order. Two batches keep two cores busier than one
            batch's multi-threaded operations do. Each batch in flight holds its own
            activations. Defaults to None: 2 where the model is on a CPU and the process
            may use more than one core, else 1 (one batch at a time, with
            ``overlap_postprocess``).
        coco_backend (str): ``'auto'``, ``'pycocotools'`` or ``'faster-coco-eval'``: what
            computes COCO metrics (:func:`~nas_det.engine.evaluators.local_metrics`);
            ``'auto'`` takes the optional faster-coco-eval package where it is installed.
            Defaults to 'auto'.
        max_per_img (int, optional): keep at most this many detections per val image
            (the head's ``test_cfg.max_per_img`` while scoring; COCO evaluation and
            DetNAS's use 100, as mmdet's detectors do). Defaults to None (the model's
            setting).
        seed (int): seed of the sample of training batches and of their random
            transforms. Defaults to 0.
    """

    BN_MODES = ('recalibrate', 'train')

    def __init__(self, runner, modules, metric: str = 'coco/bbox_mAP',
                 bn_mode: str = 'recalibrate', bn_batches: int = 20,
                 num_val_images: int | None = None, batch_size: int | None = None,
                 num_workers: int | None = None, cache_batches: bool = True,
                 cache_max_mb: int = 2048, stop_bn_forward: bool = True, split_nms: bool = True,
                 topk_select: bool = True, overlap_postprocess: bool = True,
                 parallel_batches: int | None = None, coco_backend: str = 'auto',
                 max_per_img: int | None = None, seed: int = 0):
        if bn_mode not in self.BN_MODES:
            raise ValueError(f'evaluator.bn_mode: {bn_mode!r} is not allowed; allowed values: '
                             f'{list(self.BN_MODES)}')
        check_int('bn_batches', bn_batches, allow_zero=True)
        if bn_mode == 'recalibrate' and bn_batches == 0:
            raise ValueError("evaluator.bn_batches: must be > 0 with bn_mode='recalibrate'")
        check_int('num_val_images', num_val_images, allow_none=True)
        check_int('num_workers', num_workers, allow_none=True, allow_zero=True)
        check_int('cache_max_mb', cache_max_mb, allow_zero=True)
        check_int('max_per_img', max_per_img, allow_none=True)
        check_int('parallel_batches', parallel_batches, allow_none=True)
        for name, value in (('cache_batches', cache_batches), ('stop_bn_forward', stop_bn_forward),
                            ('split_nms', split_nms), ('topk_select', topk_select),
                            ('overlap_postprocess', overlap_postprocess)):
            if not isinstance(value, bool):
                raise ValueError(f'evaluator.{name}: True or False is expected, got {value!r}')
        self.coco_backend = resolve_coco_backend(coco_backend)
        self.runner = runner
        self.modules = modules
        self.metric = metric
        self.bn_mode = bn_mode
        self.bn_batches = bn_batches
        self.seed = seed
        self.cache = cache_batches
        self.cache_max_mb = cache_max_mb
        self.stop_bn_forward = stop_bn_forward
        self.split_nms = split_nms
        self.topk_select = topk_select
        self.overlap_postprocess = overlap_postprocess
        self.parallel_batches = parallel_batches
        self._lanes = None          # BatchLanes of parallel_batches, kept across candidates
        self._warned_lanes = False
        self.max_per_img = max_per_img
        cfg = runner.cfg
        train_dl, val_dl = cfg.train_dataloader, cfg.val_dataloader
        self.train_set = build_dataset(train_dl['dataset'])
        self.val_set = build_dataset(val_dl['dataset'], num_val_images)
        self.train_bs = batch_size or train_dl.get('batch_size', 2)
        self.val_bs = batch_size or val_dl.get('batch_size', 1)
        self.workers = {kind: dl.get('num_workers', 0) if num_workers is None else num_workers
                        for kind, dl in (('bn', train_dl), ('val', val_dl))}
        self._loaders = {}          # 'bn' / 'val': loaders kept while their set streams
        self.evaluator = runner.build_evaluator(cfg.val_evaluator)
        meta = getattr(self.val_set, 'metainfo', None)
        if meta is not None:
            self.evaluator.dataset_meta = meta
        self._cached = {}           # 'bn' / 'val': batches kept in memory
        self._uncacheable = set()   # the sets over the cap: read for every candidate
        self._target_calls = None   # calls of the searchable modules in one forward
        self.timing = {'bn': 0.0, 'val': 0.0, 'n': 0}
        self.profile = Profile()
        self.last_detections = 0    # detections of the last candidate (all val images)

    def _loader(self, kind: str):
        """The loader of the recalibration (``'bn'``: the first ``bn_batches`` batches of a
        permutation of the training set seeded with ``seed``) or val batches, built once
        (its workers, if any, persist) and dropped when its set is cached."""
        loader = self._loaders.get(kind)
        if loader is None:
            from mmengine.dataset import pseudo_collate
            from torch.utils.data import DataLoader
            if kind == 'bn':
                dataset, bs, seed = self.train_set, self.train_bs, self.seed
                order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(
                    self.seed)).tolist()[:self.bn_batches * bs]
            else:
                dataset, bs, seed = self.val_set, self.val_bs, self.seed + 1
                order = list(range(len(dataset)))
            workers = self.workers[kind]
            loader = DataLoader(SeededSamples(dataset, seed), batch_size=bs, sampler=order,
                                num_workers=workers, persistent_workers=workers > 0,
                                collate_fn=pseudo_collate)
            self._loaders[kind] = loader
        return loader

    def _batches(self, kind: str, model):
        """Yield ``(batch, preprocessed)``: the recalibration (``'bn'``) or val batches,
        from the cache when it holds them, else read under the private random state (and
        cached within ``cache_max_mb``). A batch is preprocessed once, here, unless the
        data preprocessor has random batch augments in training mode."""
        if kind in self._cached:
            for batch in self._cached[kind]:
                yield batch, True
            return
        training = kind == 'bn'
        preprocess = not (training and getattr(model.data_preprocessor, 'batch_augments', None))
        keep = [] if self.cache and kind not in self._uncacheable and preprocess else None
        limit = self.cache_max_mb * 2**20 - sum(nbytes(b) for b in self._cached.values())
        size = 0
        rng = RNGScope(self.seed if training else self.seed + 1)
        t = (time.perf_counter(), time.process_time())
        with rng:
            batches = iter(self._loader(kind))
        count = 0
        while not training or count < self.bn_batches:
            with rng:
                batch = next(batches, None)
            if batch is None:
                break
            if preprocess:
                batch = model.data_preprocessor(batch, training)
            self.profile.add('data', time.perf_counter() - t[0], time.process_time() - t[1])
            if keep is not None:
                size += nbytes(batch)
                if size > limit:
                    keep = None
                    self._uncacheable.add(kind)
                    warnings.warn(f'evaluator: the {"recalibration" if training else "val"} '
                                  f'batches take more than cache_max_mb={self.cache_max_mb} MiB '
                                  'with the cache: they are read again for every candidate')
                else:
                    keep.append(batch)
            yield batch, preprocess
            count += 1
            t = (time.perf_counter(), time.process_time())
        if keep is not None:
            self._cached[kind] = keep
            self._loaders.pop(kind, None)  # (its workers end)

    def _recalibrate(self, model, targets) -> None:
        """:func:`recalibrate_bn` on the recalibration batches, each forward ended after
        the searchable modules with ``stop_bn_forward``."""
        modes = [(m, m.training) for m in model.modules()]
        model.eval()
        try:
            with bn_recalibration(targets):
                for data, preprocessed in self._batches('bn', model):
                    with self.profile.part('bn'):
                        if not preprocessed:
                            data = model.data_preprocessor(data, True)
                        calls = self._target_calls if self.stop_bn_forward else None
                        seen = forward_until(model, data, targets, calls)
                        if self._target_calls is None:
                            self._target_calls = seen
        finally:
            for m, training in modes:
                m.training = training

    def lanes_for(self, model) -> int:
        """Val batches predicted at once for ``model`` (``parallel_batches``, resolved)."""
        if not overlappable(model):
            if (self.parallel_batches or 1) > 1 and not self._warned_lanes:
                self._warned_lanes = True
                warnings.warn(f'evaluator.parallel_batches={self.parallel_batches}: '
                              f'{type(model).__name__} is scored one batch at a time (only '
                              "single-stage detectors with mmdet's predict predict batches "
                              'at once)')
            return 1
        if self.parallel_batches is not None:
            return self.parallel_batches
        on_cpu = all(p.device.type == 'cpu' for p in model.parameters())
        return 2 if on_cpu and usable_cores() > 1 else 1

    def _validate(self, model) -> dict:
        prof = self.profile
        self.last_detections = 0
        lanes = self.lanes_for(model)
        overlap = self.overlap_postprocess and overlappable(model)
        clear_results(self.evaluator)
        with split_nms(self.split_nms), topk_select(self.topk_select), \
                detections_cap(model, self.max_per_img):
            if lanes > 1:
                self._validate_lanes(model, lanes)
            elif overlap:
                self._validate_overlapped(model)
            else:
                with timed_postprocess(model, prof):
                    self._validate_in_turn(model)
        with prof.part('metric'):
            return local_metrics(self.evaluator, self.coco_backend)

    def _process(self, outputs, data) -> None:
        self.last_detections += sum(len(getattr(o, 'pred_instances', ())) for o in outputs)
        self.evaluator.process(data_samples=outputs, data_batch=data)

    def _validate_in_turn(self, model) -> None:
        prof = self.profile
        for data, preprocessed in self._batches('val', model):
            w, c = time.perf_counter(), time.process_time()
            pw, pc = prof.wall['postprocess'], prof.cpu['postprocess']
            if preprocessed:
                outputs = model._run_forward(data, mode='predict')
            else:
                outputs = model.val_step(data)
            prof.add('forward', time.perf_counter() - w - (prof.wall['postprocess'] - pw),
                     time.process_time() - c - (prof.cpu['postprocess'] - pc))
            with prof.part('metric'):
                self._process(outputs, data)

    @staticmethod
    def _forward(model, data, preprocessed):
        """A val batch (preprocessed here unless it was) and the head's raw outputs on it:
        the first half of mmdet's single-stage ``predict``."""
        if not preprocessed:
            data = model.data_preprocessor(data, False)
        return data, model.bbox_head(model.extract_feat(data['inputs']))

    @staticmethod
    def _postprocess(model, outs, data):
        """The second half: the head's ``predict_by_feat`` on its raw outputs (boxes
        rescaled to the original images) and the detections put in the data samples."""
        samples = data['data_samples']
        results = model.bbox_head.predict_by_feat(
            *outs, batch_img_metas=[s.metainfo for s in samples], rescale=True)
        return model.add_pred_to_datasample(samples, results)

    def _cpu_apart(self) -> float:
        """CPU time the profile has from the reading and the parts timed in their own
        threads (the rest of a val pass's process CPU time is the forwards')."""
        prof = self.profile
        return prof.cpu['data'] + prof.cpu['postprocess'] + prof.cpu['metric']

    def _validate_overlapped(self, model) -> None:
        """The val batches of a single-stage detector with the post-processing and metric
        of each batch in a second thread while the next batch's forward runs: what
        mmdet's ``predict`` does, in the same order (one batch at a time in that thread,
        at most one batch waiting), so the same detections reach the metric in the same
        order. Profile: ``postprocess`` and ``metric`` are that thread's wall and CPU
        time, ``forward`` the wall time of the forwards and the rest of the process's
        CPU time (the parts' wall times overlap)."""
        prof = self.profile

        @torch.no_grad()  # (grad mode is per thread)
        def finish(outs, data):
            w, c = time.perf_counter(), time.thread_time()
            outputs = self._postprocess(model, outs, data)
            w2, c2 = time.perf_counter(), time.thread_time()
            self._process(outputs, data)
            w3, c3 = time.perf_counter(), time.thread_time()
            prof.add('postprocess', w2 - w, c2 - c)
            prof.add('metric', w3 - w2, c3 - c2)

        pending = None
        c0, apart0 = time.process_time(), self._cpu_apart()
        with ThreadPoolExecutor(1, thread_name_prefix='nas_det_postprocess') as pool:
            try:
                for data, preprocessed in self._batches('val', model):
                    w = time.perf_counter()
                    data, outs = self._forward(model, data, preprocessed)
                    prof.add('forward', time.perf_counter() - w, 0.0)
                    if pending is not None:
                        pending.result()
                    pending = pool.submit(finish, outs, data)
            except BaseException:
                if pending is not None:
                    pending.exception()  # (waits; the error raised here is the one to see)
                raise
            if pending is not None:
                pending.result()
        prof.add('forward', 0.0, time.process_time() - c0 - (self._cpu_apart() - apart0))

    def _validate_lanes(self, model, lanes: int) -> None:
        """The val batches of a single-stage detector ``lanes`` at a time, each predicted
        (forward, then post-processing, as mmdet's ``predict``) in a thread of
        :class:`~nas_det.engine.evaluators.scoring.BatchLanes`; the metric takes them here,
        in order. Profile: ``forward`` and ``postprocess`` are the threads' wall times
        summed (they overlap) and ``postprocess`` their own CPU time; ``metric`` is this
        thread's; ``forward`` has the rest of the process's CPU time."""
        prof = self.profile
        if self._lanes is None or self._lanes.lanes != lanes:
            self._lanes = BatchLanes(lanes)

        def predict(item):
            w = time.perf_counter()
            data, outs = self._forward(model, *item)
            w1, c1 = time.perf_counter(), time.thread_time()
            outputs = self._postprocess(model, outs, data)
            prof.add('forward', w1 - w, 0.0)
            prof.add('postprocess', time.perf_counter() - w1, time.thread_time() - c1)
            return data, outputs

        def take(item, result):
            with prof.part('metric', time.thread_time):
                self._process(result[1], result[0])

        c0, apart0 = time.process_time(), self._cpu_apart()
        self._lanes.run(self._batches('val', model), predict, take)
        prof.add('forward', 0.0, time.process_time() - c0 - (self._cpu_apart() - apart0))

    @torch.no_grad()
    def __call__(self, genotype) -> Result:
        model = unwrap(self.runner.model)
        self.modules[0][1].set_choices(genotype)
        targets = [m for _, m in self.modules]
        t0 = time.time()
        if self.bn_mode == 'recalibrate':
            self._recalibrate(model, targets)
        t1 = time.time()
        model.eval()
        if self.bn_mode == 'train':
            for mod in targets:
                for m in mod.modules():
                    if isinstance(m, _BatchNorm):
                        m.train()
        try:
            metrics = self._validate(model)
        finally:
            model.eval()
        t2 = time.time()
        self.timing['bn'] += t1 - t0
        self.timing['val'] += t2 - t1
        self.timing['n'] += 1
        self.profile.n += 1
        reward, clean = reward_from_metrics(metrics, self.metric)
        return Result(reward, clean, {'bn_seconds': round(t1 - t0, 3),
                                      'val_seconds': round(t2 - t1, 3)})
