"""NASNet / PNASNet / AmoebaNet cell networks built from genotypes (nas_det.models.cells)."""
import pytest
import torch
import torch.nn as nn
from mmengine.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from nas_det.models.cell_ops import OPS, PADDING_MODES, FactorizedReduce, make_pool
from nas_det.models.cells import (PUBLISHED_MODELS, CellModule, CellNetBackbone, CellNetwork,
                                  build_published, conv_linear_flops, plan_cells)
from nas_det.models.timm_mapping import ARCHS, convert_timm_state_dict
from nas_det.space.cells import AMOEBA_OPS, NASNET_OPS, PNAS_OPS, Cell, CellGenotype
from nas_det.space.published import AMOEBANET_A, NASNET_A, PNASNET_5

GENOTYPES = {'nasnet_a': NASNET_A, 'pnasnet_5': PNASNET_5, 'amoebanet_a': AMOEBANET_A}
TINY = dict(cells_per_stage=1, filters=8)


pytestmark = pytest.mark.usefixtures('one_thread')  # conftest: tiny tensors, 1 thread


def _params(model):
    return sum(p.numel() for p in model.parameters())


def _meta(**kwargs):
    with torch.device('meta'):
        return CellNetwork(**kwargs)


def _randomize_norms(model, seed=0):
    """Random BN statistics and affine terms, so that equal outputs mean equal networks."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)


# ---------------------------------------------------------------------------- ops

def test_op_vocabulary_covers_every_search_space():
    assert set(NASNET_OPS) | set(AMOEBA_OPS) | set(PNAS_OPS) == set(OPS)


@pytest.mark.parametrize('padding', PADDING_MODES)
def test_every_op_keeps_or_halves_the_map(padding):
    for size in (9, 10):
        x = torch.randn(2, 6, size, size)
        for name in OPS:
            for stride in (1, 2):
                out = OPS[name](6, 8, stride, padding=padding)(x)
                h = -(-size // stride)
                assert out.shape == (2, 8, h, h), (name, stride, size)
    assert isinstance(OPS['identity'](8, 8, 1), nn.Identity)
    assert not isinstance(OPS['identity'](8, 8, 2), nn.Identity)
    assert not hasattr(OPS['max_pool_3x3'](8, 8, 2), 'conv')  # fix-up only when widths differ
    assert OPS['avg_pool_3x3'](6, 8, 1).conv.out_channels == 8


def test_tf_same_pooling_and_padding_modes():
    ones = torch.ones(1, 1, 6, 6)
    # TF 'SAME', even input, stride 2: pads 0 before and 1 after; TF averages valid pixels,
    # timm's AvgPool2dSame counts the zero padding
    assert torch.equal(make_pool('avg', 3, 2, 'tf')(ones), torch.ones(1, 1, 3, 3))
    timm_avg = make_pool('avg', 3, 2, 'timm')(ones)[0, 0]
    assert timm_avg[0, 0] == 1 and torch.allclose(timm_avg[2, 2], torch.tensor(4 / 9))
    x = torch.arange(36.).reshape(1, 1, 6, 6)
    # asymmetric TF padding: the first window starts at pixel 0 (PyTorch's at -1)
    assert make_pool('max', 3, 2, 'tf')(x)[0, 0, 0, 0] == 14
    assert make_pool('max', 3, 2, 'pytorch')(x)[0, 0, 0, 0] == 7


def test_factorized_reduction_sees_every_pixel():
    fr = FactorizedReduce(1, 2, relu=False)
    with torch.no_grad():
        fr.conv1.weight.fill_(1)
        fr.conv2.weight.fill_(1)
    fr.eval()
    x = torch.arange(25.).reshape(1, 1, 5, 5)
    y = fr(x) * (1 + fr.bn.eps) ** 0.5
    assert torch.allclose(y[0, 0], x[0, 0, ::2, ::2])
    assert torch.allclose(y[0, 1, :2, :2], x[0, 0, 1::2, 1::2]) and y[0, 1, 2, 2] == 0
    assert FactorizedReduce(4, 27).out_channels == 26  # TF: int(27 / 2) per path


# ---------------------------------------------------------------------------- networks

@pytest.mark.parametrize('name', GENOTYPES)
def test_published_genotypes_build_and_run_tiny(name):
    torch.manual_seed(0)
    for layout, size, feats in (('cifar', 16, [(16, 16), (8, 8), (4, 4)]),
                                ('mobile', 64, [(16, 16), (8, 8), (4, 4), (2, 2)])):
        net = CellNetwork(GENOTYPES[name], layout=layout, num_classes=7, **TINY)
        assert net(torch.randn(2, 3, size, size)).shape == (2, 7)
        bb = CellNetBackbone(name, layout=layout, **TINY)
        outs = bb(torch.randn(2, 3, size, size))
        assert [tuple(o.shape[2:]) for o in outs] == feats
        assert [o.shape[1] for o in outs] == list(bb.out_channels)
        assert all((o >= 0).all() for o in outs)  # ReLU-ed features
    # training with drop-path and the auxiliary head: both heads get gradients
    net = CellNetwork(name, num_classes=5, aux_head=True, drop_path_rate=0.3, **TINY).train()
    logits, aux = net(torch.randn(4, 3, 32, 32))
    assert logits.shape == aux.shape == (4, 5)
    (logits.sum() + aux.sum()).backward()
    assert net.fc.weight.grad is not None and net.aux_head.fc.weight.grad is not None
    assert net.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 5)


def test_layouts_and_reductions():
    # NASNet: separate reduction cells; PNASNet: the normal cell strides in place
    nas = [(p.name, p.kind, p.stride) for p in plan_cells(NASNET_A, 2, 8, 2)]
    assert nas == [('stem0', 'reduce', 2), ('stem1', 'reduce', 2), ('cell0', 'normal', 1),
                   ('cell1', 'normal', 1), ('reduce0', 'reduce', 2), ('cell2', 'normal', 1),
                   ('cell3', 'normal', 1), ('reduce1', 'reduce', 2), ('cell4', 'normal', 1),
                   ('cell5', 'normal', 1)]
    pnas = plan_cells(PNASNET_5, 4, 216, 2, skip_reduction_input=True)
    assert [p.stride for p in pnas] == [2, 2] + [1, 1, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1]
    assert [p.filters for p in pnas[:3]] + [pnas[-1].filters] == [54, 108, 216, 864]
    # NASNet-A Large reads the reduction cell's h1 after a reduction (skip_reduction_input)
    large = plan_cells(NASNET_A, 6, 168, 2, skip_reduction_input=True)
    red = [i for i, p in enumerate(large) if p.name == 'reduce0'][0]
    assert large[red + 1].h1 == large[red].h1 == red - 1
    assert plan_cells(NASNET_A, 6, 168, 2)[red + 1].h1 == red
    with torch.device('meta'):
        bb = CellNetBackbone('pnasnet_5', layout='large', cells_per_stage=4, filters=216)
    assert bb.stage_channels == (270, 1080, 2160, 4320) and bb.stage_strides == (4, 8, 16, 32)
    cifar = CellNetBackbone('nasnet_a', layout='cifar', **TINY)
    assert cifar.stage_strides == (1, 2, 4) and cifar.stage_channels == (48, 96, 192)


def test_exact_parameter_counts_of_the_large_models():
    assert _params(_meta(**ARCHS['nasnetalarge']['model'])) == 88_753_150
    assert _params(_meta(**ARCHS['pnasnet5large']['model'])) == 86_057_668
    timm = pytest.importorskip('timm')
    with torch.device('meta'):
        assert _params(timm.create_model('nasnetalarge')) == 88_753_150
        assert _params(timm.create_model('pnasnet5large')) == 86_057_668


def test_paper_sizes_and_mult_adds():
    papers = {'nasnet_a_mobile': (5.3e6, 564e6), 'nasnet_a_cifar': (3.3e6, None),
              'pnasnet_5_mobile': (5.1e6, 588e6), 'amoebanet_a_cifar': (3.2e6, None)}
    for name, (params, flops) in papers.items():
        with torch.device('meta'):
            net = build_published(name, num_classes=10 if 'cifar' in name else 1000)
        assert abs(_params(net) / params - 1) < 0.02, name
        if flops:
            size = net.layout['image_size']
            assert abs(conv_linear_flops(net, (3, size, size)) / flops - 1) < 0.01, name


def test_flop_counter_matches_mmengine_flop_analyzer():
    from nas_det.models.flops import model_flops
    torch.manual_seed(0)
    net = CellNetwork('amoebanet_a', layout='mobile', num_classes=10, **TINY)
    assert conv_linear_flops(net, (3, 64, 64), device='cpu') == \
        model_flops(net, torch.zeros(1, 3, 64, 64))['flops']
    meta = _meta(genotype='amoebanet_a', layout='mobile', num_classes=10, **TINY)
    assert conv_linear_flops(meta, (3, 64, 64)) == conv_linear_flops(net, (3, 64, 64), 'cpu')


def test_drop_path_schedule():
    net = CellNetwork('nasnet_a', num_classes=3, drop_path_rate=0.4, **TINY)
    probs = [c.drop_prob for c in net.cells]
    assert probs == sorted(probs) and probs[-1] == pytest.approx(0.4)
    net.set_drop_path_progress(0.5)
    assert net.cells[-1].drop_prob == pytest.approx(0.2)
    x = torch.randn(8, 3, 16, 16)
    net.train()
    torch.manual_seed(0)
    a = net(x)
    torch.manual_seed(1)
    assert not torch.allclose(a, net(x))
    net.eval()
    assert torch.equal(net(x), net(x))


# ---------------------------------------------------------------------------- timm parity

@pytest.mark.parametrize('arch', ['nasnetalarge', 'pnasnet5large'])
def test_timm_weights_give_the_same_logits(arch):
    """Full-size timm model, weights mapped onto ours (shared, not copied), one small input.

    Tolerance: the two networks run the same ops in the same order, so outputs agree to
    float32 rounding (rtol 1e-5, atol 1e-5 of the output's scale; measured: bit-equal).
    """
    timm = pytest.importorskip('timm')
    torch.manual_seed(0)
    ref = timm.create_model(arch, pretrained=False).eval()
    _randomize_norms(ref)
    sd = convert_timm_state_dict(ref.state_dict(), arch)
    with torch.device('meta'):
        ours = CellNetwork(**ARCHS[arch]['model'], padding='timm')
    ours.load_state_dict(sd, strict=True, assign=True)
    ours.eval()
    feats = {}
    ours.cells[-1].register_forward_hook(lambda m, i, o: feats.setdefault('x', o))
    x = torch.randn(1, 3, 48, 48)  # 23 -> 12 -> 6 -> 3 -> 2: odd and even maps (asym. pads)
    with torch.no_grad():
        ref_feats = ref.forward_features(x)
        ref_logits = ref.forward_head(ref_feats)
        logits = ours(x)
    ours_feats = torch.relu(feats['x'])

    def close(a, b):
        return torch.allclose(a, b, rtol=1e-5, atol=1e-5 * b.abs().max().item())

    assert ref_feats.abs().max() > 0 and close(ours_feats, ref_feats)
    assert close(logits, ref_logits)
    if arch == 'nasnetalarge':  # the check is sharp: TF's own average pooling differs
        with torch.device('meta'):
            tf = CellNetwork(**ARCHS[arch]['model'], padding='tf')
        tf.load_state_dict(sd, strict=True, assign=True)
        with torch.no_grad():
            tf_feats = torch.relu(tf.eval().forward_cells(x)[0])
        assert not close(tf_feats, ref_feats)


def test_timm_mapping_rejects_unknown_keys():
    with pytest.raises(ValueError, match='arch'):
        convert_timm_state_dict({}, 'resnet50')
    with pytest.raises(ValueError, match='cell_0.foo.weight'):
        convert_timm_state_dict({'cell_0.foo.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match='head.weight'):
        convert_timm_state_dict({'head.weight': torch.zeros(1)}, 'pnasnet5large')


# ---------------------------------------------------------------------------- mm glue

def test_backbone_registry_out_indices_and_freezing():
    bb = MODELS.build(dict(type='CellNetBackbone', genotype=AMOEBANET_A.to_dict(),
                           layout='mobile', out_indices=(1, 3), frozen_stages=1,
                           norm_eval=True, **TINY))
    assert bb.out_indices == (1, 3) and bb.out_channels == (32, 128)  # 4 states x 8, x 32
    outs = bb(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 32, 8, 8), (1, 128, 2, 2)]
    bb.train()
    frozen = [bb.stem] + [c for c, p in zip(bb.cells, bb.plans) if p.stage <= 1]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for c, pl in zip(bb.cells, bb.plans) if pl.stage > 1
               for p in c.parameters())
    assert all(not m.training for m in bb.modules() if isinstance(m, _BatchNorm))
    assert bb.cells[-1].training
    last = CellNetBackbone('nasnet_a', out_indices=(-1,), **TINY)
    assert last.out_indices == (2,) and last.out_channels == (192,)


def test_image_classifier_equals_cell_network():
    pytest.importorskip('mmpretrain')
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    net = CellNetwork('pnasnet_5', layout='cifar', num_classes=10, **TINY).eval()
    # built under mmpretrain's scope whatever default scope an earlier test left behind
    clf = PRETRAIN_MODELS.build(dict(
        type='ImageClassifier', _scope_='mmpretrain',
        backbone=dict(type='CellNetBackbone', genotype='pnasnet_5', layout='cifar',
                      out_indices=(2,), **TINY),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=net.channels[-1])))
    # the same weights: stem/cells under backbone., fc under head.
    sd = {('head.' if k.startswith('fc.') else 'backbone.') + k: v
          for k, v in net.state_dict().items()}
    clf.load_state_dict(sd, strict=True)
    clf.eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(clf(x, mode='tensor'), net(x), atol=1e-6)
    clf.train()
    samples = [DataSample().set_gt_label(i) for i in (3, 7)]
    loss = clf(x, samples, mode='loss')['loss']
    assert loss.item() > 0
    loss.backward()
    assert clf.backbone.stem.conv.weight.grad is not None


def test_retinanet_with_cell_backbone():
    pytest.importorskip('mmdet')
    import mmdet.registry  # noqa: F401  (the 'mmdet' scope)
    from mmdet.structures import DetDataSample
    from mmengine.registry import DefaultScope
    from mmengine.structures import InstanceData
    torch.manual_seed(0)
    backbone = dict(type='CellNetBackbone', genotype='nasnet_a', layout='mobile',
                    out_indices=(1, 2, 3), **TINY)
    cfg = dict(
        type='RetinaNet',
        backbone=backbone,
        neck=dict(type='FPN', in_channels=list(MODELS.build(backbone).out_channels),
                  out_channels=16, add_extra_convs='on_input', num_outs=5),
        bbox_head=dict(
            type='RetinaHead', num_classes=3, in_channels=16, stacked_convs=1, feat_channels=16,
            anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                  scales_per_octave=1, ratios=[1.0],
                                  strides=[8, 16, 32, 64, 128]),
            bbox_coder=dict(type='DeltaXYWHBBoxCoder'),
            loss_cls=dict(type='FocalLoss', use_sigmoid=True),
            loss_bbox=dict(type='L1Loss')),
        train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4,
                                     min_pos_iou=0),
                       sampler=dict(type='PseudoSampler'), allowed_border=-1, pos_weight=-1))
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg)
    sample = DetDataSample(metainfo=dict(img_shape=(64, 64), pad_shape=(64, 64),
                                         batch_input_shape=(64, 64)))
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[4., 6., 40., 50.]]),
                                       labels=torch.tensor([1]))
    losses = model.loss(torch.randn(1, 3, 64, 64), [sample])
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.cells[0].pre0.conv.weight.grad is not None


# ---------------------------------------------------------------------------- errors

def test_clear_errors():
    bad_op = CellGenotype(Cell((('h0', 'conv_9x9', 'h1', 'identity'),), ('b2',)))
    with pytest.raises(ValueError, match=r'normal/block2/op0.*conv_9x9'):
        CellNetwork(bad_op, **TINY)
    late = CellGenotype(Cell((('h0', 'identity', 'h1', 'identity'),
                              ('b3', 'identity', 'h1', 'identity')), ('b3',)))
    with pytest.raises(ValueError, match=r'normal/block3/input0'):
        CellNetwork(late, **TINY)
    with pytest.raises(ValueError, match=r'genotype: .*single Cell'):
        CellNetwork(NASNET_A.reduce, **TINY)
    with pytest.raises(ValueError, match=r'genotype.*nasfpn_7cell'):
        CellNetBackbone('nasfpn_7cell')
    with pytest.raises(ValueError, match='layout'):
        CellNetwork('nasnet_a', layout='huge')
    with pytest.raises(ValueError, match='padding'):
        CellNetwork('nasnet_a', padding='same', **TINY)
    with pytest.raises(ValueError, match=r"filters: 4 .*'stem0'"):
        CellNetwork('nasnet_a', layout='mobile', cells_per_stage=1, filters=4)
    with pytest.raises(ValueError, match='out_indices'):
        CellNetBackbone('nasnet_a', out_indices=(3,), **TINY)
    with pytest.raises(ValueError, match='frozen_stages'):
        CellNetBackbone('nasnet_a', frozen_stages=5, **TINY)
    with pytest.raises(ValueError, match='name'):
        build_published('nasnet_b')
    with pytest.raises(ValueError, match='stride'):
        CellModule(NASNET_A.normal, (8, 8), 8, stride=3)
    assert set(PUBLISHED_MODELS) >= {'nasnet_a_large', 'pnasnet_5_large', 'amoebanet_a_large'}
