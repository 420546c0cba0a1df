"""tools/export_onnx.py: an exported DetNAS subnet detector in ONNX gives torch's outputs
under onnxruntime (CPU), for the backbone + neck and the whole detector's raw outputs."""
import os.path as osp
import random
import sys

import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))
SEARCH = osp.join(ROOT, 'configs/detnas/retinanet_detnas-shufflenet-300M_search_digits.py')

ort = pytest.importorskip('onnxruntime')


@pytest.fixture(scope='module')
def subnet_config(tmp_path_factory):
    """The export phase's output for a sampled path: its config and a checkpoint (random
    weights with random norm statistics, as good as trained ones for an equality check)."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    import nas_det  # noqa: F401
    from nas_det.engine.export import export_config
    from nas_det.space import DetNASSpace
    g = DetNASSpace('300M').sample(random.Random(3))
    assert len(set(g.ops)) > 1
    out_dir = tmp_path_factory.mktemp('export')
    out = export_config(Config.fromfile(SEARCH), g.to_dict(), out_dir=str(out_dir))
    init_default_scope('mmdet')
    model = MODELS.build(Config.fromfile(out['config']).model)
    model.init_weights()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith('running_mean'):
                t.copy_(torch.randn(t.shape, generator=gen))
            elif name.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=gen) * 20 + 1)
    ckpt = str(out_dir / 'trained.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    return out['config'], ckpt


def run_onnx(path, x):
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    return sess.run(None, {'input': x.numpy()})


def torch_outputs(model, x, part):
    import export_onnx as tool
    m = tool.BackboneNeck(model) if part == 'backbone_neck' else tool.RawDetector(model)
    with torch.no_grad():
        return [t.numpy() for t in m.eval()(x)]


def test_onnx_equals_torch(subnet_config, tmp_path):
    import export_onnx as tool
    config, ckpt = subnet_config
    done = tool.export_onnx(config, ckpt, out_dir=str(tmp_path), shape=(128, 128))
    model, cfg, _ = tool.build_detector(config, ckpt)
    assert cfg.model.backbone.type == 'ShuffleNetV2Subnet'
    assert torch.equal(model.backbone.stem.bn.running_mean,
                       torch.load(ckpt, weights_only=True)['state_dict'][
                           'backbone.stem.bn.running_mean'])
    x = torch.rand(1, 3, 128, 128) * 255
    for part, n_outputs in [('backbone_neck', 5), ('detector', 10)]:  # P3-P7; cls + box
        path, diff = done[part]
        assert diff <= 1e-4
        want = torch_outputs(model, x, part)
        got = run_onnx(path, x)
        assert len(got) == len(want) == n_outputs
        for w, g in zip(want, got):
            assert w.shape == g.shape
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)
    names = [o.name for o in ort.InferenceSession(
        done['detector'][0], providers=['CPUExecutionProvider']).get_outputs()]
    assert names[0] == 'cls_score_0' and names[5] == 'bbox_pred_0'


def test_dynamic_shapes_and_halves_split(subnet_config, tmp_path):
    """--dynamic: another batch and image size run through the same file; the backbone's
    'halves' channel split (official DetNAS supernet weights) exports too."""
    import export_onnx as tool
    config, ckpt = subnet_config
    opts = {'model.backbone.channel_split': 'halves'}
    done = tool.export_onnx(config, ckpt, out_dir=str(tmp_path), part='detector',
                            shape=(128, 128), dynamic=True, cfg_options=opts)
    model, _, _ = tool.build_detector(config, ckpt, cfg_options=opts)
    assert model.backbone.channel_split == 'halves'
    x = torch.rand(2, 3, 96, 160) * 255
    want = torch_outputs(model, x, 'detector')
    got = run_onnx(done['detector'][0], x)
    for w, g in zip(want, got):
        assert w.shape == g.shape and w.shape[0] == 2
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


def test_bad_part_is_refused(subnet_config, tmp_path):
    import export_onnx as tool
    with pytest.raises(ValueError, match='part'):
        tool.export_onnx(subnet_config[0], out_dir=str(tmp_path), part='neck')
