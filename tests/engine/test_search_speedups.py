"""The speed-ups of a supernet candidate's scoring (issue 22) leave its reward unchanged.

Fast: each exact piece against what it replaces (mmcv's NMS on boxes with tied scores,
the private random state, the forward that ends after the searchable module, the COCO
statistics of faster-coco-eval where it is installed). Slow: ``SupernetEvaluator`` on the
300M DetNAS supernet and a few digits, every speed-up on against every one off, several
paths, both BN modes: the same detections, bit for bit, and the same metrics.
"""
import json
import os
import random

import numpy as np
import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('mmdet')

from conftest import ROOT  # noqa: E402

SUPERNET = os.path.join(ROOT, 'configs/detnas/'
                        'retinanet_detnas-shufflenet-300M-supernet_fpn_digits.py')
OFF = dict(cache_batches=False, stop_bn_forward=False, split_nms=False, topk_select=False,
           overlap_postprocess=False, parallel_batches=1, coco_backend='pycocotools')


def _random_boxes(g, n, classes, span=300.0, quantum=None):
    xy = torch.rand(n, 2, generator=g) * span
    wh = torch.rand(n, 2, generator=g) * span / 4 + 1
    boxes = torch.cat([xy, xy + wh], 1)
    scores = torch.rand(n, generator=g)
    if quantum:  # few distinct values: ties everywhere, as in an untrained head
        scores = (scores * quantum).floor() / quantum
    return boxes, scores, torch.randint(0, classes, (n,), generator=g)


@pytest.mark.parametrize('seed', range(6))
def test_split_nms_is_mmcv_batched_nms(seed):
    from mmcv.ops import batched_nms

    from nas_det.engine.evaluators.scoring import split_batched_nms
    g = torch.Generator().manual_seed(seed)
    n, classes = [(50, 1), (400, 3), (2000, 10), (4360, 10), (3000, 80), (1000, 2)][seed]
    for quantum in (None, 7, 1):
        boxes, scores, labels = _random_boxes(g, n, classes, quantum=quantum)
        for cfg in (dict(type='nms', iou_threshold=0.5), dict(type='nms', iou_threshold=0.3),
                    dict(type='nms', iou_threshold=0.6, offset=1)):
            want = batched_nms(boxes, scores, labels, cfg)
            got = split_batched_nms(boxes, scores, labels, cfg)
            assert torch.equal(got[1], want[1]), (seed, quantum, cfg)
            assert torch.equal(got[0], want[0]), (seed, quantum, cfg)


def test_split_nms_hands_what_it_cannot_split_to_mmcv():
    from mmcv.ops import batched_nms

    from nas_det.engine.evaluators.scoring import _splittable, split_batched_nms
    g = torch.Generator().manual_seed(0)
    boxes, scores, labels = _random_boxes(g, 300, 4, quantum=5)
    cfg = dict(type='nms', iou_threshold=0.5)
    assert _splittable(boxes, cfg, False)
    negative = boxes - 100  # mmcv's class offsets may then let classes overlap
    others = [(negative, cfg, False), (boxes, cfg, True),
              (boxes, dict(cfg, class_agnostic=True), False),
              (boxes, dict(type='soft_nms', iou_threshold=0.5), False), (boxes, None, False),
              (boxes, dict(cfg, split_thr=100), False), (boxes, dict(cfg, max_num=10), False)]
    assert not _splittable(boxes[:0], cfg, False)  # (mmcv fails on no boxes; heads skip NMS)
    for b, c, agnostic in others:
        assert not _splittable(b, c, agnostic)
        n = b.shape[0]
        want = batched_nms(b, scores[:n], labels[:n], c, agnostic)
        got = split_batched_nms(b, scores[:n], labels[:n], c, agnostic)
        assert torch.equal(got[1], want[1]) and torch.equal(got[0], want[0])


def test_split_nms_context_swaps_mmdet_names_and_puts_them_back():
    import mmdet.models.dense_heads.base_dense_head as bdh
    import mmdet.models.layers.bbox_nms as bn
    from mmcv.ops import batched_nms

    from nas_det.engine.evaluators.scoring import split_batched_nms, split_nms
    with split_nms():
        assert bdh.batched_nms is split_batched_nms and bn.batched_nms is split_batched_nms
    assert bdh.batched_nms is batched_nms and bn.batched_nms is batched_nms
    with split_nms(False):
        assert bdh.batched_nms is batched_nms


def _level_scores(g, n, classes, kind):
    """Scores of one level (``n`` anchors x ``classes``): all distinct, sigmoids of
    random logits (float32 ties where they saturate), a few values (ties everywhere, as
    an untrained head), tied at the top only, or all below the threshold."""
    if kind == 'distinct':  # no two alike
        return torch.randperm(n * classes, generator=g).view(n, classes) / (n * classes)
    logits = torch.randn(n, classes, generator=g) * 3
    if kind == 'few':
        logits = (logits * 2).round() / 2
    scores = logits.sigmoid()
    if kind == 'top_tie':
        flat = scores.view(-1)
        top = flat.topk(5).indices
        flat[top] = flat[top[0]].item()
    if kind == 'low':
        scores = scores * 1e-4
    return scores


@pytest.mark.parametrize('seed', range(4))
def test_topk_select_is_mmdet_filter_scores_and_topk(seed):
    from mmdet.models.utils.misc import filter_scores_and_topk

    from nas_det.engine.evaluators import scoring
    g = torch.Generator().manual_seed(seed)
    n, classes = [(9216, 10), (2304, 80), (36, 3), (1000, 1)][seed]
    used_topk = 0
    for kind in ('distinct', 'few', 'top_tie', 'low', 'sigmoid'):
        scores = _level_scores(g, n, classes, kind)
        bboxes = torch.rand(n, 4, generator=g)
        for thr, topk in ((0.001, 1000), (0.05, 1000), (0.3, 50), (0.0, 10 ** 6), (0.5, 1)):
            for results in (dict(bbox_pred=bboxes, priors=bboxes * 2), [bboxes], bboxes, None):
                scoring._TOPK_STATE['rate'] = 1.0
                want = filter_scores_and_topk(scores, thr, topk, results)
                hits = scoring._TOPK_STATE['hits']
                got = scoring.topk_filter_scores(scores, thr, topk, results)
                used_topk += scoring._TOPK_STATE['hits'] - hits
                for w, o in zip(want[:3], got[:3]):
                    assert w.dtype == o.dtype and torch.equal(w, o), (kind, thr, topk)
                if isinstance(results, dict):
                    assert want[3].keys() == got[3].keys()
                    assert all(torch.equal(want[3][k], got[3][k]) for k in want[3])
                elif isinstance(results, list):
                    assert torch.equal(want[3][0], got[3][0])
                elif results is not None:
                    assert torch.equal(want[3], got[3])
                else:
                    assert got[3] is None
    assert used_topk  # the distinct levels took the topk branch


def test_topk_select_sorts_at_once_while_the_top_scores_keep_tying():
    from nas_det.engine.evaluators import scoring
    g = torch.Generator().manual_seed(0)
    state = scoring._TOPK_STATE
    state.update(rate=1.0, calls=0)
    tied = _level_scores(g, 9216, 10, 'few')
    distinct = _level_scores(g, 9216, 10, 'distinct')
    hits = state['hits']
    for _ in range(20):
        scoring.topk_filter_scores(tied, 0.001, 1000)
    assert state['rate'] < scoring._TOPK_MIN_RATE and state['hits'] == hits
    waited = 0
    while state['hits'] == hits:  # sorting at once, until a probe finds distinct scores
        scoring.topk_filter_scores(distinct, 0.001, 1000)
        waited += 1
    assert 1 < waited <= scoring._TOPK_PROBE
    for _ in range(10):  # then topk again, call after call
        scoring.topk_filter_scores(distinct, 0.001, 1000)
    assert state['hits'] == hits + 11 and state['rate'] > 0.5


def test_topk_select_refuses_results_it_cannot_index_as_mmdet_does():
    from nas_det.engine.evaluators.scoring import topk_filter_scores
    scores = torch.rand(50, 3)
    with pytest.raises(NotImplementedError, match='results: a dict, list or Tensor'):
        topk_filter_scores(scores, 0.1, 10, results=(torch.rand(50, 4),))


def test_topk_select_context_swaps_mmdet_names_and_puts_them_back():
    import mmdet.models.dense_heads.base_dense_head as bdh
    from mmdet.models.utils import misc

    from nas_det.engine.evaluators.scoring import topk_filter_scores, topk_select
    original = misc.filter_scores_and_topk
    with topk_select():
        assert bdh.filter_scores_and_topk is topk_filter_scores
        assert misc.filter_scores_and_topk is original  # the fallback's own
    assert bdh.filter_scores_and_topk is original
    with topk_select(False):
        assert bdh.filter_scores_and_topk is original


def test_rng_scope_replays_and_leaves_the_global_state():
    from nas_det.engine.evaluators.scoring import RNGScope

    def draw():
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    outside = draw()
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    first, again = RNGScope(3), RNGScope(3)
    with first:
        a = [draw(), draw()]
    with again:
        b = [draw()]
    with again:  # a scope goes on where it stopped
        b.append(draw())
    assert a == b
    assert draw() == outside  # the global state as if nothing had been drawn
    with RNGScope(4):
        assert draw() != a[0]


class _RandomItems(torch.utils.data.Dataset):
    """Items drawn from the three global generators, as a pipeline's random transforms."""

    def __len__(self):
        return 12

    def __getitem__(self, i):
        return i, random.random(), float(np.random.rand()), float(torch.rand(1))


def test_seeded_samples_are_the_same_in_any_order_and_any_worker():
    from torch.utils.data import DataLoader

    from nas_det.engine.evaluators.scoring import SeededSamples
    data = SeededSamples(_RandomItems(), seed=3)
    state = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state())
    forward = [data[i] for i in range(12)]
    backward = [data[i] for i in reversed(range(12))][::-1]
    assert forward == backward
    assert random.getstate() == state[0] and np.array_equal(np.random.get_state()[1], state[1])
    assert torch.equal(torch.get_rng_state(), state[2])  # the global state is left alone
    assert len({x[1] for x in forward}) == 12  # every item its own draws
    assert SeededSamples(_RandomItems(), seed=4)[0] != forward[0]

    def read(workers):
        loader = DataLoader(data, batch_size=5, sampler=[7, 1, 11, 0, 3, 5, 2],
                            num_workers=workers, collate_fn=list)
        return [x for batch in loader for x in batch]

    assert read(0) == read(2) == [forward[i] for i in (7, 1, 11, 0, 3, 5, 2)]


def test_the_recalibration_sample_is_the_first_epoch_of_a_seeded_random_sampler():
    """The batches a search re-estimates BN on are those of a seeded ``RandomSampler``
    (what this evaluator read before it kept its loaders), cut at ``bn_batches``."""
    from torch.utils.data import RandomSampler

    from nas_det.engine.evaluators import SupernetEvaluator
    ev = SupernetEvaluator.__new__(SupernetEvaluator)
    ev.train_set, ev.train_bs, ev.bn_batches, ev.seed = _RandomItems(), 2, 4, 5
    ev.workers, ev._loaders = {'bn': 0}, {}
    loader = ev._loader('bn')
    assert ev._loader('bn') is loader  # kept
    sampler = RandomSampler(range(12), generator=torch.Generator().manual_seed(5))
    want = list(sampler)[:8]
    assert list(loader.sampler) == want
    assert [list(b[0]) for b in loader] == [want[i:i + 2] for i in range(0, 8, 2)]


def _small_retinanet():
    from mmdet.models.detectors import RetinaNet
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    backbone = dict(type='ResNet', depth=18, num_stages=4, out_indices=(0, 1, 2, 3))
    neck = dict(type='FPN', in_channels=[64, 128, 256, 512], out_channels=16, num_outs=5)
    head = dict(type='RetinaHead', num_classes=3, in_channels=16, feat_channels=16,
                stacked_convs=1,
                anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                      scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                                      strides=[8, 16, 32, 64, 128]),
                bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4,
                                target_stds=[1.0] * 4))
    test_cfg = dict(nms_pre=100, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5),
                    max_per_img=10)
    return RetinaNet(backbone, neck, head, test_cfg=test_cfg)


def test_overlappable_only_where_mmdet_predict_runs_unchanged():
    from nas_det.engine.evaluators.scoring import overlappable
    retina = _small_retinanet()
    assert overlappable(retina)
    retina.predict = lambda *a, **k: None  # a predict of its own: run in turn
    assert not overlappable(retina)

    class OwnHeadPredict(type(retina.bbox_head)):
        def predict(self, x, batch_data_samples, rescale=False):
            return super().predict(x, batch_data_samples, rescale)

    other = _small_retinanet()
    other.bbox_head.__class__ = OwnHeadPredict
    assert not overlappable(other)
    assert not overlappable(torch.nn.Linear(2, 2))


def test_parallel_batches_where_batches_can_be_predicted_at_once(monkeypatch):
    from nas_det.engine.evaluators import SupernetEvaluator
    from nas_det.engine.evaluators import supernet

    def evaluator(parallel_batches):  # (lanes_for reads these two settings only)
        ev = object.__new__(SupernetEvaluator)
        ev.parallel_batches, ev._warned_lanes = parallel_batches, False
        return ev

    retina = _small_retinanet()
    monkeypatch.setattr(supernet, 'usable_cores', lambda: 4)
    assert evaluator(None).lanes_for(retina) == 2 and evaluator(3).lanes_for(retina) == 3
    monkeypatch.setattr(supernet, 'usable_cores', lambda: 1)
    assert evaluator(None).lanes_for(retina) == 1 and evaluator(3).lanes_for(retina) == 3
    retina.predict = lambda *a, **k: None  # a predict of its own: one batch at a time
    assert evaluator(None).lanes_for(retina) == 1
    ev = evaluator(3)
    with pytest.warns(UserWarning, match=r'evaluator.parallel_batches=3: RetinaNet is scored '
                      'one batch at a time'):
        assert ev.lanes_for(retina) == 1
    assert ev.lanes_for(retina) == 1  # (warned once)


def test_num_workers_is_checked():
    from nas_det.engine.evaluators import SupernetEvaluator
    for bad in (-1, 1.5, '2', True):
        with pytest.raises(ValueError, match='evaluator.num_workers'):
            SupernetEvaluator(None, [], num_workers=bad)
    for bad in (0, -1, 1.5, '2', True):
        with pytest.raises(ValueError, match='evaluator.parallel_batches: a positive integer'):
            SupernetEvaluator(None, [], parallel_batches=bad)


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_batch_lanes_predict_at_once_and_hand_results_over_in_order(two_threads):
    import threading
    import time

    from nas_det.engine.evaluators.scoring import BatchLanes
    lanes = BatchLanes(2)
    lock, running, most = threading.Lock(), [0], [0]

    def predict(i):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.002 * ((i * 7) % 5))  # out of order
        with lock:
            running[0] -= 1
        return (i, threading.current_thread().name, torch.get_num_threads(),
                torch.is_grad_enabled())

    got = []
    with torch.no_grad():
        lanes.run(range(12), predict, lambda item, res: got.append((item, res)))
    assert [item for item, _ in got] == list(range(12))
    assert all(res[0] == item for item, res in got)
    assert {res[1] for _, res in got} <= {f'nas_det_lane_{k}' for k in range(2)}
    assert most[0] == 2  # two at once, never more
    assert {res[2] for _, res in got} == {2} and not any(res[3] for _, res in got)
    # the caller's thread count and grad mode, wherever the threads were before
    torch.set_num_threads(1)
    got.clear()
    lanes.run(range(4), predict, lambda item, res: got.append(res))
    assert {res[2] for res in got} == {1} and all(res[3] for res in got)
    assert lanes._pool is not None and len(lanes._pool._threads) <= 2  # kept, not grown


def test_batch_lanes_hold_at_most_one_batch_more_than_they_predict():
    import time

    from nas_det.engine.evaluators.scoring import BatchLanes
    taken, ahead = [], []

    def take(item, res):
        time.sleep(0.005)  # a slow metric: the threads must not run ahead of it
        taken.append(item)

    BatchLanes(2).run(range(16), lambda i: ahead.append(i - len(taken)), take)
    assert taken == list(range(16)) and max(ahead) == 2  # (taken: i - 2; the rest in flight)


@pytest.mark.parametrize('where', ['predict', 'take'])
def test_batch_lanes_raise_the_first_error_once_no_thread_predicts(where):
    import threading
    import time

    from nas_det.engine.evaluators.scoring import BatchLanes
    started, running, lock = [], [0], threading.Lock()

    def predict(i):
        with lock:
            started.append(i)
            running[0] += 1
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        if where == 'predict' and i in (3, 4):
            raise RuntimeError(f'batch {i} failed')
        return i

    def take(item, res):
        if where == 'take' and item == 3:
            raise RuntimeError(f'batch {item} failed')

    with pytest.raises(RuntimeError, match='batch 3 failed'):
        BatchLanes(2).run(range(20), predict, take)
    assert running[0] == 0  # nothing left predicting on the model
    assert max(started) <= 3 + 2  # the items after those in flight were never started


def _toy_detector():
    from mmengine.model import BaseModel
    from torch import nn

    class Toy(BaseModel):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4))
            self.head = nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4))
            self.head_calls = 0

        def forward(self, inputs, data_samples=None, mode='tensor'):
            x = self.backbone(inputs)
            self.head_calls += 1
            return self.head(x)

    return Toy()


def test_forward_until_ends_after_the_targets_with_the_same_statistics():
    from nas_det.engine.evaluators import bn_recalibration
    from nas_det.engine.evaluators.scoring import forward_until
    torch.manual_seed(0)
    full, cut = _toy_detector(), _toy_detector()
    cut.load_state_dict(full.state_dict())
    batches = [{'inputs': torch.randn(3, 3, 5, 5) * (i + 1)} for i in range(3)]
    for model, stop in ((full, False), (cut, True)):
        model.eval()
        calls = None
        with bn_recalibration([model.backbone]):
            for b in batches:
                seen = forward_until(model, b, [model.backbone], calls if stop else None)
                calls = calls or seen
    assert calls == [1]
    assert full.head_calls == 3 and cut.head_calls == 1  # the first pass counts the calls
    for k, v in full.state_dict().items():
        assert torch.equal(v, cut.state_dict()[k]), k


def _coco_preds(ann_file, seed, ties):
    """Predictions for every image of ``ann_file``: its boxes moved and rescaled at random,
    some relabelled, plus false positives of every size, scores with ``ties`` distinct
    values at most (0: all distinct)."""
    from mmengine.structures import InstanceData
    from mmdet.structures import DetDataSample
    with open(ann_file) as f:
        coco = json.load(f)
    rng = np.random.default_rng(seed)
    cats = sorted(c['id'] for c in coco['categories'])
    samples = []
    for img in coco['images']:
        w, h = img['width'], img['height']
        boxes, labels = [], []
        for a in coco['annotations']:
            if a['image_id'] != img['id']:
                continue
            x, y, bw, bh = a['bbox']
            for _ in range(rng.integers(1, 4)):
                s = rng.uniform(0.7, 1.3, 2)
                dx, dy = rng.normal(0, 0.15, 2) * (bw, bh)
                boxes.append([x + dx, y + dy, x + dx + bw * s[0], y + dy + bh * s[1]])
                lab = cats.index(a['category_id'])
                labels.append(lab if rng.random() < 0.8 else int(rng.integers(len(cats))))
        for _ in range(rng.integers(0, 15)):
            side = float(np.exp(rng.uniform(np.log(4), np.log(max(w, h)))))
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            boxes.append([x, y, x + side * rng.uniform(0.5, 1.5), y + side])
            labels.append(int(rng.integers(len(cats))))
        scores = rng.random(len(boxes))
        if ties:
            scores = np.floor(scores * ties) / ties + 0.01
        s = DetDataSample(metainfo=dict(img_id=img['id'], ori_shape=(h, w)))
        inst = InstanceData()
        inst.bboxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
        inst.scores = torch.tensor(scores, dtype=torch.float32)
        inst.labels = torch.tensor(labels, dtype=torch.long)
        s.pred_instances = inst
        samples.append(s)
    return samples


def _metrics(ann_file, samples, backend):
    import nas_det  # noqa: F401
    from mmengine.evaluator import Evaluator
    from mmdet.evaluation import CocoMetric

    from nas_det.engine.evaluators import local_metrics
    metric = CocoMetric(ann_file=ann_file, metric='bbox')
    metric.dataset_meta = dict(classes=tuple(str(i) for i in range(10)))
    ev = Evaluator([metric])
    ev.process(data_samples=samples, data_batch=None)
    return local_metrics(ev, backend)


@pytest.fixture(scope='module')
def varied_coco(tmp_path_factory):
    """A COCO-format set unlike the search's: sizes from 400 to 640 px, boxes from 4 to
    400 px, up to 20 objects per image overlapping up to 60%, no clutter."""
    from nas_det.data import make_detection_set
    out = tmp_path_factory.mktemp('varied_coco')
    make_detection_set(out, num_train=1, num_val=40, seed=7, img_size=(400, 640),
                       scale_range=(4, 400), num_objects=(1, 20), max_overlap=0.6,
                       clutter=False)
    return os.path.join(str(out), 'annotations', 'instances_val.json')


@pytest.mark.parametrize('which', ['digits', 'varied'])
def test_faster_coco_eval_gives_pycocotools_statistics(which, tiny_det_data, varied_coco):
    pytest.importorskip('faster_coco_eval')
    from nas_det.engine.evaluators.scoring import resolve_coco_backend
    assert resolve_coco_backend('auto') == 'faster-coco-eval'
    ann = varied_coco if which == 'varied' else os.path.join(tiny_det_data, 'annotations',
                                                             'instances_val.json')
    for seed, ties in ((0, 0), (1, 5), (2, 0)):
        samples = _coco_preds(ann, seed, ties)
        slow = _metrics(ann, samples, 'pycocotools')
        fast = _metrics(ann, samples, 'faster-coco-eval')
        assert slow.keys() == fast.keys() and len(slow) == 6
        assert 0.02 < slow['coco/bbox_mAP'] < 0.98  # neither trivial nor perfect
        for k in slow:
            assert fast[k] == pytest.approx(slow[k], abs=1e-6), k
            assert abs(fast[k] - slow[k]) < 1e-12, k  # in fact to the last bits


def test_coco_backend_falls_back_to_pycocotools(monkeypatch):
    import sys

    from nas_det.engine.evaluators import scoring
    monkeypatch.setitem(sys.modules, 'faster_coco_eval', None)  # makes the import fail
    assert scoring.resolve_coco_backend('auto') == 'pycocotools'
    scoring._WARNED.discard('faster-coco-eval')
    with pytest.warns(UserWarning, match='pycocotools computes the metric'):
        assert scoring.resolve_coco_backend('faster-coco-eval') == 'pycocotools'
    assert scoring.resolve_coco_backend('pycocotools') == 'pycocotools'
    with pytest.raises(ValueError, match='coco_backend'):
        scoring.resolve_coco_backend('fast')


@pytest.fixture(scope='module')
def supernet_runner(tiny_det_data, tmp_path_factory):
    """The 300M DetNAS supernet under the digits RetinaNet, as built (untrained: every
    val image gets 100 detections with scores full of ties, the hardest case for an
    exact NMS), on the tiny digits set, with random flips in the recalibration batches'
    pipeline (so a batch read again must be read under the same random state)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    import nas_det  # noqa: F401
    init_default_scope('mmdet')
    cfg = Config.fromfile(SUPERNET)
    d = tiny_det_data
    cfg.merge_from_dict({'train_dataloader.dataset.data_root': d + '/',
                         'val_dataloader.dataset.data_root': d + '/',
                         'val_evaluator.ann_file': d + '/annotations/instances_val.json',
                         'train_dataloader.batch_size': 2, 'val_dataloader.batch_size': 2,
                         'model.test_cfg.score_thr': 0.001})
    pipe = cfg.train_dataloader.dataset.pipeline
    pipe.insert(len(pipe) - 1, dict(type='RandomFlip', prob=0.5))
    cfg.work_dir = str(tmp_path_factory.mktemp('speedups'))
    cfg.custom_hooks = []
    cfg.log_level = 'WARNING'
    return Runner.from_cfg(cfg)


def _score(ev, path):
    """Reward, metrics and every detection of ``path`` (as the metric received them)."""
    dets = []
    process = ev.evaluator.process

    def recording(data_samples, data_batch=None):
        for s in data_samples:
            p = s.pred_instances
            dets.append((s.img_id, p.bboxes.clone(), p.scores.clone(), p.labels.clone()))
        return process(data_samples=data_samples, data_batch=data_batch)

    ev.evaluator.process = recording
    try:
        res = ev(path)
    finally:
        del ev.evaluator.process
    return res, dets


@pytest.mark.slow
@pytest.mark.parametrize('bn_mode', ['recalibrate', 'train'])
def test_every_speedup_on_gives_the_rewards_of_every_one_off(bn_mode, supernet_runner):
    from nas_det.engine.evaluators import SupernetEvaluator
    from nas_det.engine.evaluators.scoring import overlappable
    from nas_det.engine.hooks import searchable_modules
    runner = supernet_runner
    modules = searchable_modules(runner.model)
    common = dict(bn_mode=bn_mode, bn_batches=3, num_val_images=6)
    on = SupernetEvaluator(runner, modules=modules, max_per_img=100, num_workers=1,
                           parallel_batches=2, **common)  # the model's cap; a worker
    # fills the cache; two val batches predicted at once
    off = SupernetEvaluator(runner, modules=modules, **common, **OFF)
    with pytest.warns(UserWarning, match='cache_max_mb=0'):  # over the cap: read every time
        SupernetEvaluator(runner, modules=modules, cache_max_mb=0, **common)(
            modules[0][1].search_space.sample(random.Random(9)))
    # read by 2 worker processes for every candidate (the flips drawn per image)
    streamed = SupernetEvaluator(runner, modules=modules, cache_max_mb=0, num_workers=2,
                                 parallel_batches=1, **common)  # one batch at a time
    rng = random.Random(0)
    state = torch.get_rng_state()
    for i in range(3):
        path = modules[0][1].search_space.sample(rng)
        (a, da), (b, db), (c, dc) = _score(on, path), _score(off, path), _score(streamed, path)
        assert len(da) == 6 and sum(len(d[1]) for d in da) == 600  # 100 per image, untrained
        for x, y, z in zip(da, db, dc):
            assert x[0] == y[0] == z[0]
            for t in range(1, 4):
                assert torch.equal(x[t], y[t]) and torch.equal(x[t], z[t]), (i, x[0], t)
        assert a.metrics == b.metrics == c.metrics
        assert a.reward == b.reward == c.reward
        assert abs(a.reward - b.reward) <= 1e-6
    assert torch.equal(torch.get_rng_state(), state)  # scoring leaves the global RNG alone
    assert set(on._cached) == ({'bn', 'val'} if bn_mode == 'recalibrate' else {'val'})
    assert not off._cached and not streamed._cached
    assert not on._loaders and set(streamed._loaders) == set(on._cached)  # workers kept
    assert overlappable(runner.model)  # so 'on' predicted batches at once and
    assert on.lanes_for(runner.model) == 2  # 'streamed' ran post-processing apart
    assert streamed.lanes_for(runner.model) == 1 and off.lanes_for(runner.model) == 1
    p = on.profile.per_candidate()
    assert p['n'] == 3 and p['wall']['forward'] > 0 and p['wall']['postprocess'] > 0
    assert (p['wall']['bn'] > 0) == (bn_mode == 'recalibrate')
    assert p['wall']['metric'] > 0 and off.profile.per_candidate()['wall']['data'] > 0


@pytest.mark.slow
@pytest.mark.parametrize('lanes', [1, 2])
def test_postprocessing_apart_raises_the_errors_of_every_thread(supernet_runner, monkeypatch,
                                                                lanes):
    """One batch at a time with its post-processing beside the next forward (1), and two
    batches predicted at once (2)."""
    from nas_det.engine.evaluators import SupernetEvaluator
    from nas_det.engine.hooks import searchable_modules
    runner = supernet_runner
    modules = searchable_modules(runner.model)
    ev = SupernetEvaluator(runner, modules=modules, bn_mode='train', bn_batches=0,
                           num_val_images=6, parallel_batches=lanes)
    path = modules[0][1].search_space.sample(random.Random(1))
    head = runner.model.bbox_head

    def failing_postprocess(*args, **kwargs):
        raise RuntimeError('post-processing failed')

    monkeypatch.setattr(head, 'predict_by_feat', failing_postprocess)
    with pytest.raises(RuntimeError, match='post-processing failed'):
        ev(path)
    monkeypatch.undo()
    # the second batch's forward fails (found by its images: with two batches at once the
    # second call may be either batch's), while the first batch's post-processing may
    # still run
    second = ev.val_set.get_data_info(ev.val_bs)['img_id']
    forward = ev._forward

    def failing_second_forward(model, data, preprocessed):
        if data['data_samples'][0].img_id == second:
            raise RuntimeError('forward failed')
        return forward(model, data, preprocessed)

    monkeypatch.setattr(ev, '_forward', failing_second_forward)
    with pytest.raises(RuntimeError, match='forward failed'):
        ev(path)
    monkeypatch.undo()
    metric = ev.evaluator.metrics[0]
    assert metric.results  # the failed candidate's first batch
    seen = []
    compute = metric.compute_metrics
    monkeypatch.setattr(metric, 'compute_metrics',
                        lambda results: seen.append(len(results)) or compute(results))
    ev(path)
    assert seen == [6]  # the next candidate is scored on its own 6 images only
