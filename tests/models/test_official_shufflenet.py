"""tools/convert_detnas_official.py: official DetNAS / SPOS weights give our backbones the
official outputs (reference networks with the official key layouts, random weights)."""
import os.path as osp
import random
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from official_shufflenet_ref import OfficialRef, randomize  # noqa: E402

from nas_det.models.official_shufflenet import (OFFICIAL_DATA_PREPROCESSOR,  # noqa: E402
                                                convert_official_state_dict)
from nas_det.space.detnas import DETNAS_OPS, DetNASSpace  # noqa: E402

# DetNAS's searched COCO-FPN-300M network (official op indices, its detnasnet.py)
DETNAS_FPN_300M = [2, 1, 2, 0, 2, 1, 1, 2, 3, 3, 1, 3, 0, 0, 3, 1, 3, 1, 3, 2]


def build_ours(info, bn_affine='fill', **kw):
    from mmengine.registry import MODELS

    import nas_det  # noqa: F401
    return MODELS.build(dict(info.backbone_cfg(bn_affine), with_last_conv=True,
                             out_indices=(0, 1, 2, 3, 4), **kw))


def rel_diff(a, b):
    return float((a - b).abs().max() / b.abs().max())


def assert_same_outputs(ref, ours, paths, size=32):
    ref.double().eval()
    ours.double().eval()
    x = torch.rand(2, 3, size, size, dtype=torch.float64) * 255  # BGR 0-255, as official
    for path in paths:
        if path is not None:
            ours.set_choices([DETNAS_OPS[i] for i in path])
        with torch.no_grad():
            want, got = ref(x, path), ours(x)
        assert len(got) == len(want) == 5
        for w, g in zip(want, got):
            assert g.shape == w.shape
            assert rel_diff(g, w) < 1e-5


def random_paths(n, seed=0):
    rng = random.Random(seed)
    return [[rng.randrange(4) for _ in range(20)] for _ in range(n)]


def test_detnas_supernet_equals_official():
    """The DetNAS ImageNet supernet: affine norms, conv biases before the first and last
    norms (folded), the 'halves' channel split; every key is used except the classifier."""
    ref = randomize(OfficialRef('detnas', split='halves'), seed=1)
    sd, info = convert_official_state_dict(ref.state_dict())
    assert (info.layout, info.arch, info.supernet, info.channel_split) == \
        ('detnas', '300M', True, 'halves')
    assert info.skipped == ['fc.fc.bias', 'fc.fc.weight']
    ours = build_ours(info)
    ours.load_state_dict(sd, strict=True)
    assert_same_outputs(ref, ours, random_paths(2) + [[3] * 20])
    # the split is not cosmetic: with the SPOS split the outputs differ
    other = build_ours(info, channel_split='even_odd')
    other.load_state_dict(sd, strict=True)
    other.double().eval().set_choices(['shuffle3x3'] * 20)
    x = torch.rand(1, 3, 32, 32, dtype=torch.float64) * 255
    with torch.no_grad():
        assert rel_diff(other(x)[1], ref.double().eval()(x, [0] * 20)[1]) > 1e-2


def test_detnas_searched_net_equals_official():
    """A DetNAS searched network (one op per block, no op index in the keys): its path is
    read from the key names; the even/odd split."""
    ref = randomize(OfficialRef('detnas', ops=DETNAS_FPN_300M, split='even_odd'), seed=2)
    sd, info = convert_official_state_dict({'model': ref.state_dict()})
    assert not info.supernet and info.channel_split == 'even_odd'
    assert info.genotype.ops == tuple(DETNAS_OPS[i] for i in DETNAS_FPN_300M)
    DetNASSpace('300M').validate(info.genotype)
    ours = build_ours(info)
    ours.load_state_dict(sd, strict=True)
    assert_same_outputs(ref, ours, [None])


@pytest.mark.parametrize('bn_affine', ['fill', 'drop'])
def test_spos_supernet_equals_official(bn_affine):
    """The SPOS supernet: affine-free norms, as weight 1 / bias 0 ('fill') or in a backbone
    built with affine=False ('drop')."""
    ref = randomize(OfficialRef('spos'), seed=3)
    sd, info = convert_official_state_dict(
        {'state_dict': {'module.' + k: v for k, v in ref.state_dict().items()}},
        bn_affine=bn_affine)
    assert (info.layout, info.affine, info.channel_split) == ('spos', False, 'even_odd')
    assert ('stem.bn.weight' in sd) == (bn_affine == 'fill')
    ours = build_ours(info, bn_affine)
    ours.load_state_dict(sd, strict=True)
    assert_same_outputs(ref, ours, random_paths(2, seed=1))


def test_spos_searched_net_ops_from_shapes():
    ops = [0, 1, 2, 3] * 5
    ref = OfficialRef('spos', ops=ops)
    _, info = convert_official_state_dict(ref.state_dict())
    assert info.genotype.ops == tuple(DETNAS_OPS[i] for i in ops)


def test_tool_writes_safe_checkpoint_that_pretrained_init_loads(tmp_path):
    """The command line: a DataParallel-style official file in, a file out that
    torch.load(weights_only=True) reads and init_cfg=Pretrained loads into the printed
    backbone; the printed data_preprocessor feeds BGR 0-255 unchanged."""
    import convert_detnas_official as tool
    from mmdet.models.data_preprocessors import DetDataPreprocessor
    from mmengine.registry import MODELS

    ref = randomize(OfficialRef('detnas', split='halves'), seed=4)
    src, dst = str(tmp_path / 'supernet.pth.tar'), str(tmp_path / 'out' / 'converted.pth')
    torch.save({'state_dict': {'module.' + k: v for k, v in ref.state_dict().items()}}, src)
    tool.main([src, dst])
    ckpt = torch.load(dst, weights_only=True)
    assert all(k.startswith('backbone.') for k in ckpt['state_dict'])
    assert ckpt['meta']['data_preprocessor'] == OFFICIAL_DATA_PREPROCESSOR
    backbone = MODELS.build(dict(ckpt['meta']['backbone'], with_last_conv=True,
                                 out_indices=(0, 1, 2, 3, 4),
                                 init_cfg=dict(type='Pretrained', checkpoint=dst,
                                               prefix='backbone.')))
    backbone.init_weights()
    # the preprocessor the tool prints hands the network the BGR 0-255 image unchanged
    pre = DetDataPreprocessor(**OFFICIAL_DATA_PREPROCESSOR)
    img = torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)  # BGR, as mmcv loads
    x = pre(dict(inputs=[img], data_samples=None))['inputs']
    assert torch.equal(x, img[None].float())
    assert_same_outputs(ref, backbone, random_paths(1, seed=2))
    # out_indices of a detector (no last conv): the last conv's keys are simply unused
    det = MODELS.build(dict(ckpt['meta']['backbone'], init_cfg=dict(
        type='Pretrained', checkpoint=dst, prefix='backbone.')))
    det.init_weights()
    assert torch.equal(det.stem.conv.weight, ckpt['state_dict']['backbone.stem.conv.weight'])


def test_bad_checkpoints_are_refused_by_name():
    ref = OfficialRef('spos')
    sd = dict(ref.state_dict())
    sd['features.0.0.branch_main.99.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match=r'branch_main\.99'):
        convert_official_state_dict(sd)
    sd = dict(ref.state_dict())
    del sd['features.3.2.branch_main.4.running_var']
    with pytest.raises(ValueError, match=r'features\.3\.2\.branch_main\.4\.running_var'):
        convert_official_state_dict(sd)
    with pytest.raises(ValueError, match='layout'):
        convert_official_state_dict(ref.state_dict(), layout='detnas')
    with pytest.raises(ValueError, match='bn_affine'):
        convert_official_state_dict(OfficialRef('detnas').state_dict(), bn_affine='drop')
    with pytest.raises(ValueError, match='first_conv'):
        convert_official_state_dict({'conv.weight': torch.zeros(1)})
