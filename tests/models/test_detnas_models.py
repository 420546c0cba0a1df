"""DetNAS ShuffleNetV2 supernet / subnet and analytic FLOPs (nas_det.models)."""
import json
import random
import time

import pytest
import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from nas_det.models.flops import model_flops
from nas_det.models.shufflenet import (ShuffleNetV2Subnet, ShuffleNetV2Supernet, ShuffleUnit,
                                       arch_layout, backbone_cost, slice_supernet_state_dict,
                                       unit_cost)
from nas_det.space.detnas import DETNAS_OPS, DetNASPath, DetNASSpace

SPACE = DetNASSpace('300M')


def _paths(n, seed=0, space=SPACE):
    rng = random.Random(seed)
    return [space.sample(rng) for _ in range(n)]


def _uniform(op, space=SPACE):
    return DetNASPath(space.stage_blocks, (op,) * len(space))


def _randomize(model, seed=0):
    """Random weights and BN statistics, so that equal outputs mean equal networks."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) * 0.5 + 0.5 if t.dim() == 1
                        else torch.randn(t.shape, generator=g) * 0.2)


pytestmark = pytest.mark.usefixtures('one_thread')  # conftest: tiny tensors, 1 thread


@pytest.fixture(scope='module')
def supernet():
    torch.manual_seed(0)
    return ShuffleNetV2Supernet(arch='300M')


def test_output_shapes_and_channels(supernet):
    supernet.eval()
    assert supernet.out_channels == [64, 160, 320, 640]
    assert len(supernet.search_space) == 20 and supernet.search_space.stage_blocks == (4, 4, 8, 4)
    supernet.set_choices(_paths(1)[0])
    outs = supernet(torch.rand(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 64, 16, 16), (2, 160, 8, 8), (2, 320, 4, 4),
                                              (2, 640, 2, 2)]
    net = ShuffleNetV2Supernet(widen_factor=0.5, out_indices=(1, 4), with_last_conv=True)
    assert arch_layout('300M', 0.5) == (8, (32, 80, 160, 320), (4, 4, 8, 4))
    assert net.out_channels == [80, 1024]
    net.set_choices(_uniform('xception3x3'))
    outs = net.eval()(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 80, 8, 8), (1, 1024, 2, 2)]
    assert arch_layout('3.8G') == (72, (172, 432, 864, 1728), (8, 8, 16, 8))
    net = ShuffleNetV2Subnet(_uniform('shuffle3x3', DetNASSpace('3.8G')), arch='3.8G',
                             widen_factor=0.25, out_indices=(3,))
    assert net.out_channels == [432] and net.search_space.stage_blocks == (8, 8, 16, 8)


def test_checkpoint_keys_are_semantic(supernet):
    keys = supernet.state_dict().keys()
    assert 'stem.conv.weight' in keys
    for op in DETNAS_OPS:
        assert f'stages.0.0.choices.{op}.main.0.conv.weight' in keys
        assert f'stages.0.0.choices.{op}.proj.0.conv.weight' in keys  # stride-2 block
        assert f'stages.3.3.choices.{op}.main.0.bn.running_mean' in keys
    assert not any(k.startswith('stages.0.1.choices.shuffle3x3.proj') for k in keys)


def test_forward_before_set_choices_raises():
    net = ShuffleNetV2Supernet(widen_factor=0.5)
    assert net.choices is None
    with pytest.raises(RuntimeError, match='set_choices'):
        net(torch.rand(1, 3, 32, 32))


def test_set_choices_validates(supernet):
    ops = list(_uniform('shuffle5x5').ops)
    with pytest.raises(ValueError, match='ops'):
        supernet.set_choices(ops[:-1])
    with pytest.raises(ValueError, match='ops'):
        supernet.set_choices({**_uniform('shuffle5x5').to_dict(), 'ops': ops[:-1]})
    bad = ops.copy()
    bad[1] = 'conv3x3'
    with pytest.raises(ValueError, match=r"stage1/block2.*'conv3x3'.*'shuffle3x3'"):
        supernet.set_choices(bad)
    with pytest.raises(ValueError, match='stage_blocks'):
        supernet.set_choices(_uniform('shuffle3x3', DetNASSpace('1.3G')))
    with pytest.raises(ValueError, match='space'):
        supernet.set_choices({**_uniform('shuffle3x3').to_dict(), 'space': 'nasfpn'})
    with pytest.raises(ValueError, match='genotype'):
        supernet.set_choices(3)
    path = supernet.set_choices(_uniform('shuffle7x7').to_dict())
    assert supernet.choices == path == _uniform('shuffle7x7')
    assert {b.active for stage in supernet.stages for b in stage} == {'shuffle7x7'}


def test_subnet_equals_supernet_on_its_path(supernet, tmp_path):
    _randomize(supernet, seed=1)
    supernet.eval()
    x = torch.rand(2, 3, 64, 64)
    paths = [*_paths(2, seed=3), _uniform('xception3x3')]
    # a whole detector's checkpoint: backbone keys prefixed, neck/head keys kept as they are
    det_sd = {**{'backbone.' + k: v for k, v in supernet.state_dict().items()},
              'neck.conv.weight': torch.ones(1)}
    for i, path in enumerate(paths):
        json_file = tmp_path / f'genotype{i}.json'
        json_file.write_text(json.dumps({'genotype': path.to_dict(), 'reward': 0.5}))
        subnet = ShuffleNetV2Subnet(genotype=[path, path.to_dict(), str(json_file)][i])
        assert subnet.choices == path
        sub_keys = set(subnet.state_dict())
        assert sub_keys < set(supernet.state_dict())
        sliced = ShuffleNetV2Subnet.slice_supernet_state_dict(det_sd, path)
        assert set(sliced) == {'backbone.' + k for k in sub_keys} | {'neck.conv.weight'}
        subnet.load_state_dict({k[len('backbone.'):]: v for k, v in sliced.items()
                                if k.startswith('backbone.')})
        subnet.eval()
        supernet.set_choices(path)
        with torch.no_grad():
            ref, out = supernet(x), subnet(x)
        assert all(torch.equal(a, b) for a, b in zip(ref, out))
    assert set(slice_supernet_state_dict(supernet.state_dict(), paths[0], prefix='')) == set(
        ShuffleNetV2Subnet(paths[0]).state_dict())
    with pytest.raises(ValueError, match='stage_blocks'):
        slice_supernet_state_dict(det_sd, _uniform('shuffle3x3', DetNASSpace([2, 2, 2])))


def _check_cost(arch, path, hw, widen_factor=1.0, with_last_conv=False):
    net = ShuffleNetV2Subnet(path, arch=arch, widen_factor=widen_factor,
                             with_last_conv=with_last_conv,
                             out_indices=(4 if with_last_conv else 3,))
    x = torch.rand(1, 3, hw, hw)
    by_op = FlopAnalyzer(net.eval(), x).unsupported_ops_warnings(False).by_operator()
    cost = backbone_cost(arch, path, (3, hw, hw), widen_factor, with_last_conv)
    assert cost['flops'] == by_op['conv'] + by_op.get('linear', 0)
    assert cost['params'] == sum(p.numel() for p in net.parameters())
    return cost


@pytest.mark.parametrize('op', DETNAS_OPS)
@pytest.mark.parametrize('stride', [1, 2])
def test_unit_cost_matches_flop_analyzer(op, stride):
    c_in = 48 if stride == 1 else 16
    unit = ShuffleUnit(op, c_in, 48, stride).eval()
    by_op = FlopAnalyzer(unit, torch.rand(1, c_in, 15, 15)).by_operator()
    flops, params, h, w = unit_cost(op, c_in, 48, stride, 15, 15)
    assert (flops, params) == (by_op['conv'], sum(p.numel() for p in unit.parameters()))
    assert unit(torch.rand(1, c_in, 15, 15)).shape == (1, 48, h, w)


def test_analytic_cost_matches_flop_analyzer():
    p1, p2 = _paths(2, seed=7)
    _check_cost('300M', p1, 56, with_last_conv=True)
    _check_cost('300M', p2, 47, widen_factor=0.5)
    _check_cost('1.3G', _paths(1, seed=8, space=DetNASSpace('1.3G'))[0], 32,
                with_last_conv=True)
    # the real search size, for two paths
    c3 = _check_cost('300M', _uniform('shuffle3x3'), 224)
    cx = _check_cost('300M', _uniform('xception3x3'), 224, with_last_conv=True)
    assert c3['flops'] < backbone_cost('300M', _uniform('shuffle7x7'), (3, 224, 224))['flops']
    assert cx['flops'] - backbone_cost('300M', _uniform('xception3x3'))['flops'] == 640 * 1024 * 49


def test_supernet_traces_only_the_chosen_path(supernet):
    path = _paths(1, seed=11)[0]
    supernet.train().set_choices(path)
    flops = model_flops(supernet, torch.rand(1, 3, 64, 64))['flops']
    assert flops == backbone_cost('300M', path, (3, 64, 64))['flops']
    assert supernet.training  # model_flops restores the mode


def test_backbone_cost_is_fast_and_validates():
    paths = _paths(2000, seed=5)
    start = time.perf_counter()
    flops = [backbone_cost('300M', p)['flops'] for p in paths]
    assert time.perf_counter() - start < 2.0  # thousands of candidates per second
    assert len(set(flops)) > 100
    with pytest.raises(ValueError, match='stage_blocks'):
        backbone_cost('1.3G', paths[0])
    with pytest.raises(ValueError, match='input_shape'):
        backbone_cost('300M', paths[0], (224, 224))


def test_bad_arguments_name_the_field():
    for kwargs, field in [(dict(arch='2G'), 'arch'), (dict(widen_factor=0), 'widen_factor'),
                          (dict(frozen_stages=5), 'frozen_stages'),
                          (dict(out_indices=(4,)), 'out_indices'),
                          (dict(widen_factor=0.05), 'arch')]:
        with pytest.raises(ValueError, match=field):
            ShuffleNetV2Supernet(**kwargs)
    with pytest.raises(FileNotFoundError, match='genotype file /no/such/genotype.json'):
        ShuffleNetV2Subnet('/no/such/genotype.json')


def test_frozen_stages_and_norm_eval():
    net = ShuffleNetV2Supernet(widen_factor=0.5, frozen_stages=1, norm_eval=True)
    net.set_choices(_uniform('shuffle3x3'))
    net.train()
    frozen = [*net.stem.modules(), *net.stages[0].modules()]
    assert all(not m.training for m in frozen)
    assert all(not p.requires_grad for m in frozen for p in m.parameters(recurse=False))
    assert all(p.requires_grad for p in net.stages[1].parameters())
    assert net.stages[1].training and net.stages[1][0].choices['shuffle3x3'].main[0].conv.training
    assert all(not m.training for m in net.modules() if isinstance(m, _BatchNorm))
    bn = net.stages[2][1].choices['shuffle3x3'].main[0].bn
    before = bn.running_mean.clone()
    net(torch.rand(2, 3, 32, 32))[-1].sum().backward()
    assert torch.equal(bn.running_mean, before)  # norm_eval: statistics untouched
    assert net.stem.conv.weight.grad is None and net.stages[1][0].choices[
        'shuffle3x3'].main[0].conv.weight.grad is not None
    assert net.stages[1][0].choices['shuffle5x5'].main[0].conv.weight.grad is None
    plain = ShuffleNetV2Supernet(widen_factor=0.5).train()
    assert all(m.training for m in plain.modules())


def test_build_from_registry(tmp_path):
    net = MODELS.build(dict(type='ShuffleNetV2Supernet', arch='300M', widen_factor=0.5,
                            out_indices=(2, 3)))
    assert isinstance(net, ShuffleNetV2Supernet) and net.out_channels == [160, 320]
    path = _paths(1, seed=2)[0]
    sub = MODELS.build(dict(type='ShuffleNetV2Subnet', genotype=path.to_dict(),
                            widen_factor=0.5))
    assert isinstance(sub, ShuffleNetV2Subnet) and sub.choices == path


def test_retinanet_with_supernet_backbone():
    pytest.importorskip('mmdet')
    import mmdet.registry  # noqa: F401  (the 'mmdet' scope)
    from mmdet.structures import DetDataSample
    from mmengine.config import ConfigDict
    from mmengine.registry import DefaultScope
    from mmengine.structures import InstanceData

    from nas_det.models.flops import detector_flops

    backbone = dict(type='ShuffleNetV2Supernet', arch='300M', widen_factor=0.5)
    in_channels = MODELS.build(backbone).out_channels
    cfg = dict(
        type='RetinaNet',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
                               pad_size_divisor=32),
        backbone=backbone,
        neck=dict(type='FPN', in_channels=in_channels, out_channels=32, start_level=1,
                  add_extra_convs='on_input', num_outs=5),
        bbox_head=dict(
            type='RetinaHead', num_classes=3, in_channels=32, stacked_convs=1, feat_channels=32,
            anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                  scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                                  strides=[8, 16, 32, 64, 128]),
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4,
                            target_stds=[1.0] * 4),
            loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                          loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
        train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4,
                                     min_pos_iou=0, ignore_iof_thr=-1),
                       sampler=dict(type='PseudoSampler'), allowed_border=-1, pos_weight=-1,
                       debug=False),
        test_cfg=dict(nms_pre=100, min_bbox_size=0, score_thr=0.05,
                      nms=dict(type='nms', iou_threshold=0.5), max_per_img=10))
    with DefaultScope.overwrite_default_scope('mmdet'):  # as default_scope='mmdet' does
        model = MODELS.build(ConfigDict(cfg))  # a ConfigDict, as read from a config file
    assert isinstance(model.backbone, ShuffleNetV2Supernet)
    path = _paths(1, seed=4)[0]
    model.backbone.set_choices(path)
    samples = []
    for i in range(2):
        s = DetDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64),
                                        scale_factor=(1.0, 1.0)))
        s.gt_instances = InstanceData(bboxes=torch.tensor([[4.0, 6.0, 40.0, 50.0 - i]]),
                                      labels=torch.tensor([i]))
        samples.append(s)
    data = model.data_preprocessor(
        dict(inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)] * 2,
             data_samples=samples), training=True)
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    total, _ = model.parse_losses(losses)  # sums the per-level losses
    assert torch.isfinite(total)
    total.backward()
    block = model.backbone.stages[0][1]
    assert block.choices[path.ops[1]].main[0].conv.weight.grad is not None
    assert all(block.choices[op].main[0].conv.weight.grad is None
               for op in DETNAS_OPS if op != path.ops[1])
    model.eval()
    with torch.no_grad():
        preds = model.predict(data['inputs'], data['data_samples'])
    assert len(preds) == 2 and hasattr(preds[0], 'pred_instances')
    cost = detector_flops(model, (3, 64, 64))
    assert cost['backbone_flops'] == backbone_cost('300M', path, (3, 64, 64), 0.5)['flops']
    assert cost['flops'] > cost['backbone_flops']
    assert not any(m.training for m in model.modules())  # counting keeps the eval mode
    model.train()
    detector_flops(model, (3, 64, 64))
    assert all(m.training for m in model.modules())  # ... and the train mode


def test_published_detnas_paths_meet_their_flops_budgets():
    from nas_det.space.published import DETNAS_1_3G_FPN, DETNAS_300M_FPN, DETNAS_300M_RETINANET
    # backbone without the classification-only last conv, 1x3x224x224 (the paper's limit)
    assert backbone_cost('300M', DETNAS_300M_FPN)['flops'] == 288_082_368
    assert backbone_cost('300M', DETNAS_300M_RETINANET)['flops'] == 291_205_824
    assert backbone_cost('1.3G', DETNAS_1_3G_FPN)['flops'] == 1_269_181_536


def test_channels_last_gives_the_same_outputs_and_gradients():
    """``channels_last=True`` is a memory layout only: the same keys, the same outputs
    (NCHW-contiguous for the neck) and gradients as the default layout, and its weights
    stay NHWC after loading a checkpoint and a training step."""
    import random
    from nas_det.models.shufflenet import ShuffleNetV2Supernet
    torch.manual_seed(0)
    ref = ShuffleNetV2Supernet(widen_factor=0.5)
    nhwc = ShuffleNetV2Supernet(widen_factor=0.5, channels_last=True)
    assert ref.state_dict().keys() == nhwc.state_dict().keys()
    nhwc.load_state_dict(ref.state_dict())
    conv = nhwc.stages[1][0].choices['shuffle5x5'].main[1].conv.weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    path = ref.search_space.sample(random.Random(2))
    ref.set_choices(path), nhwc.set_choices(path)
    # eval mode: BN over a batch of 2 at 2x2 px would turn float rounding into 1e-3
    ref.eval(), nhwc.eval()
    x = torch.randn(2, 3, 64, 64)
    outs_ref, outs = ref(x), nhwc(x)
    for a, b in zip(outs_ref, outs):
        assert b.is_contiguous()
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    sum(o.square().mean() for o in outs_ref).backward()
    sum(o.square().mean() for o in outs).backward()
    for (n, p), q in zip(ref.named_parameters(), nhwc.parameters()):
        if p.grad is not None:
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-3, atol=1e-5, msg=n)
    torch.optim.SGD(nhwc.parameters(), lr=0.1).step()
    assert conv.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match='channels_last'):
        ShuffleNetV2Supernet(channels_last='yes')


def test_nhwc_split_gives_the_slicing_gradients_in_the_nhwc_layout():
    """A channels_last unit's even/odd split (``_EvenOddSplitNHWC``) returns the slices and
    hands back the gradient slicing would, bit for bit, but in x's NHWC layout (slicing's
    backward builds NCHW zeros, which slowed every later ReLU backward about 3x); a
    supernet trained with it gets the same gradients as with plain slicing."""
    import random

    import nas_det.models.shufflenet as S
    x0 = torch.randn(2, 6, 5, 5).contiguous(memory_format=torch.channels_last)
    gk, gm = torch.randn(2, 3, 5, 5), torch.randn(2, 3, 5, 5)
    grads = []
    for fn in (lambda x: (x[:, 0::2], x[:, 1::2]), S.split_channels):
        x = x0.clone().requires_grad_()
        z = x * 1.0  # not a leaf: its gradient keeps the layout autograd made it in
        assert z.is_contiguous(memory_format=torch.channels_last)
        z.register_hook(grads.append)
        keep, main = fn(z)
        assert torch.equal(keep, x0[:, 0::2]) and torch.equal(main, x0[:, 1::2])
        ((keep * gk).sum() + (main * gm).sum()).backward()
    assert torch.equal(grads[0], grads[1])
    assert grads[1].is_contiguous(memory_format=torch.channels_last)
    assert not grads[0].is_contiguous(memory_format=torch.channels_last)
    # only one half used: the other half's gradient is zero
    x = x0.clone().requires_grad_()
    S.split_channels(x)[1].sum().backward()
    assert torch.equal(x.grad[:, 0::2], torch.zeros(2, 3, 5, 5))
    assert torch.equal(x.grad[:, 1::2], torch.ones(2, 3, 5, 5))
    # NCHW input, no grad, or 'halves': plain slicing (views)
    y = torch.randn(2, 6, 5, 5, requires_grad=True)
    assert S.split_channels(y)[0]._base is y
    with torch.no_grad():
        assert S.split_channels(x0)[0]._base is x0
    # a whole supernet: gradients bit-identical with the plain slices
    orig = S.split_channels
    torch.manual_seed(0)
    net = S.ShuffleNetV2Supernet(widen_factor=0.5, channels_last=True)
    net.set_choices(net.search_space.sample(random.Random(1)))
    inp = torch.randn(2, 3, 64, 64)
    got = []
    for fn in (orig, lambda t, mode='even_odd': (t[:, 0::2], t[:, 1::2])):
        S.split_channels = fn
        try:
            net.zero_grad(set_to_none=True)
            sum(o.square().mean() for o in net(inp)).backward()
        finally:
            S.split_channels = orig
        got.append([p.grad.clone() for p in net.parameters() if p.grad is not None])
    assert len(got[0]) == len(got[1]) > 0
    assert all(torch.equal(a, b) for a, b in zip(*got))
