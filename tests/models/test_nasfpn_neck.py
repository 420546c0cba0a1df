"""NAS-FPN neck built from a genotype (nas_det.models.nasfpn), checked against mmdet."""
import random

import pytest
import torch
from mmengine.registry import MODELS

from nas_det.models.nasfpn import (COMBINE_OPS, GlobalPoolOp, NASFPNNeck, NASFPNSupernet,
                                   check_pyramid, mmdet_to_nasfpn_state_dict, plan_pyramid,
                                   register_combine_op, resize, slice_supernet_state_dict)
from nas_det.space import NASFPN_7CELL, NASFPNSpace, Pyramid

MMDET_ARGS = dict(in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5,
                  stack_times=7, start_level=1, norm_cfg=dict(type='BN'))
SMALL = dict(in_channels=[8, 16, 24, 32], out_channels=16, num_outs=5, stack_times=2,
             start_level=1, norm_cfg=dict(type='BN'))


pytestmark = pytest.mark.usefixtures('one_thread')  # conftest: tiny tensors, 1 thread


def _randomize(model, seed=0):
    """Random weights and BN statistics, so that equal outputs mean equal networks."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + 0.5 if t.dim() == 1
                        else torch.randn(t.shape, generator=g) * t[0].numel() ** -0.5)


def _feats(channels, h, w, batch=2, seed=0):
    """C2..C5 of a ResNet-shaped backbone (strides 4..32, ceil as in a conv stem) for an
    h x w image."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for c in channels:
        h, w = (h + 1) // 2 if out else (h + 3) // 4, (w + 1) // 2 if out else (w + 3) // 4
        out.append(torch.randn(batch, c, h, w, generator=g))
    return out


def _n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.fixture(scope='module')
def published():
    torch.manual_seed(0)
    neck = NASFPNNeck(**MMDET_ARGS)
    _randomize(neck)
    return neck.eval()


def test_published_parameter_count_and_shapes(published):
    assert _n_params(published) == 29_990_144
    assert published.genotype == NASFPN_7CELL
    outs = published(_feats(MMDET_ARGS['in_channels'], 128, 128))
    assert [tuple(o.shape) for o in outs] == [(2, 256, s, s) for s in (16, 8, 4, 2, 1)]
    assert all(torch.isfinite(o).all() for o in outs)


def test_plan_reproduces_mmdet_roles_and_unused_levels():
    cells, outputs = plan_pyramid(NASFPN_7CELL)
    # (coarse, fine, level, op, residuals); states: P3..P7 = 0..4, n5.. = 5..
    assert cells == ((3, 1, 4, 'global_pool', ()),   # gp_64_4(p6, p4)
                     (1, 5, 4, 'sum', ()),
                     (6, 0, 3, 'sum', ()),
                     (6, 7, 4, 'sum', ()),
                     (8, 7, 5, 'global_pool', (2,)),  # sum_55_5(p5, gp_43_5(p4, p3))
                     (9, 6, 7, 'global_pool', (4,)),  # sum_77_7(p7, gp_54_7(p5, p4_2))
                     (10, 9, 6, 'global_pool', ()))   # gp_75_6(p7, p5)
    assert outputs == (7, 8, 9, 11, 10)  # P3..P7


def test_genotype_forms_and_registry():
    d = NASFPN_7CELL.to_dict()
    for g in ('nasfpn_7cell', d, {'cells': d['cells']}, {'genotype': d}, None):
        assert check_pyramid(g) == NASFPN_7CELL
    neck = MODELS.build(dict(type='NASFPNNeck', genotype=d, **SMALL))
    assert isinstance(neck, NASFPNNeck) and neck.genotype == NASFPN_7CELL
    assert set(neck.stages[0]) == {f'cell{k}' for k in range(7)}


def _cells(*cells):
    return Pyramid(tuple(cells))


BAD_GENOTYPES = [
    (_cells(('P4', 'n6', 4, 'sum'), *NASFPN_7CELL.cells[1:]), 'cell0/input1'),   # later cell
    (_cells(*NASFPN_7CELL.cells[:3], ('n6', 'n8', 4, 'sum'), *NASFPN_7CELL.cells[4:]),
     'cell3/input1'),                                                            # itself
    (_cells(('P4', 'P6', 8, 'sum'), *NASFPN_7CELL.cells[1:]), 'cell0/level'),     # not P3-P7
    (_cells(('P4', 'P6', 4, 'concat'), *NASFPN_7CELL.cells[1:]), 'cell0/op'),     # unknown op
    (_cells(*NASFPN_7CELL.cells[:6], ('n9', 'n10', 4, 'sum')), 'cell6/level'),   # P6 unproduced
    (_cells(*NASFPN_7CELL.cells[3:]), 'cells'),                                  # too few
    ('nasfpn_9cell', 'genotype'),
    (42, 'genotype'),
]


@pytest.mark.parametrize('genotype,field', BAD_GENOTYPES)
def test_bad_genotypes_name_the_field(genotype, field):
    with pytest.raises(ValueError, match=field):
        NASFPNNeck(genotype=genotype, **SMALL)


@pytest.mark.parametrize('kw,field', [
    (dict(num_outs=4), 'num_outs'), (dict(add_extra_convs=True), 'add_extra_convs'),
    (dict(gp_style='max'), 'gp_style'), (dict(start_level=4), 'start_level'),
    (dict(end_level=2), 'end_level'), (dict(in_channels=[8, 0]), 'in_channels'),
    (dict(stack_times=0), 'stack_times')])
def test_bad_arguments_name_the_field(kw, field):
    with pytest.raises(ValueError, match=field):
        NASFPNNeck(**{**SMALL, **kw})


def test_too_small_input_is_rejected_up_front():
    neck = NASFPNNeck(**SMALL).eval()
    with pytest.raises(ValueError, match='pad_size_divisor=128') as e:
        neck(_feats(SMALL['in_channels'], 40, 40))
    assert 'P7 would be empty' in str(e.value)
    with pytest.raises(ValueError, match='inputs'):
        neck(_feats(SMALL['in_channels'], 128, 128)[:3])
    assert neck(_feats(SMALL['in_channels'], 97, 97))[-1].shape[-2:] == (1, 1)  # P7 1x1


def test_resize_pads_like_mmcv():
    x = torch.arange(25.).view(1, 1, 5, 5) - 30  # all negative: the zero padding shows
    y = resize(x, torch.Size((2, 2)))  # pad 0 left/top, 1 right/bottom, pool 3x3
    assert y.flatten().tolist() == [-18, 0, 0, 0]  # windows touching the padding give 0
    assert resize(x, x.shape[-2:]) is x
    up = resize(torch.tensor([[[[1., 2.], [3., 4.]]]]), torch.Size((3, 3)))
    assert up.flatten().tolist() == [1, 1, 2, 1, 1, 2, 3, 3, 4]


def test_global_pool_styles():
    coarse = torch.tensor([1., 3.]).view(1, 2, 1, 1).expand(1, 2, 2, 2).clone()
    fine = torch.arange(8.).view(1, 2, 2, 2)
    mm, tf = GlobalPoolOp(2, 'mmdet'), GlobalPoolOp(2, 'tf')
    att = fine.mean((2, 3), keepdim=True).sigmoid()
    assert torch.allclose(mm(coarse, fine), fine + att * coarse)
    assert torch.allclose(tf(coarse, fine), coarse + torch.tensor([1., 3.]).sigmoid().view(
        1, 2, 1, 1) * fine)


def test_tf_style_builds_runs_and_differs():
    feats = _feats(SMALL['in_channels'], 128, 128)
    torch.manual_seed(0)
    mm = NASFPNNeck(**SMALL).eval()
    tf = NASFPNNeck(gp_style='tf', **SMALL).eval()
    tf.load_state_dict(mm.state_dict())
    out_mm, out_tf = mm(feats), tf(feats)
    assert [o.shape for o in out_tf] == [o.shape for o in out_mm]
    assert not torch.allclose(out_tf[0], out_mm[0])


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_sampled_genotypes_build_and_run(seed):
    space = NASFPNSpace(num_cells=5 + seed)
    g = space.sample(random.Random(seed))
    neck = NASFPNNeck(genotype=g, **SMALL).train()
    outs = neck(_feats(SMALL['in_channels'], 128, 160))
    assert [tuple(o.shape[-2:]) for o in outs] == [(16, 20), (8, 10), (4, 5), (2, 2), (1, 1)]
    sum(o.mean() for o in outs).backward()
    cell_convs = SMALL['stack_times'] * g.num_cells * (16 * 16 * 9 + 16 + 32)
    lateral = sum(c * 16 + 32 for c in SMALL['in_channels'][1:]) + 2 * (16 * 16 + 32)
    assert _n_params(neck) == cell_convs + lateral
    assert neck.lateral_convs[0].conv.weight.grad is not None


def test_unused_states_are_added_before_the_conv():
    # n5 is never read and is not an output: it goes into the P5 output cell (n9)
    g = _cells(('P3', 'P4', 5, 'sum'), ('P4', 'P6', 4, 'sum'), ('P3', 'n6', 3, 'sum'),
               ('n6', 'n7', 4, 'sum'), ('n7', 'n8', 5, 'global_pool'),
               ('n6', 'n9', 7, 'global_pool'), ('n9', 'n10', 6, 'global_pool'))
    cells, _ = plan_pyramid(check_pyramid(g))
    assert [c[4] for c in cells] == [(), (), (), (), (2, 5), (4,), ()]


def test_custom_combine_op():
    @register_combine_op('max_merge')
    class MaxMerge(torch.nn.Module):
        def __init__(self, channels, gp_style='mmdet'):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(channels, 1, 1))

        def forward(self, coarse, fine):
            return torch.maximum(coarse, fine) * self.scale

    try:
        g = _cells(('P4', 'P6', 4, 'max_merge'), *NASFPN_7CELL.cells[1:])
        neck = NASFPNNeck(genotype=g, **SMALL).eval()
        assert 'stages.1.cell0.ops.max_merge.scale' in neck.state_dict()
        assert len(neck(_feats(SMALL['in_channels'], 128, 128))) == 5
        with pytest.raises(ValueError, match='name'):
            register_combine_op('a.b', MaxMerge)
    finally:
        COMBINE_OPS.pop('max_merge', None)


def test_supernet_choices_and_slicing():
    torch.manual_seed(0)
    sup = NASFPNSupernet(**SMALL)
    _randomize(sup)
    sup.eval()
    assert isinstance(sup.search_space, NASFPNSpace) and sup.choices == NASFPN_7CELL
    per_conv = 16 * 16 * 9 + 16 + 32
    assert _n_params(sup) - _n_params(NASFPNNeck(**SMALL)) == 2 * 7 * 4 * per_conv
    feats = _feats(SMALL['in_channels'], 128, 128)
    rng = random.Random(0)
    for g in [NASFPN_7CELL] + [sup.search_space.sample(rng) for _ in range(2)]:
        sup.set_choices(g)
        fixed = NASFPNNeck(genotype=g, **SMALL).eval()
        fixed.load_state_dict(slice_supernet_state_dict(sup.state_dict(), g, prefix=''))
        for a, b in zip(sup(feats), fixed(feats)):
            assert torch.equal(a, b)
    with pytest.raises(ValueError, match='cells'):
        sup.set_choices(NASFPNSpace(num_cells=8).sample(rng))
    from nas_det.engine.hooks import searchable_modules
    assert [n for n, _ in searchable_modules(torch.nn.ModuleDict({'neck': sup}))] == ['neck']


def test_fixed_neck_rejects_other_pyramid_unchanged():
    neck = NASFPNNeck(**SMALL)
    other = _cells(('P4', 'P6', 4, 'sum'), *NASFPN_7CELL.cells[1:])
    with pytest.raises(ValueError, match='cell0/op'):
        neck.set_choices(other)
    assert neck.genotype == NASFPN_7CELL
    assert neck.stages[0]['cell0']._plan[3] is neck.stages[0]['cell0'].ops['global_pool']


# ---- against mmdet ---------------------------------------------------------------------
def _mmdet_pair(seed=0, **kw):
    nas_fpn = pytest.importorskip('mmdet.models.necks.nas_fpn')
    torch.manual_seed(seed)
    ref = nas_fpn.NASFPN(**kw)
    _randomize(ref, seed)
    ours = NASFPNNeck(**kw)
    ours.load_state_dict(mmdet_to_nasfpn_state_dict(ref.state_dict()))
    return ref, ours


def _assert_same(ref, ours, feats):
    a, b = ref(feats), ours(feats)
    assert len(a) == len(b) == 5
    for x, y in zip(a, b):
        assert x.shape == y.shape
        # same ops in the same order: equal up to float rounding
        assert torch.allclose(x, y, rtol=1e-4, atol=1e-5), (x - y).abs().max()


def test_equals_mmdet_published_128():
    ref, ours = _mmdet_pair(**MMDET_ARGS)
    assert _n_params(ref) == _n_params(ours) == 29_990_144
    assert set(mmdet_to_nasfpn_state_dict(ref.state_dict())) == set(ours.state_dict())
    with torch.no_grad():
        _assert_same(ref.eval(), ours.eval(), _feats(MMDET_ARGS['in_channels'], 128, 128))


@pytest.mark.parametrize('hw', [(256, 256), (200, 168), (129, 97)])
def test_equals_mmdet_other_and_odd_sizes(hw):
    kw = dict(MMDET_ARGS, in_channels=[16, 32, 48, 64], out_channels=32, stack_times=3)
    ref, ours = _mmdet_pair(seed=1, **kw)
    with torch.no_grad():
        _assert_same(ref.eval(), ours.eval(), _feats(kw['in_channels'], *hw))


def test_equals_mmdet_train_mode_and_no_norm():
    kw = dict(MMDET_ARGS, in_channels=[16, 32, 48, 64], out_channels=32, stack_times=2)
    ref, ours = _mmdet_pair(seed=2, **kw)
    feats = _feats(kw['in_channels'], 160, 160)
    _assert_same(ref.train(), ours.train(), feats)  # batch statistics
    assert torch.allclose(ref.lateral_convs[0].bn.running_mean,
                          ours.lateral_convs[0].bn.running_mean)
    kw['norm_cfg'], kw['start_level'] = None, 0
    kw['in_channels'] = kw['in_channels'][:3]
    ref, ours = _mmdet_pair(seed=3, **kw)
    assert not any('bn' in k for k in ours.state_dict())
    with torch.no_grad():
        _assert_same(ref, ours, _feats(kw['in_channels'], 256, 256))


def test_mmdet_fails_where_we_explain():
    ref, ours = _mmdet_pair(**SMALL)
    feats = _feats(SMALL['in_channels'], 40, 40)
    with pytest.raises(RuntimeError):
        ref.eval()(feats)
    with pytest.raises(ValueError, match='pad_size_divisor'):
        ours.eval()(feats)


def test_state_dict_mapping_keeps_prefix_and_rejects_unknown_cells():
    sd = {'neck.fpn_stages.3.gp_75_6.out_conv.bn.weight': 1,
          'neck.lateral_convs.0.conv.weight': 2, 'bbox_head.x': 3}
    assert mmdet_to_nasfpn_state_dict(sd) == {
        'neck.stages.3.cell6.out_convs.P6.bn.weight': 1,
        'neck.lateral_convs.0.conv.weight': 2, 'bbox_head.x': 3}
    with pytest.raises(ValueError, match='gp_99_6'):
        mmdet_to_nasfpn_state_dict({'fpn_stages.0.gp_99_6.out_conv.conv.weight': 0})
