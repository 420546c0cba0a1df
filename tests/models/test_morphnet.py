"""MorphNet: channel grouping, the regularizer, shrink / expand / export, the optimizer
wrapper in a real (tiny) training run."""
import os.path as osp

import pytest
import torch
import torch.nn as nn

import nas_det  # noqa: F401  (registers modules)
from nas_det.engine.runner.checkpoint import safe_load
from nas_det.engine.export.morphnet import morphnet_export
from nas_det.engine.optimizers import build_regularizer, check_settings
from nas_det.models.flops import model_flops
from nas_det.models.morphnet import (CostModel, MorphNetRegularizer, expand, group_names,
                                     resnet_group_names, shrink, trace_channels)
from nas_det.models.width_resnet import WidthResNet, resnet_widths

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SMALL = dict(stem_channels=16, base_channels=16)


def _small_widths(depth=18):
    return [list(p) for p in resnet_widths(depth, **SMALL).groups]


def test_resnet_widths_and_keys_mirror_mmdet():
    from mmdet.models.backbones import ResNet
    for depth in (18, 50):
        ours, theirs = WidthResNet(depth), ResNet(depth, norm_eval=False)
        a, b = ours.state_dict(), theirs.state_dict()
        assert list(a) == list(b)
        assert all(a[k].shape == b[k].shape for k in a)
    w = resnet_widths(18)
    assert w['stem'] == 64 and w['stage4'] == 512 and w['stage3/block2/mid'] == 256
    assert len(resnet_widths(50).names) == 1 + 4 + 2 * 16
    with pytest.raises(ValueError, match='widths'):
        WidthResNet(18, widths=[['stem', 8]])
    with pytest.raises(ValueError, match='depth'):
        WidthResNet(19)
    # the CIFAR stem (3x3 stride 1, no max-pool): same keys, 4x the map size of ImageNet's
    cifar = WidthResNet(18, stem='cifar', out_indices=(0, 3))
    assert list(cifar.state_dict()) == list(WidthResNet(18).state_dict())
    assert cifar.conv1.weight.shape == (64, 3, 3, 3)
    outs = cifar(torch.randn(1, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(1, 64, 32, 32), (1, 512, 4, 4)]
    with pytest.raises(ValueError, match=r"stem: 'tiny'.*\['imagenet', 'cifar'\]"):
        WidthResNet(18, stem='tiny')


def test_frozen_stages_and_norm_eval_as_mmdet_resnet():
    """WidthResNet freezes what mmdet's ResNet freezes (same keys: stem and layer1..k stop
    training and stay in eval mode) and keeps every BN in eval mode with norm_eval."""
    from mmdet.models.backbones import ResNet
    from torch.nn.modules.batchnorm import _BatchNorm
    ours = WidthResNet(18, frozen_stages=2, norm_eval=True)
    theirs = ResNet(18, frozen_stages=2, norm_eval=True)
    ours.train()
    theirs.train()
    grads = lambda m: {k: p.requires_grad for k, p in m.named_parameters()}  # noqa: E731
    assert grads(ours) == grads(theirs) and not all(grads(ours).values())
    assert all(not m.training for m in ours.modules() if isinstance(m, _BatchNorm))
    assert not ours.layer2.training and ours.layer3.training
    free = WidthResNet(18, frozen_stages=-1, norm_eval=False).train()
    assert all(grads(free).values()) and all(m.training for m in free.modules())


def test_grouping_of_coupled_channels_on_resnet():
    from mmdet.models.backbones import ResNet
    m = ResNet(18, norm_eval=False)
    g = trace_channels(m, (3, 64, 64))
    names = resnet_group_names(m)
    labels = group_names(g, names)
    # the stem feeds layer1's residual adds without a projection: one group
    assert ['stage1', 'stem'] in labels
    assert len(labels) == 12  # 13 genotype names, stem and stage1 coupled
    cg = {n: g.cgs(ids) for n, ids in g.bns.items()}
    # residual stream of stage 2: downsample BN and both blocks' last BN, channel by channel
    assert cg['layer2.0.downsample.1'] == cg['layer2.0.bn2'] == cg['layer2.1.bn2']
    assert cg['bn1'] == cg['layer1.0.bn2'] == cg['layer1.1.bn2']
    # mid channels stand alone
    assert not set(cg['layer2.0.bn1']) & set(cg['layer2.0.bn2'])
    assert len(set(cg['layer3.1.bn1'])) == 256
    assert all(g.prunable[c] for c in cg['layer4.1.bn2'])
    # ResNet-50: the stem has its own width (layer1 has a projection)
    m50 = WidthResNet(50)
    g50 = trace_channels(m50, (3, 64, 64))
    assert len(group_names(g50, resnet_group_names(m50))) == 37


def test_grouping_on_shufflenet_depthwise_and_concat():
    import random

    from nas_det.models.shufflenet import ShuffleNetV2Subnet
    from nas_det.space.detnas import DetNASSpace
    m = ShuffleNetV2Subnet(DetNASSpace('300M').sample(random.Random(0)))
    g = trace_channels(m, (3, 64, 64))
    convs = {c.name: c for c in g.convs}
    dw = [c for c in g.convs if c.kind == 'depthwise']
    assert dw
    for c in dw:  # a depthwise conv's input and output channels are one
        assert g.cgs(c.in_ids) == g.cgs(c.out_ids)
    # a stride-1 unit's output is [even input channels, main branch]: the passed-through
    # half keeps the groups of the input's even channels
    blk = 'stages.0.1.choices'
    op = [n for n in convs if n.startswith(blk)][0].split('.')[4]
    first = convs[f'{blk}.{op}.main.0.conv']
    prev_out = [c for c in g.convs if c.name.startswith('stages.0.0.')]
    assert len(first.in_ids) == 32  # the odd half of 64 channels
    assert prev_out
    r = MorphNetRegularizer(m, g)
    assert r.full_cost() == model_flops(m, torch.zeros(1, 3, 64, 64))['flops']
    assert MorphNetRegularizer(m, g, 'params').full_cost() == sum(p.numel() for p in m.parameters())


def test_penalty_and_cost_by_hand():
    m = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                      nn.Conv2d(4, 5, 1, bias=False), nn.BatchNorm2d(5))
    g = trace_channels(m, (3, 8, 8))
    with torch.no_grad():
        m[1].weight.copy_(torch.tensor([1.0, 0.05, -1.0, 1.0]))
        m[4].weight.fill_(0.5)
    r = MorphNetRegularizer(m, g, threshold=0.1)
    assert r.full_cost() == 64 * 9 * 3 * 4 + 64 * 4 * 5
    penalty, live = r()
    assert live == 64 * 9 * 3 * 3 + 64 * 3 * 5
    expected = 64 * 9 * (3 * 3.05) + 64 * (3 * 2.5 + 5 * 3.05)
    assert penalty.item() == pytest.approx(expected, rel=1e-6)
    penalty.backward()
    # d/d gamma of conv1's channel 0: conv1 charges 576 * 3 live inputs, conv2 64 * 5 outputs
    assert m[1].weight.grad[0].item() == pytest.approx(576 * 3 + 64 * 5)
    assert m[1].weight.grad[2].item() == pytest.approx(-(576 * 3 + 64 * 5))
    sized = MorphNetRegularizer(m, g, cost='params')
    assert sized.full_cost() == sum(p.numel() for p in m.parameters())


def test_unsupported_layers_are_named():
    m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Conv2d(8, 8, 3, groups=2),
                      nn.BatchNorm2d(8))
    with pytest.raises(ValueError, match=r"layer 2.*grouped conv"):
        trace_channels(m, (3, 16, 16))
    m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.GroupNorm(2, 8))
    with pytest.raises(ValueError, match=r"layer 1.*GroupNorm"):
        trace_channels(m, (3, 16, 16))

    class Shuffle(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 1)
            self.bn = nn.BatchNorm2d(8)

        def forward(self, x):
            x = self.bn(self.conv(x))
            n, c, h, w = x.shape
            return x.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)
    with pytest.raises(ValueError, match='layer view.*moves channels'):
        trace_channels(Shuffle(), (3, 8, 8))
    with pytest.raises(ValueError, match='morphnet.cost'):
        check_settings(dict(cost='energy'))
    with pytest.raises(ValueError, match='morphnet'):
        check_settings(dict(strenght=1.0))


def _classifier(widths, stem='imagenet'):
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope('mmpretrain')
    cfg = dict(type='ImageClassifier',
               backbone=dict(type='WidthResNet', depth=18, widths=widths, out_indices=(3, ),
                             stem=stem),
               neck=dict(type='GlobalAveragePooling'),
               head=dict(type='LinearClsHead', num_classes=10, in_channels=dict(widths)['stage4'],
                         loss=dict(type='CrossEntropyLoss')))
    return cfg, MODELS.build(cfg)


def _random_gammas(model, seed=0, low=0.3):
    """Random BN statistics; scales in [0, 1), about ``low`` of them shrunk 10x, and
    channel 0 of every layer at 0.9 (so no layer dies)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.backbone.modules():
            if isinstance(m, nn.BatchNorm2d):
                w = torch.rand(m.num_features, generator=gen)
                w[torch.rand(m.num_features, generator=gen) < low] *= 0.1
                w[0] = 0.9
                m.weight.copy_(w)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)


def _trained_classifier(stem):
    """A small WidthResNet classifier with random BN scales (as if trained with the
    regularizer), in eval mode, and the MorphNet training config that export reads."""
    from mmengine.config import Config
    model_cfg, model = _classifier(_small_widths(), stem)
    _random_gammas(model)
    model.eval()
    cfg = Config(dict(model=model_cfg, default_scope='mmpretrain',
                      optim_wrapper=dict(type='MorphNetOptimWrapper',
                                         optimizer=dict(type='SGD', lr=0.1),
                                         constructor='MorphNetOptimWrapperConstructor')))
    return cfg, model


@pytest.mark.parametrize('stem', ['imagenet', 'cifar'])
def test_export_classifier_flops_slicing_and_loading(tmp_path, stem):
    from mmengine.config import Config
    from mmengine.registry import MODELS
    pytest.importorskip('mmpretrain')
    cfg, model = _trained_classifier(stem)
    settings = dict(input_shape=(3, 32, 32), threshold=0.1)
    # the CIFAR stem at 32x32 is the advertised set-up (bench/morphnet.py), divisor 8; the
    # ImageNet stem leaves 1-8 px maps at these 16-64 channel widths, where multiples of 8
    # are cost steps of ~4%: widths rounded to multiples of 2 there
    divisor = 8 if stem == 'cifar' else 2
    for scope in ('backbone', 'detector'):
        out = morphnet_export(cfg, model, str(tmp_path / scope), settings, budget_scope=scope,
                              budget_ratio=0.8, divisor=divisor)
        assert out['shrunk']['cost'] < out['original']['cost']
        for key in ('shrunk', 'expanded'):
            # our analytic table equals FlopAnalyzer (conv + linear) on the exported network
            assert out[key]['measured_cost'] == out[key]['cost']
            exported = Config.fromfile(out[key]['config'])
            assert exported.model.backbone.type == 'WidthResNet'
            assert exported.model.backbone.stem == stem
            assert exported.optim_wrapper.type == 'OptimWrapper'
            net = MODELS.build(exported.model)
            ckpt = safe_load(out[key]['checkpoint'])
            net.load_state_dict(ckpt['state_dict'], strict=True)
        assert abs(out['expanded']['measured_rel_error']) < 0.02  # README: within 2%
        assert out['expanded']['cost'] <= out['budget']
    # the shrunk net computes what the original computes with its dropped channels
    # silenced (scale and shift 0): the slicing keeps the right channels
    out = morphnet_export(cfg, model, str(tmp_path / 'eq'), settings)
    reg = build_regularizer(model, settings)
    g = reg.graph
    alive = reg.alive().tolist()
    with torch.no_grad():
        for name, ids in g.bns.items():
            bn = model.backbone.get_submodule(name)
            for j, c in enumerate(g.cgs(ids)):
                if not alive[c]:
                    bn.weight[j] = 0
                    bn.bias[j] = 0
    shrunk = MODELS.build(Config.fromfile(out['shrunk']['config']).model)
    shrunk.load_state_dict(safe_load(out['shrunk']['checkpoint'])['state_dict'])
    shrunk.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(shrunk(x, mode='tensor'), model(x, mode='tensor'), atol=1e-4)


def test_export_retinanet_detector_scope(tmp_path):
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    from nas_det.models.flops import detector_flops
    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(REPO, 'configs/_base_/models/retinanet_r18_lite_fpn.py'))
    # mmdet's own ResNet (at 1/4 width) is trained; export builds WidthResNets
    cfg.model.backbone.update(base_channels=16, stem_channels=16)
    cfg.model.neck.in_channels = [16, 32, 64, 128]
    cfg.model.neck.out_channels = 16
    cfg.model.bbox_head.in_channels = cfg.model.bbox_head.feat_channels = 16
    cfg.default_scope = 'mmdet'
    model = MODELS.build(cfg.model)
    _random_gammas(model, seed=1)
    model.eval()
    settings = dict(input_shape=(3, 64, 64), threshold=0.1)
    full = detector_flops(model, (3, 64, 64))['flops']
    out = morphnet_export(cfg, model, str(tmp_path), settings, budget=0.9 * full,
                          budget_scope='detector')
    assert out['original']['cost'] == full
    assert type(model.backbone).__name__ == 'ResNet'
    for key in ('shrunk', 'expanded'):
        assert out[key]['measured_cost'] == out[key]['cost']
        exported = Config.fromfile(out[key]['config'])
        assert exported.model.backbone.type == 'WidthResNet'
        net = MODELS.build(exported.model)
        net.load_state_dict(safe_load(out[key]['checkpoint'])['state_dict'], strict=True)
        assert exported.model.neck.in_channels == [dict(out[key]['widths']['groups'])[
            f'stage{i}'] for i in range(1, 5)]
    assert out['expanded']['cost'] <= out['budget']
    assert abs(out['expanded']['measured_rel_error']) < 0.02


def test_expand_and_shrink_errors():
    m = WidthResNet(18, widths=_small_widths())
    g = trace_channels(m, (3, 32, 32))
    reg = MorphNetRegularizer(m, g)
    names = resnet_group_names(m)
    cm = CostModel(g)
    from nas_det.models.morphnet import groups_from_widths

    def cost(w):
        return cm.cost_of_widths(groups_from_widths(g, w, names))
    w = resnet_widths(18, **SMALL)
    full = cost(w)
    assert full == reg.full_cost()
    mult, out, c = expand(cost, w, 2 * full)
    assert c <= 2 * full and abs(c - 2 * full) / (2 * full) < 0.02 and mult > 1
    _, _, c_near = expand(cost, w, 1.37 * full, mode='nearest')
    _, _, c_under = expand(cost, w, 1.37 * full)
    assert abs(c_near - 1.37 * full) <= abs(c_under - 1.37 * full)
    with pytest.raises(ValueError, match='mode'):
        expand(cost, w, full, mode='over')
    with pytest.raises(ValueError, match='budget.*narrowest'):
        expand(cost, w, 10.0)
    with pytest.raises(ValueError, match='budget'):
        expand(cost, w, -1)
    with pytest.raises(ValueError, match='budget.*widened'):
        expand(cost, w, full * 1e9, max_multiplier=4)
    with pytest.raises(ValueError, match='threshold'):
        MorphNetRegularizer(m, g, threshold=-1)


def _branches(graph, names, depth=18):
    from nas_det.models.width_resnet import resnet_branches
    of = {n: b for b, ns in resnet_branches(depth).items() for n in ns}
    out = {}
    for k, labels in enumerate(group_names(graph, names)):
        if all(n in of for n in labels):
            out.setdefault(of[labels[0]], []).append(k)
    return out


def test_shrink_never_dead_ends():
    """An emptied inner layer removes its block's branch; an emptied layer elsewhere keeps
    min_width channels (those of largest scale); min_width=0 makes that an error naming
    the layer (no valid network: the stem pruned away)."""
    m = WidthResNet(18, widths=_small_widths())
    g = trace_channels(m, (3, 32, 32))
    reg = MorphNetRegularizer(m, g)
    names = resnet_group_names(m)
    branches = _branches(g, names)
    labels = group_names(g, names)
    # the stem and stage 1 (same width, no projection) are one residual stream
    k_stem = [i for i, lab in enumerate(labels) if 'stem' in lab][0]
    assert labels[k_stem] == ['stage1', 'stem']
    with torch.no_grad():
        for bn in m.modules():
            if isinstance(bn, nn.BatchNorm2d):
                bn.weight.fill_(0.5)
        m.layer2[1].bn1.weight.fill_(0.01)    # stage2/block2/mid: the block goes
        for name in g.width_groups[k_stem]['bns']:   # the stem: every channel under threshold
            m.get_submodule(name).weight.fill_(0.01)
        m.bn1.weight[3] = 0.05                 # its largest scale
    out = shrink(reg, branches=branches)
    assert out.removed == ['stage2/block2']
    k_mid = labels.index(['stage2/block2/mid'])
    assert out.wg_widths[k_mid] == 0
    assert out.wg_widths[k_stem] == 1 and out.widened == [k_stem]
    assert [c for c in g.width_groups[k_stem]['cgs'] if out.keep[c]] == \
        [g.width_groups[k_stem]['cgs'][3]]
    assert shrink(reg, min_width=4, branches=branches).wg_widths[k_stem] == 4
    with pytest.raises(ValueError, match=r"removes every channel of the layer\(s\) \['bn1', "
                                         r"'layer1\.0\.bn2'.*no valid network"):
        shrink(reg, min_width=0, branches=branches)
    with pytest.raises(ValueError, match='min_width'):
        shrink(reg, min_width=-1)
    # without branches the emptied inner layer keeps one channel instead
    assert shrink(reg).wg_widths[k_mid] == 1
    # the genotype: 0 only for all of a block's mids
    from nas_det.models.width_resnet import read_widths
    w = dict(_small_widths())
    with pytest.raises(ValueError, match='stem: 0 channels leave no valid network'):
        read_widths({**w, 'stem': 0}, 18)
    r50 = resnet_widths(50).as_dict()
    with pytest.raises(ValueError, match=r'stage1/block2: the branch is removed'):
        read_widths({**r50, 'stage1/block2/mid1': 0}, 50)
    net = WidthResNet(50, widths={**r50, 'stage1/block2/mid1': 0, 'stage1/block2/mid2': 0})
    assert net.removed_blocks == ['stage1/block2'] and not hasattr(net.layer1[1], 'conv1')
    x = torch.randn(1, 256, 8, 8).relu()
    assert torch.equal(net.layer1[1](x), x)    # the identity


def test_export_removes_blocks_and_counts_their_flops(tmp_path):
    """A trained net whose inner layers empty (one block with a shortcut projection):
    the export removes both blocks, the built networks skip them, and their FlopAnalyzer
    FLOPs equal the shrunk / expanded costs; the uniform baseline sits at the expanded
    cost; a removed block stays removed when the exported net is exported again."""
    from mmengine.config import Config
    from mmengine.registry import MODELS
    pytest.importorskip('mmpretrain')
    widths = _small_widths()
    model_cfg, model = _classifier(widths, 'cifar')
    _random_gammas(model)
    with torch.no_grad():
        model.backbone.layer2[1].bn1.weight.fill_(0.01)
        model.backbone.layer3[0].bn1.weight.fill_(0.01)   # first block: downsample stays
    model.eval()
    cfg = Config(dict(model=model_cfg, default_scope='mmpretrain'))
    settings = dict(input_shape=(3, 32, 32), threshold=0.1)
    out = morphnet_export(cfg, model, str(tmp_path / 'a'), settings)
    assert out['removed_blocks'] == ['stage2/block2', 'stage3/block1']
    for key in ('shrunk', 'expanded', 'uniform'):
        removed = [] if key == 'uniform' else ['stage2/block2', 'stage3/block1']
        w = dict(out[key]['widths']['groups'])
        assert [b for b in ('stage2/block2', 'stage3/block1') if w[f'{b}/mid'] == 0] == removed
        # the analytic cost of the genotype equals FlopAnalyzer on the built network
        assert out[key]['measured_cost'] == out[key]['cost']
        net = MODELS.build(Config.fromfile(out[key]['config']).model)
        assert net.backbone.removed_blocks == removed
        assert net.backbone.layer3[0].downsample is not None
        net.load_state_dict(safe_load(out[key]['checkpoint'])['state_dict'], strict=True)
        assert net(torch.randn(2, 3, 32, 32), mode='tensor').shape == (2, 10)
    assert out['shrunk']['cost'] < out['original']['cost']
    assert abs(out['uniform']['measured_rel_to_expanded']) < 0.02
    # export again from the shrunk network: the removed blocks are part of its original
    net = MODELS.build(Config.fromfile(out['shrunk']['config']).model)
    net.load_state_dict(safe_load(out['shrunk']['checkpoint'])['state_dict'])
    net.eval()
    again = morphnet_export(Config(dict(model=Config.fromfile(out['shrunk']['config']).model,
                                        default_scope='mmpretrain')),
                            net, str(tmp_path / 'b'), settings)
    assert again['removed_blocks'] == ['stage2/block2', 'stage3/block1']
    assert again['original']['cost'] == out['shrunk']['cost']


@pytest.mark.slow
def test_regularized_training_reduces_live_flops(tmp_path):
    """A real Runner, the optimizer wrapper from the config, a tiny ResNet on 64 digits."""
    pytest.importorskip('mmpretrain')
    from mmengine.config import Config
    from mmengine.runner import Runner

    from nas_det.data import make_classification_set
    data_root = str(tmp_path / 'digits_cls')
    make_classification_set(data_root, num_train=64, num_val=20, seed=0)
    cfg = Config.fromfile(osp.join(REPO, 'configs/morphnet/resnet18-width_morphnet_digits-cls.py'))
    cfg.work_dir = str(tmp_path)
    cfg.model.backbone.widths = _small_widths()
    cfg.model.head.in_channels = 128
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.train_dataloader.dataset.indices = 64
    cfg.train_dataloader.batch_size = 16
    cfg.val_dataloader.dataset.data_root = data_root
    cfg.val_dataloader.dataset.indices = 20
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=12, val_interval=100)
    cfg.param_scheduler = []
    cfg.optim_wrapper.optimizer = dict(type='SGD', lr=0.2, momentum=0.9)
    cfg.optim_wrapper.morphnet.update(strength_factor=200.0, warmup_iters=0, threshold=0.1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=12, by_epoch=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.pop('phases')
    runner = Runner.from_cfg(cfg)
    runner.train()
    hist = runner.message_hub.get_scalar('train/morphnet_flops').data[0]
    reg = runner.message_hub.get_scalar('train/morphnet_loss').data[0]
    assert len(hist) == 12
    assert hist[-1] < hist[0]
    assert reg[-1] < reg[0]
    # checkpoint keys stay plain (no wrapper prefix)
    ckpt = safe_load(osp.join(str(tmp_path), 'iter_12.pth'))
    assert 'backbone.conv1.weight' in ckpt['state_dict']


def test_configs_build_and_attach():
    """Both MorphNet configs parse, build, and their optimizer wrapper traces the model
    (mmdet's own ResNet in the RetinaNet config)."""
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import MODELS, init_default_scope
    for name, scope in (('retinanet_r18_morphnet_fpn_digits.py', 'mmdet'),
                        ('resnet18-width_morphnet_digits-cls.py', 'mmpretrain')):
        cfg = Config.fromfile(osp.join(REPO, 'configs/morphnet', name))
        assert cfg.phases == ['train', 'morphnet']
        init_default_scope(scope)
        model = MODELS.build(cfg.model)
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        assert wrapper.regularizer is not None
        assert wrapper.base_strength == pytest.approx(
            cfg.optim_wrapper.morphnet.strength_factor / wrapper.initial_cost)
        if scope == 'mmdet':
            # FPN lateral convs and the on-input extra conv read the backbone
            names = [c.name for c in wrapper.regularizer.graph.convs if c.consumer]
            assert names == [f'neck.lateral_convs.{i}.conv' for i in range(3)] + \
                ['neck.fpn_convs.3.conv']


def test_cell_network_traces():
    """The tracer follows a NASNet-A cell network (separable convs, factorized
    reductions, pooling branches, concatenated cell outputs); costs equal FlopAnalyzer's."""
    from nas_det.models.cells import CellNetBackbone
    m = CellNetBackbone('nasnet_a', 'cifar', filters=8, cells_per_stage=1)
    g = trace_channels(m, (3, 32, 32))
    assert any(c.kind == 'depthwise' for c in g.convs)
    assert sum(g.prunable) > 0
    assert MorphNetRegularizer(m, g).full_cost() == \
        model_flops(m, torch.zeros(1, 3, 32, 32))['flops']


def test_wrapper_warmup_and_missing_model():
    from mmengine.logging import MessageHub
    from nas_det.engine.optimizers import MorphNetOptimWrapper
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    w = MorphNetOptimWrapper(torch.optim.SGD(m.parameters(), lr=0.1),
                             morphnet=dict(input_shape=(3, 8, 8), module='', warmup_iters=10))
    with pytest.raises(RuntimeError, match='constructor'):
        w.update_params(torch.zeros((), requires_grad=True))
    w.attach(m)
    assert w.initial_cost == 36 * 27 * 4
    hub = MessageHub.get_instance('morphnet_test')
    hub.update_info('iter', 4)
    assert w.strength() == pytest.approx(0.5 / w.initial_cost)
    loss = m(torch.randn(2, 3, 8, 8)).mean()
    w.update_params(loss)
    assert hub.get_scalar('train/morphnet_flops').current() == w.initial_cost
    assert hub.get_scalar('train/morphnet_loss').current() > 0


def test_morphnet_phase(tmp_path):
    """The ``morphnet`` phase exports the checkpoint an earlier phase left."""
    pytest.importorskip('mmpretrain')
    from mmengine.config import Config
    from nas_det.engine.export.morphnet import morphnet_phase, save_plain
    from nas_det.engine.launch.phases import PhaseContext
    cfg = Config.fromfile(osp.join(REPO, 'configs/morphnet/resnet18-width_morphnet_digits-cls.py'))
    cfg.model.backbone.widths = _small_widths()
    cfg.model.head.in_channels = 128
    cfg.morphnet_export.divisor = 2  # ImageNet stem, tiny widths: see the export test
    cfg.work_dir = str(tmp_path / 'morphnet')
    ctx = PhaseContext(work_dir=str(tmp_path))
    with pytest.raises(ValueError, match='no earlier phase'):
        morphnet_phase(cfg, ctx)
    # the checkpoint of the config's network (its stem included)
    _, model = _classifier(_small_widths(), cfg.model.backbone.get('stem', 'imagenet'))
    _random_gammas(model, seed=2)
    save_plain({'state_dict': model.state_dict()}, str(tmp_path / 'trained.pth'))
    ctx.outputs['train'] = {'checkpoint': str(tmp_path / 'trained.pth')}
    out = morphnet_phase(cfg, ctx)
    assert out['cost_shrunk'] < out['cost_before'] == out['budget']
    assert -0.02 < out['rel_error'] <= 0
    for k in ('shrunk_config', 'expanded_config', 'checkpoint', 'plot'):
        assert osp.isfile(out[k])
