"""Metrics computed on one rank: full precision, restricted to the images evaluated."""
import json
import os

import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('mmdet')


def _coco_metric(ann_file):
    import nas_det  # noqa: F401  (registers, imports mmdet's metrics)
    from mmengine.evaluator import Evaluator
    from mmdet.evaluation import CocoMetric
    metric = CocoMetric(ann_file=ann_file, metric='bbox')
    metric.dataset_meta = dict(classes=tuple(str(i) for i in range(10)))
    return Evaluator([metric])


def _predictions(ann_file, num_images, jitter):
    """Ground-truth boxes, shifted by ``jitter`` px and scored in a fixed order: an
    imperfect detector whose mAP is not a round number."""
    from mmengine.structures import InstanceData
    from mmdet.structures import DetDataSample
    with open(ann_file) as f:
        coco = json.load(f)
    imgs = coco['images'][:num_images]
    cat_index = {c['id']: i for i, c in enumerate(sorted(coco['categories'], key=lambda c: c['id']))}
    samples = []
    for k, img in enumerate(imgs):
        anns = [a for a in coco['annotations'] if a['image_id'] == img['id']]
        boxes = [[a['bbox'][0] + jitter * (j % 3), a['bbox'][1], a['bbox'][0] + a['bbox'][2],
                  a['bbox'][1] + a['bbox'][3] + jitter * (j % 2)] for j, a in enumerate(anns)]
        s = DetDataSample(metainfo=dict(img_id=img['id'], ori_shape=(img['height'], img['width'])))
        inst = InstanceData()
        inst.bboxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
        inst.scores = torch.linspace(0.9, 0.3, len(anns)) if anns else torch.zeros(0)
        inst.labels = torch.tensor([(cat_index[a['category_id']] + (j % 4 == 3)) % 10
                                    for j, a in enumerate(anns)], dtype=torch.long)
        s.pred_instances = inst
        samples.append(s)
    return imgs, samples


def test_local_coco_metric_is_full_precision_and_on_the_evaluated_images(tiny_det_data, capsys):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    from mmdet.evaluation.metrics import coco_metric
    from nas_det.engine.evaluators import local_metrics
    ann = os.path.join(tiny_det_data, 'annotations', 'instances_val.json')
    imgs, samples = _predictions(ann, num_images=5, jitter=3.0)
    evaluator = _coco_metric(ann)
    original = coco_metric.COCOeval
    evaluator.process(data_samples=samples, data_batch=None)
    got = local_metrics(evaluator)
    assert coco_metric.COCOeval is original  # the recording patch is undone
    assert evaluator.metrics[0].results == []  # reset for the next candidate

    # the same predictions scored by pycocotools directly, on the same 5 images
    gt = COCO(ann)
    dets = []
    for s in samples:
        p = s.pred_instances
        for b, sc, lab in zip(p.bboxes.tolist(), p.scores.tolist(), p.labels.tolist()):
            dets.append(dict(image_id=s.img_id, category_id=sorted(gt.getCatIds())[lab],
                             bbox=[b[0], b[1], b[2] - b[0], b[3] - b[1]], score=sc))
    ev = COCOeval(gt, gt.loadRes(dets), 'bbox')
    ev.params.imgIds = sorted(i['id'] for i in imgs)
    ev.params.maxDets = [100, 300, 1000]
    ev.evaluate(), ev.accumulate(), ev.summarize()
    expected = float(ev.stats[0])
    assert 0.05 < expected < 0.95
    assert got['coco/bbox_mAP'] == pytest.approx(expected, abs=1e-12)
    assert got['coco/bbox_mAP_50'] == pytest.approx(float(ev.stats[1]), abs=1e-12)
    # not mmdet's 3-decimal rounding: ties between close candidates stay broken
    assert got['coco/bbox_mAP'] != round(got['coco/bbox_mAP'], 3)


def test_untrained_search_warning_only_for_evaluators_that_use_the_model():
    """The search phase warns of an untrained model when nothing is loaded and the
    evaluator scores the runner's model (SupernetEvaluator), not for ProxyTrainEvaluator,
    which trains children of its own."""
    from mmengine.config import Config

    from nas_det.engine.launch.phases import untrained_search

    def cfg(ev, load_from=None):
        return Config(dict(train_cfg=dict(type='SearchLoop', evaluator=dict(type=ev)),
                           load_from=load_from))
    assert untrained_search(cfg('SupernetEvaluator'))
    assert not untrained_search(cfg('SupernetEvaluator', 'supernet.pth'))
    assert not untrained_search(cfg('ProxyTrainEvaluator'))


def _bn_toy():
    """A BN before the path (eval statistics set), the path (conv + BN), a BN after it."""
    from mmengine.model import BaseModel
    from torch import nn

    class Toy(BaseModel):
        def __init__(self):
            super().__init__()
            self.stem_bn = nn.BatchNorm2d(3)
            self.path = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4, momentum=0.3))
            self.head_bn = nn.BatchNorm2d(4)
            for bn in (self.stem_bn, self.head_bn):
                bn.running_mean.fill_(0.5)
                bn.running_var.fill_(2.0)

        def forward(self, inputs, data_samples=None, mode='tensor'):
            return self.head_bn(self.path(self.stem_bn(inputs)))

    torch.manual_seed(0)
    model = Toy()
    g = torch.Generator().manual_seed(1)
    batches = [{'inputs': torch.randn(5, 3, 6, 6, generator=g) * (i + 1) + i}
               for i in range(3)]
    return model, batches


@pytest.mark.parametrize('train_mode', [True, False], ids=['train', 'eval'])
def test_recalibrate_bn_re_estimates_the_path_only(train_mode):
    from nas_det.engine.evaluators import recalibrate_bn
    model, batches = _bn_toy()
    model.train(train_mode)
    modes = {n: m.training for n, m in model.named_modules()}
    outside = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith('path.')}
    path_bn = model.path[1]
    path_bn.running_mean.fill_(3.0)  # stale statistics of another path, after training
    path_bn.num_batches_tracked.fill_(100)
    assert recalibrate_bn(model, [model.path], batches) == 1
    # every module's train/eval mode as before
    assert {n: m.training for n, m in model.named_modules()} == modes
    # the statistics are those of the recalibration batches: the average of each batch's
    # mean and (unbiased) variance of the path BN's input, the stem BN in eval mode
    with torch.no_grad():
        feats = [model.path[0](model.stem_bn.eval()(b['inputs'])) for b in batches]
    mean = torch.stack([f.mean((0, 2, 3)) for f in feats]).mean(0)
    var = torch.stack([f.var((0, 2, 3), unbiased=True) for f in feats]).mean(0)
    assert torch.allclose(path_bn.running_mean, mean, atol=1e-5)
    assert torch.allclose(path_bn.running_var, var, rtol=1e-5)
    assert int(path_bn.num_batches_tracked) == 3
    assert path_bn.momentum == 0.3  # restored
    # BN layers outside the path: untouched (the stem fed the path with its eval statistics)
    after = model.state_dict()
    for k, v in outside.items():
        assert torch.equal(after[k], v), k


def test_bn_recalibration_context_restores_momentum_and_mode():
    from torch import nn

    from nas_det.engine.evaluators import bn_recalibration
    a, b = nn.BatchNorm1d(2, momentum=0.2), nn.BatchNorm1d(2, momentum=None)
    a.train()
    b.eval()
    frozen = nn.BatchNorm1d(2, track_running_stats=False)  # no statistics: left alone
    with bn_recalibration([nn.Sequential(a, b, frozen)]) as bns:
        assert bns == [a, b]
        assert all(bn.momentum is None and bn.training for bn in bns)
        assert all(torch.equal(bn.running_mean, torch.zeros(2)) for bn in bns)
        a(torch.tensor([[1., 2.], [3., 6.]]))
    assert a.momentum == 0.2 and b.momentum is None
    assert a.training and not b.training
    assert a.running_mean.tolist() == [2.0, 4.0] and int(a.num_batches_tracked) == 1


def test_a_candidate_is_scored_without_what_a_failed_one_left():
    """The proxy evaluator's validation starts from empty metric results (a candidate that
    failed half-way left its first batches in them)."""
    from mmengine.evaluator import BaseMetric, Evaluator

    from nas_det.engine.evaluators.proxy import ProxyTrainEvaluator

    class Count(BaseMetric):
        def process(self, data_batch, data_samples):
            self.results.extend(data_samples)

        def compute_metrics(self, results):
            return {'n': len(results)}

    class Model:
        def eval(self):
            return self

        def val_step(self, data):
            return list(data)

    ev = ProxyTrainEvaluator.__new__(ProxyTrainEvaluator)
    ev.evaluator = Evaluator([Count()])
    ev.evaluator.metrics[0].results.extend(['stale'] * 5)
    ev._val_data = lambda: [[1, 2], [3]]
    assert ev.validate(Model()) == {'n': 3}
