"""The cost of scoring one supernet candidate, and exact ways to cut it (issue 22).

:class:`~nas_det.engine.evaluators.SupernetEvaluator` scores a path by (re-estimating BN
statistics and) validating the supernet on a fixed set of images. Its time goes to five
parts, recorded by :class:`Profile`: ``data`` (reading, decoding, transforming, collating
and preprocessing batches), ``bn`` (the recalibration forwards), ``forward`` (the val
forwards, post-processing excluded), ``postprocess`` (the heads' ``predict_by_feat``: box
decoding, score filtering, NMS) and ``metric`` (the metric's ``process`` and the COCO
evaluation).

Every speed-up here leaves the reward unchanged, by construction:

- :class:`SeededSamples` and :class:`RNGScope`: image ``i`` of a search's batches is read
  (its random transforms drawn) under generators seeded with ``(seed, i)``, and a loader
  is started under a private seeded random state, so a batch streamed again for every
  candidate, by worker processes or not, is the batch that a cached search keeps, and
  reading leaves the global random state alone;
- :func:`forward_until`: a recalibration forward stops once the searchable modules have
  run (the BN layers re-estimated are all inside them; what follows cannot change them);
- :func:`split_batched_nms`: mmcv's ``batched_nms`` class by class, in the order of mmcv's
  own sort, so the greedy NMS compares each box with the boxes of its class only (the
  class offsets already keep boxes of other classes from overlapping): the same boxes,
  in the same order, far fewer box pairs;
- :func:`topk_filter_scores`: a level's highest scores found by ``torch.topk`` where no
  tie at the top can make the full sort's order differ (else that sort);
- :func:`coco_eval_class`: ``faster-coco-eval`` (an optional package, C++) instead of
  pycocotools' Python ``COCOeval``: the same statistics to the last bits of a double;
- :class:`BatchLanes`: val batches predicted at once, each in its own thread with the
  process's torch thread count (the arithmetic of every operation, and so every bit of
  its result, is what one batch at a time gives), the metric taking them in order.
"""
from __future__ import annotations

import collections
import contextlib
import os
import random
import sys
import threading
import time
import warnings
import weakref
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np
import torch

PARTS = ('data', 'bn', 'forward', 'postprocess', 'metric')
"""The parts of a candidate's scoring time, in the order they happen."""

COCO_BACKENDS = ('auto', 'pycocotools', 'faster-coco-eval')
"""``coco_backend`` values: ``'auto'`` is faster-coco-eval where it imports, else
pycocotools."""


class Profile:
    """Seconds spent per part of the scoring (:data:`PARTS`), summed over candidates, in
    wall clock (``wall``) and in this process's CPU time (``cpu``; all its threads).
    Threads may add to it at once."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.wall = dict.fromkeys(PARTS, 0.0)
        self.cpu = dict.fromkeys(PARTS, 0.0)
        self.n = 0

    def add(self, part: str, wall: float, cpu: float) -> None:
        with self._lock:
            self.wall[part] += wall
            self.cpu[part] += cpu

    @contextlib.contextmanager
    def part(self, name: str, cpu_clock=time.process_time):
        """Time the body as part ``name`` (CPU time by ``cpu_clock``: the process's, or
        ``time.thread_time`` for the calling thread's alone)."""
        w, c = time.perf_counter(), cpu_clock()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - w, cpu_clock() - c)

    def per_candidate(self) -> dict:
        """``{'wall': {part: s}, 'cpu': {part: s}, 'n': n}``: means over the candidates."""
        n = max(self.n, 1)
        return {'wall': {k: v / n for k, v in self.wall.items()},
                'cpu': {k: v / n for k, v in self.cpu.items()}, 'n': self.n}


@contextlib.contextmanager
def timed_postprocess(model, profile: Profile):
    """Inside: every ``predict_by_feat`` of ``model``'s modules (a head's box decoding,
    filtering and NMS) adds its time to ``profile``'s ``postprocess`` part (outermost calls
    only). The caller subtracts it from the forward pass it was part of."""
    depth = [0]
    wrapped = []

    def wrap(fn):
        def timed(*args, **kwargs):
            if depth[0]:
                return fn(*args, **kwargs)
            depth[0] += 1
            try:
                with profile.part('postprocess'):
                    return fn(*args, **kwargs)
            finally:
                depth[0] -= 1
        return timed

    for mod in model.modules():
        fn = getattr(mod, 'predict_by_feat', None)
        if callable(fn) and 'predict_by_feat' not in vars(mod):
            mod.predict_by_feat = wrap(fn)
            wrapped.append(mod)
    try:
        yield
    finally:
        for mod in wrapped:
            del mod.predict_by_feat


def _rng_state():
    return random.getstate(), np.random.get_state(), torch.default_generator.get_state()


def _set_rng_state(state) -> None:
    random.setstate(state[0])
    np.random.set_state(state[1])
    torch.default_generator.set_state(state[2])


class RNGScope:
    """A private random state for Python's ``random``, numpy's global RNG and torch's CPU
    generator, seeded with ``seed``: inside ``with scope:`` it replaces the global state
    (which is put back on exit, and the private one kept for the next entry).

    Data pipelines draw their random transforms (flips, crops) from these generators, and
    a ``DataLoader`` draws its base seed from torch's: read under a scope, the same batches
    come out every time the loader is read again from the start, and the reading does not
    move the global random state.
    """

    def __init__(self, seed: int):
        outer = _rng_state()
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.default_generator.manual_seed(seed)
        self.state = _rng_state()
        _set_rng_state(outer)
        self._outer = []

    def __enter__(self):
        self._outer.append(_rng_state())
        _set_rng_state(self.state)
        return self

    def __exit__(self, *exc):
        self.state = _rng_state()
        _set_rng_state(self._outer.pop())
        return False


@contextlib.contextmanager
def sample_rng(seed: int, index: int):
    """Inside: Python's ``random``, numpy's global RNG and torch's CPU generator are seeded
    with ``(seed, index)``; on exit the state they had is put back."""
    outer = _rng_state()
    seed, index = int(seed) % 2**32, int(index) % 2**32
    random.seed(seed << 32 | index)
    np.random.seed([seed, index])
    torch.default_generator.manual_seed(seed << 32 | index)
    try:
        yield
    finally:
        _set_rng_state(outer)


class SeededSamples(torch.utils.data.Dataset):
    """``dataset`` whose item ``i`` is read (and its random transforms drawn: flips,
    crops, resizes) under generators seeded with ``(seed, i)`` (:func:`sample_rng`).

    An item is then the same whichever process reads it and whatever was read before:
    a loader with worker processes gives the batches that one without gives, and a batch
    read again gives the batch that was read the first time.
    """

    def __init__(self, dataset, seed: int):
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index):
        with sample_rng(self.seed, index):
            return self.dataset[index]


def nbytes(obj) -> int:
    """Bytes of the tensors and arrays in ``obj`` (nested dicts, lists, tuples and
    mmengine data elements)."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, dict):
        return sum(nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(nbytes(v) for v in obj)
    items = getattr(obj, 'all_items', None)
    if callable(items):  # BaseDataElement: data fields and metainfo
        return sum(nbytes(v) for _, v in items())
    return 0


class _StopForward(Exception):
    """Raised by a forward hook to end a forward pass early."""


def forward_until(model, data, targets, calls=None) -> list:
    """``model._run_forward(data, mode='tensor')``, ended as soon as every module of
    ``targets`` has run ``calls[i]`` times (the whole pass when ``calls`` is None).

    Returns how often each target ran. A BN recalibration passes the calls counted on a
    whole first pass: the rest of the network (a detector's neck and head after a
    searchable backbone) cannot change the statistics re-estimated inside the targets.
    """
    seen = [0] * len(targets)
    done = calls is not None and any(calls)

    def hook(i):
        def count(module, args, output):
            seen[i] += 1
            if done and all(s >= c for s, c in zip(seen, calls)):
                raise _StopForward
        return count

    handles = [m.register_forward_hook(hook(i)) for i, m in enumerate(targets)]
    try:
        model._run_forward(data, mode='tensor')
    except _StopForward:
        pass
    finally:
        for h in handles:
            h.remove()
    return seen


def _mmcv_batched_nms():
    from mmcv.ops import batched_nms
    return batched_nms


_NMS_EXT = []


def _nms_ext():
    if not _NMS_EXT:
        from mmcv.utils import ext_loader
        _NMS_EXT.append(ext_loader.load_ext('_ext', ['nms']))
    return _NMS_EXT[0]


def _splittable(boxes, nms_cfg, class_agnostic) -> bool:
    """Whether :func:`split_batched_nms` gives mmcv's exact result for these arguments:
    plain NMS (IoU threshold and offset only) on CPU axis-aligned boxes, per class, below
    mmcv's ``split_thr``, with non-negative coordinates (so mmcv's class offsets keep the
    classes apart)."""
    if not nms_cfg or boxes.device.type != 'cpu' or boxes.dim() != 2 or boxes.size(-1) != 4:
        return False
    cfg = dict(nms_cfg)
    if cfg.pop('type', 'nms') != 'nms' or cfg.pop('class_agnostic', class_agnostic):
        return False
    if boxes.size(0) >= cfg.pop('split_thr', 10000) or boxes.size(0) < 2:
        return False
    if cfg.pop('score_threshold', 0) or cfg.pop('max_num', -1) > 0:
        return False
    if not set(cfg) <= {'iou_threshold', 'iou_thr', 'offset'}:
        return False
    return bool(boxes.min() >= 0)


def split_batched_nms(boxes, scores, idxs, nms_cfg, class_agnostic: bool = False):
    """mmcv's ``batched_nms`` (``(dets, keep)``, the same values), computed class by class.

    mmcv shifts each class's boxes by ``class * (max coordinate + 1)`` and runs one greedy
    NMS over all of them, in the order of ``scores.sort(descending=True)``: a kept box is
    compared with every later box, though boxes of other classes cannot overlap it. Here
    the same shifted boxes go through the same NMS kernel one class at a time, in the
    order of that same sort (passed to the kernel as strictly decreasing ranks, so its own
    sort keeps it; torch's CPU sort is not stable, so ties must keep mmcv's order), and
    the kept boxes are put back in that order. Anything else (other NMS types, rotated or
    negative boxes, GPU tensors, score thresholds inside NMS) goes to mmcv unchanged.
    """
    if not _splittable(boxes, nms_cfg, class_agnostic):
        return _mmcv_batched_nms()(boxes, scores, idxs, nms_cfg, class_agnostic)
    cfg = dict(nms_cfg)
    iou = float(cfg.get('iou_threshold', cfg.get('iou_thr')))
    offset = int(cfg.get('offset', 0))
    max_coordinate = boxes.max()
    offsets = idxs.to(boxes) * (max_coordinate + torch.tensor(1).to(boxes))
    boxes_for_nms = boxes + offsets[:, None]
    order = scores.sort(descending=True)[1]  # the sort mmcv's kernel makes
    cls_sorted = idxs[order]
    ext = _nms_ext()
    kept = []
    for c in torch.unique(cls_sorted).tolist():
        sel = order[cls_sorted == c]
        ranks = torch.arange(sel.numel(), 0, -1, dtype=scores.dtype)
        kept.append(sel[ext.nms(boxes_for_nms[sel], ranks, iou_threshold=iou, offset=offset)])
    keep = torch.cat(kept)
    position = torch.empty_like(order)
    position[order] = torch.arange(order.numel())
    keep = keep[position[keep].argsort()]
    return torch.cat([boxes[keep], scores[keep][:, None]], -1), keep


@contextlib.contextmanager
def _mmdet_name_swapped(attr: str, original, replacement, keep: tuple = ()):
    """Inside: every imported ``mmdet.*`` module (but those in ``keep``) whose ``attr`` is
    ``original`` holds ``replacement`` instead; on exit each gets ``original`` back."""
    patched = []
    for name, mod in list(sys.modules.items()):
        if (name.startswith('mmdet.') and name not in keep
                and getattr(mod, attr, None) is original):
            setattr(mod, attr, replacement)
            patched.append(mod)
    try:
        yield
    finally:
        for mod in patched:
            setattr(mod, attr, original)


@contextlib.contextmanager
def split_nms(enabled: bool = True):
    """Inside: mmdet's heads call :func:`split_batched_nms` where they called mmcv's
    ``batched_nms`` (the name each imported mmdet module holds is swapped, and put back
    on exit)."""
    if not enabled:
        yield
        return
    with _mmdet_name_swapped('batched_nms', _mmcv_batched_nms(), split_batched_nms):
        yield


def _mmdet_filter_scores_and_topk():
    from mmdet.models.utils import misc
    return misc.filter_scores_and_topk


_TOPK_STATE = {'rate': 1.0, 'calls': 0, 'hits': 0}
"""How often ``torch.topk`` gave the selection lately (``rate``, a moving average), calls
and selections made by it (``hits``): where the top scores keep tying (an untrained head)
the selection sorts at once, trying ``topk`` again every :data:`_TOPK_PROBE` calls."""
_TOPK_LOCK = threading.Lock()  # (the threads of BatchLanes select at once)
_TOPK_MIN_RATE = 0.1  # topk costs a tenth of the sort: below this rate it does not pay
_TOPK_PROBE = 16


def topk_filter_scores(scores, score_thr, topk, results=None):
    """mmdet's ``filter_scores_and_topk`` (the same tensors, bit for bit), with the
    ``topk`` highest scores found by ``torch.topk`` instead of a full sort where that is
    exact.

    mmdet sorts every score above ``score_thr`` (up to ``num_anchors x num_classes`` of
    a level, 92,160 for RetinaNet on a 256-pixel image) to keep the first ``topk``.
    ``torch.topk(topk + 1)`` costs a tenth of that sort on a CPU; where its ``topk + 1``
    values strictly decrease, the first ``topk`` are the only possible ones, in the only
    possible order, so they equal the first ``topk`` of the sort. Where they tie, the
    unstable sort's order of the tied scores decides which boxes are kept and in what
    order, so the full sort runs as mmdet's does (at once while ties are the rule:
    :data:`_TOPK_STATE`). GPU tensors, where a sort is the faster, go to mmdet unchanged.
    """
    if scores.device.type != 'cpu':
        return _mmdet_filter_scores_and_topk()(scores, score_thr, topk, results)
    valid_mask = scores > score_thr
    if scores.dim() == 2 and bool(valid_mask.all()):
        # every score is above the threshold (a low one): the masked copy would hold the
        # same values in the same order, and its indices would be (i // C, i % C)
        num_classes, valid_idxs = scores.size(1), None
        scores = scores.reshape(-1)
        num_topk = min(topk, scores.numel())
    else:
        scores = scores[valid_mask]
        valid_idxs = torch.nonzero(valid_mask)
        num_topk = min(topk, valid_idxs.size(0))
    idxs = None
    state = _TOPK_STATE
    if 0 < num_topk < scores.numel():
        with _TOPK_LOCK:
            state['calls'] += 1
            attempt = state['rate'] >= _TOPK_MIN_RATE or state['calls'] % _TOPK_PROBE == 0
        if attempt:
            top, top_idxs = scores.topk(num_topk + 1)
            exact = bool((top[:-1] > top[1:]).all())
            with _TOPK_LOCK:
                state['rate'] = 0.8 * state['rate'] + 0.2 * exact
                state['hits'] += exact
            if exact:
                scores, idxs = top[:num_topk], top_idxs[:num_topk]
    if idxs is None:
        scores, idxs = scores.sort(descending=True)
        scores, idxs = scores[:num_topk], idxs[:num_topk]
    if valid_idxs is None:
        keep_idxs, labels = torch.div(idxs, num_classes, rounding_mode='floor'), idxs % num_classes
    else:
        keep_idxs, labels = valid_idxs[idxs].unbind(dim=1)
    filtered_results = None
    if results is not None:
        if isinstance(results, dict):
            filtered_results = {k: v[keep_idxs] for k, v in results.items()}
        elif isinstance(results, list):
            filtered_results = [result[keep_idxs] for result in results]
        elif isinstance(results, torch.Tensor):
            filtered_results = results[keep_idxs]
        else:  # (as mmdet's)
            raise NotImplementedError('results: a dict, list or Tensor is expected, got '
                                      f'{type(results).__name__}')
    return scores, labels, keep_idxs, filtered_results


@contextlib.contextmanager
def topk_select(enabled: bool = True):
    """Inside: mmdet's heads call :func:`topk_filter_scores` where they called mmdet's
    ``filter_scores_and_topk`` (the name each imported mmdet module holds is swapped, and
    put back on exit; the fallback's own module keeps it)."""
    if not enabled:
        yield
        return
    with _mmdet_name_swapped('filter_scores_and_topk', _mmdet_filter_scores_and_topk(),
                             topk_filter_scores, keep=('mmdet.models.utils.misc',)):
        yield


def overlappable(model) -> bool:
    """Whether ``model`` predicts as mmdet's single-stage detectors do: ``predict`` is
    ``SingleStageDetector.predict`` (features, then ``bbox_head.predict``) and the head's
    ``predict`` is ``BaseDenseHead.predict`` (its forward, then ``predict_by_feat``), so
    the forward and the post-processing of a batch can run apart."""
    try:
        from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
        from mmdet.models.detectors.single_stage import SingleStageDetector
    except ImportError:
        return False
    head = getattr(model, 'bbox_head', None)
    return (isinstance(model, SingleStageDetector) and isinstance(head, BaseDenseHead)
            and type(model).predict is SingleStageDetector.predict
            and type(head).predict is BaseDenseHead.predict
            and 'predict' not in vars(model) and 'predict' not in vars(head))


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # (no affinity on this platform)
        return os.cpu_count() or 1


class BatchLanes:
    """``lanes`` threads that predict batches at once (:meth:`run`). Each runs with the
    torch thread count of the calling thread (set in it where it differs) and its grad
    mode, so an operation's arithmetic, and with it every bit of its result, is what one
    batch at a time gives. The threads persist from one :meth:`run` to the next (a
    thread's first operations pay for its OpenMP team and kernels' set-up)."""

    def __init__(self, lanes: int):
        self.lanes = lanes
        self._pool = None

    def run(self, items, predict, take) -> None:
        """``predict(item)`` for each of ``items`` in the threads (at most ``lanes`` at
        once, one more waiting), ``take(item, result)`` here in the items' order. An error
        of either is the one raised, once no thread is predicting any more."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.lanes, thread_name_prefix='nas_det_lane')
            weakref.finalize(self, self._pool.shutdown, wait=False)
        threads, grad = torch.get_num_threads(), torch.is_grad_enabled()

        def task(item):
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
            with torch.set_grad_enabled(grad):
                return predict(item)

        pending = collections.deque()
        try:
            for item in items:
                pending.append((item, self._pool.submit(task, item)))
                if len(pending) > self.lanes:
                    first, fut = pending.popleft()
                    take(first, fut.result())
            while pending:
                first, fut = pending[0]
                take(first, fut.result())
                pending.popleft()
        finally:
            for _, fut in pending:
                fut.cancel()
            wait([fut for _, fut in pending])


_WARNED = set()


def resolve_coco_backend(name: str) -> str:
    """``'pycocotools'`` or ``'faster-coco-eval'``: what ``coco_backend=name`` runs here
    (``'auto'`` and ``'faster-coco-eval'`` fall back to pycocotools, the latter with a
    warning, where the ``faster_coco_eval`` package does not import)."""
    if name not in COCO_BACKENDS:
        raise ValueError(f'evaluator.coco_backend: {name!r} is not allowed; allowed values: '
                         f'{list(COCO_BACKENDS)}')
    if name == 'pycocotools':
        return name
    try:
        import faster_coco_eval  # noqa: F401
    except ImportError:
        if name == 'faster-coco-eval' and name not in _WARNED:
            _WARNED.add(name)
            warnings.warn("evaluator.coco_backend='faster-coco-eval': the package does not "
                          'import here (pip install faster-coco-eval, see '
                          'requirements/optional.txt); pycocotools computes the metric')
        return 'pycocotools'
    return 'faster-coco-eval'


_FAST = []


def coco_eval_class(backend: str):
    """The ``COCOeval`` class that mmdet's ``CocoMetric`` should use for ``backend``
    (a :func:`resolve_coco_backend` result), or None for its own (pycocotools)."""
    if backend != 'faster-coco-eval':
        return None
    if not _FAST:
        from faster_coco_eval import COCOeval_faster

        class FasterCOCOeval(COCOeval_faster):
            """faster-coco-eval's C++ ``COCOeval`` with pycocotools' signature, silent."""

            def __init__(self, cocoGt=None, cocoDt=None, iouType='segm'):
                super().__init__(cocoGt, cocoDt, iouType, print_function=lambda *a, **k: None)

        _FAST.append(FasterCOCOeval)
    return _FAST[0]


@contextlib.contextmanager
def detections_cap(model, max_per_img):
    """Inside: the detector keeps at most ``max_per_img`` detections per image (its head's
    or RoI head's ``test_cfg.max_per_img``); None changes nothing."""
    if max_per_img is None:
        yield
        return
    cfgs = []
    for name in ('bbox_head', 'roi_head'):
        cfg = getattr(getattr(model, name, None), 'test_cfg', None)
        if cfg is not None and 'max_per_img' in cfg:
            cfgs.append(cfg)
    if not cfgs:
        raise ValueError('evaluator.max_per_img: the model has no bbox_head or roi_head '
                         'whose test_cfg has max_per_img')
    saved = [cfg['max_per_img'] for cfg in cfgs]
    for cfg in cfgs:
        cfg['max_per_img'] = max_per_img
    try:
        yield
    finally:
        for cfg, value in zip(cfgs, saved):
            cfg['max_per_img'] = value
