"""tools/convert_timm_cells.py and tools/convert_mmdet_nasfpn.py: reference networks (timm's
NASNet-A Large / PNASNet-5 Large, mmdet's NASFPN) with random weights saved to a file,
converted by the command line in a subprocess, loaded into ours by
``init_cfg=dict(type='Pretrained', ...)`` (the safe loader): outputs equal to the
reference's (relative difference below 1e-5)."""
import importlib.util
import os.path as osp
import sys

import pytest
import torch

from conftest import ROOT, run_tool

import nas_det  # noqa: F401  (registers the models, installs the safe loader)
from nas_det.models.timm_mapping import TIMM_DATA_PREPROCESSOR

TIMM_TOOL = osp.join(ROOT, 'tools', 'convert_timm_cells.py')
MMDET_TOOL = osp.join(ROOT, 'tools', 'convert_mmdet_nasfpn.py')
# mmdet's RetinaNet NAS-FPN neck (configs/nas_fpn/retinanet_r50_nasfpn_crop640-50e_coco.py)
MMDET_ARGS = dict(in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5,
                  stack_times=7, start_level=1, norm_cfg=dict(type='BN'))


def rel_diff(a, b):
    return float((a - b).abs().max() / b.abs().max())


def randomize_norms(model, seed=0):
    """Random BN statistics and affine parameters, so that a BN mapped wrongly shows."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            if m.affine:
                m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return model


def load_tool(path):
    spec = importlib.util.spec_from_file_location(osp.splitext(osp.basename(path))[0], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build(cfg):
    from mmengine.registry import MODELS
    model = MODELS.build(cfg)
    model.init_weights()
    return model.eval()


# ---- timm NASNet-A Large / PNASNet-5 Large -----------------------------------------------
def _check_timm(ref, src, tmp_path, x, arch_opt=()):
    """Convert ``src`` twice (default prefix, and ``--prefix ''``); the backbone's last
    stage equals timm's features, the network's logits timm's logits."""
    ref = ref.eval()
    with torch.no_grad():
        want_feats = ref.forward_features(x)
        want_logits = ref.forward_head(want_feats)
    assert want_feats.abs().max() > 0
    # default: a backbone under 'backbone.', the classifier under 'head.fc.'
    dst = str(tmp_path / 'out' / 'backbone.pth')
    out = run_tool([TIMM_TOOL, src, dst, *arch_opt])
    assert ' keys mapped ' in out and 'error' not in out, out
    ckpt = torch.load(dst, weights_only=True)  # the safe loader reads it
    assert {k.split('.')[0] for k in ckpt['state_dict']} == {'backbone', 'head'}
    assert ckpt['meta']['data_preprocessor'] == TIMM_DATA_PREPROCESSOR
    backbone = build(dict(ckpt['meta']['backbone'], init_cfg=dict(
        type='Pretrained', checkpoint=dst, prefix='backbone.')))
    with torch.no_grad():
        feats = backbone(x)[-1]  # ReLU-ed, as timm's forward_features
    assert feats.shape == want_feats.shape and rel_diff(feats, want_feats) < 1e-5
    # --prefix '': CellNetwork keys, loaded with init_cfg=Pretrained and no prefix (the
    # same code in this process: one subprocess per test is proof enough)
    dst2 = str(tmp_path / 'net.pth')
    load_tool(TIMM_TOOL).main([src, dst2, '--prefix', '', *arch_opt])
    meta = torch.load(dst2, weights_only=True)['meta']
    net = build(dict(meta['network'], type='CellNetwork',
                     init_cfg=dict(type='Pretrained', checkpoint=dst2)))
    with torch.no_grad():
        logits = net(x)
    assert logits.shape == want_logits.shape and rel_diff(logits, want_logits) < 1e-5
    return ckpt


@pytest.mark.slow
def test_timm_tool_small_nasnet(tmp_path):
    """A small random timm NASNet-A (timm's class at F=16, stem 32, 10 classes), saved as
    a DataParallel-style checkpoint and as safetensors: the tool reads the widths."""
    timm = pytest.importorskip('timm')
    from safetensors.torch import save_file
    torch.manual_seed(0)
    ref = randomize_norms(timm.models.nasnet.NASNetALarge(stem_size=32, num_features=24 * 16,
                                                          num_classes=10))
    src = str(tmp_path / 'small.pth')
    torch.save({'state_dict': {'module.' + k: v for k, v in ref.state_dict().items()}}, src)
    x = torch.randn(2, 3, 48, 48)
    ckpt = _check_timm(ref, src, tmp_path, x)
    assert ckpt['meta']['network']['filters'] == 16
    assert ckpt['meta']['network']['stem_multiplier'] == 1
    assert ckpt['state_dict']['head.fc.weight'].shape == (10, 24 * 16)
    # timm's hub files are safetensors: the same weights through that format
    st = str(tmp_path / 'model.safetensors')
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, st)
    dst = str(tmp_path / 'st.pth')
    load_tool(TIMM_TOOL).main([st, dst, '--arch', 'nasnetalarge', '--no-head'])
    sd = torch.load(dst, weights_only=True)['state_dict']
    assert not any(k.startswith('head.') for k in sd)
    assert torch.equal(sd['backbone.stem.conv.weight'], ckpt['state_dict'][
        'backbone.stem.conv.weight'])


@pytest.mark.slow
@pytest.mark.parametrize('arch', ['nasnetalarge', 'pnasnet5large'])
def test_timm_tool_full_size(arch, tmp_path):
    """``timm.create_model(arch, pretrained=False)``: the published networks' keys and
    shapes, every one converted (88.8 M / 86.1 M parameters)."""
    timm = pytest.importorskip('timm')
    torch.manual_seed(1)
    ref = randomize_norms(timm.create_model(arch, pretrained=False), seed=1)
    src = str(tmp_path / f'{arch}.pth')
    torch.save(ref.state_dict(), src)
    x = torch.randn(1, 3, 48, 48)  # 23 -> 12 -> 6 -> 3 -> 2: odd and even maps
    ckpt = _check_timm(ref, src, tmp_path, x)
    assert ckpt['meta']['timm_model'] == arch
    assert len(ckpt['state_dict']) == len(ref.state_dict())


def test_timm_preprocessor_is_timms():
    timm = pytest.importorskip('timm')
    for arch in ('nasnetalarge', 'pnasnet5large'):
        cfg = timm.models.get_pretrained_cfg(arch)
        assert TIMM_DATA_PREPROCESSOR['mean'] == [m * 255 for m in cfg.mean]
        assert TIMM_DATA_PREPROCESSOR['std'] == [s * 255 for s in cfg.std]
    assert TIMM_DATA_PREPROCESSOR['bgr_to_rgb']  # mmcv loads BGR, timm's nets take RGB


def test_timm_tool_errors_name_the_field(tmp_path, capsys):
    tool = load_tool(TIMM_TOOL)
    src = str(tmp_path / 'x.pth')
    torch.save({'conv0.conv.weight': torch.zeros(96, 3, 3, 3),
                'cell_0.foo.weight': torch.zeros(1)}, src)
    for argv, want in (([src, 'o.pth', '--arch', 'resnet50'], "argument --arch: invalid choice"),
                       ([src, 'o.pth'], "'cell_0.foo.weight' has no counterpart"),
                       ([src, 'o.pth', '--arch', 'pnasnet5large'], "'conv0.conv.weight'"),
                       ([str(tmp_path / 'absent.pth'), 'o.pth'], 'does not exist')):
        with pytest.raises(SystemExit) as e:
            tool.main(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert want in err[-1] and 'Traceback' not in '\n'.join(err), (argv, err)
    torch.save({'stem.weight': torch.zeros(1)}, src)
    with pytest.raises(SystemExit):
        tool.main([src, 'o.pth'])
    assert 'nasnetalarge|pnasnet5large' in capsys.readouterr().err
    assert not (tmp_path / 'o.pth').exists()


def test_tools_refuse_unsafe_files(tmp_path, capsys):
    """A pickled object in the input is refused before anything is unpickled."""
    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / 'PWNED'), 'w'))

    src = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'x': Payload()}, src)
    for path in (TIMM_TOOL, MMDET_TOOL):
        with pytest.raises(SystemExit):
            load_tool(path).main([src, str(tmp_path / 'o.pth')])
        assert 'refusing to unpickle' in capsys.readouterr().err
    assert not (tmp_path / 'PWNED').exists() and not (tmp_path / 'o.pth').exists()


# ---- mmdet NASFPN ------------------------------------------------------------------------
def _mmdet_neck(seed=0, **kw):
    nas_fpn = pytest.importorskip('mmdet.models.necks.nas_fpn')
    torch.manual_seed(seed)
    ref = nas_fpn.NASFPN(**kw)
    for p in ref.parameters():  # mmdet's init leaves biases at 0: make them count
        p.data.add_(torch.randn_like(p) * 0.01)
    return randomize_norms(ref, seed).eval()


def _feats(in_channels, size, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(1, c, size // s, size // s, generator=g)
            for c, s in zip(in_channels, (4, 8, 16, 32))]


def _assert_same(ref, ours, feats, start_level=0):
    with torch.no_grad():
        want, got = ref(feats), ours(feats[start_level:])
    assert len(got) == len(want) == 5
    for w, g in zip(want, got):
        assert g.shape == w.shape and rel_diff(g, w) < 1e-5


@pytest.mark.slow
def test_mmdet_tool_published_detector(tmp_path):
    """mmdet's RetinaNet NAS-FPN checkpoint layout (neck.*, backbone.*, bbox_head.*, meta,
    optimizer) at the published neck size: the neck of the published config loads the
    converted file with init_cfg=Pretrained(prefix='neck.'); the other keys are kept."""
    ref = _mmdet_neck(**MMDET_ARGS)
    sd = {'neck.' + k: v for k, v in ref.state_dict().items()}
    sd.update({'backbone.conv1.weight': torch.randn(64, 3, 7, 7),
               'bbox_head.retina_cls.bias': torch.randn(9 * 80)})
    src = str(tmp_path / 'retinanet_r50_nasfpn_crop640_50e_coco.pth')
    torch.save({'meta': {'CLASSES': ('person', 'car'), 'epoch': 50, 'config': 'x'},
                'state_dict': sd, 'optimizer': {'state': {}}}, src)
    dst = str(tmp_path / 'out' / 'nasfpn.pth')
    out = run_tool([MMDET_TOOL, src, dst])
    n_cells = sum('.fpn_stages.' in k for k in sd)
    assert f'{n_cells} keys mapped, {len(sd)} written' in out, out
    ckpt = torch.load(dst, weights_only=True)
    assert set(ckpt) == {'state_dict', 'meta'}
    assert torch.equal(ckpt['state_dict']['backbone.conv1.weight'], sd['backbone.conv1.weight'])
    assert torch.equal(ckpt['state_dict']['bbox_head.retina_cls.bias'],
                       sd['bbox_head.retina_cls.bias'])
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, 'configs/nasfpn/'
                                   'retinanet_r50_nasfpn-published_crop640-50e_coco.py'))
    neck = build(dict(cfg.model.neck.to_dict(), init_cfg=dict(
        type='Pretrained', checkpoint=dst, prefix='neck.')))
    _assert_same(ref, neck, _feats(MMDET_ARGS['in_channels'], 128))
    # the neck the tool prints (the lateral widths: inputs from start_level on) is the
    # same network
    printed = build(dict(ckpt['meta']['neck'], init_cfg=dict(
        type='Pretrained', checkpoint=dst, prefix='neck.')))
    _assert_same(ref, printed, _feats(MMDET_ARGS['in_channels'], 128), start_level=1)


@pytest.mark.slow
def test_mmdet_tool_bare_neck(tmp_path):
    """A bare neck state dict (no prefix), with BN and without norms (conv biases): the
    converted file loads with init_cfg=dict(type='Pretrained', checkpoint=DST)."""
    for i, norm_cfg in enumerate([dict(type='BN'), None]):
        kw = dict(MMDET_ARGS, in_channels=[16, 32, 48, 64], out_channels=32, stack_times=3,
                  norm_cfg=norm_cfg, start_level=i)
        ref = _mmdet_neck(seed=2, **kw)
        src, dst = str(tmp_path / f'neck{i}.pth'), str(tmp_path / f'neck{i}_ours.pth')
        torch.save(ref.state_dict(), src)
        if i == 0:
            assert '147 keys mapped' in run_tool([MMDET_TOOL, src, dst])
        else:  # the same code in this process
            load_tool(MMDET_TOOL).main([src, dst])
        neck = build(dict(type='NASFPNNeck', **kw, init_cfg=dict(type='Pretrained',
                                                                   checkpoint=dst)))
        assert any('.bn.' in k for k in neck.state_dict()) == (i == 0)
        _assert_same(ref, neck, _feats(kw['in_channels'], 256))


def test_mmdet_tool_errors_name_the_field(tmp_path, capsys):
    tool = load_tool(MMDET_TOOL)
    src = str(tmp_path / 'x.pth')
    for sd, want in (({'lateral_convs.0.conv.weight': torch.zeros(8, 4, 1, 1)},
                      'one mmdet NASFPN neck'),
                     ({'fpn_stages.0.gp_99_6.out_conv.conv.weight': torch.zeros(1)},
                      "cell: 'gp_99_6' is not allowed; allowed values"),
                     ({'a.fpn_stages.0.sum_44_4.out_conv.conv.weight': torch.zeros(1),
                       'b.fpn_stages.0.sum_44_4.out_conv.conv.weight': torch.zeros(1)},
                      "prefixes ['a.', 'b.']")):
        torch.save(sd, src)
        with pytest.raises(SystemExit) as e:
            tool.main([src, str(tmp_path / 'o.pth')])
        assert e.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and want in err[0], err
    # a neck with a tensor missing: the strict load names it
    ref = _mmdet_neck(**dict(MMDET_ARGS, in_channels=[16, 32, 48, 64], out_channels=32,
                             stack_times=2))
    sd = dict(ref.state_dict())
    del sd['fpn_stages.1.sum_55_5.out_conv.bn.running_var']
    torch.save(sd, src)
    with pytest.raises(SystemExit):
        tool.main([src, str(tmp_path / 'o.pth')])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'stages.1.cell4.out_convs.P5.bn.running_var' in err[0], err
    assert not (tmp_path / 'o.pth').exists()


if __name__ == '__main__':
    sys.exit(pytest.main([__file__, '-q']))
