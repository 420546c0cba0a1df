"""ChannelsLastHook: the whole detector in NHWC gives the NCHW detector's losses and
gradients (to float rounding), keeps its layout through training steps, and its
checkpoints load into an NCHW model."""
import random
from types import SimpleNamespace

import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('mmdet')

pytestmark = pytest.mark.usefixtures('one_thread')


def _detector():
    from mmdet.structures import DetDataSample
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.structures import InstanceData

    import nas_det  # noqa: F401
    init_default_scope('mmdet')
    from mmengine.config import Config
    from conftest import ROOT
    cfg = Config.fromfile(f'{ROOT}/configs/detnas/'
                          'retinanet_detnas-shufflenet-300M-supernet_fpn_digits.py')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    samples = []
    for i in range(2):
        s = DetDataSample(metainfo=dict(img_shape=(64, 64), pad_shape=(64, 64),
                                        batch_input_shape=(64, 64), scale_factor=(1.0, 1.0)))
        s.gt_instances = InstanceData(bboxes=torch.tensor([[4.0, 6.0, 30.0, 40.0 + i]]),
                                      labels=torch.tensor([i]))
        samples.append(s)
    return model, samples


def _loss_and_grads(model, x, samples):
    model.zero_grad(set_to_none=True)
    loss, _ = model.parse_losses(model(x, samples, mode='loss'))
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()
                           if p.grad is not None}


def test_whole_model_nhwc_gives_the_nchw_losses_and_gradients(tmp_path):
    from nas_det.engine.hooks import ChannelsLastHook
    ref, samples = _detector()
    model, _ = _detector()
    model.load_state_dict(ref.state_dict())
    path = ref.backbone.search_space.sample(random.Random(3))
    ref.backbone.set_choices(path), model.backbone.set_choices(path)
    logs = []
    runner = SimpleNamespace(model=model)
    hook = ChannelsLastHook()
    from unittest import mock
    with mock.patch('nas_det.engine.hooks.channels_last_hook.print_log',
                    lambda msg, **k: logs.append(msg)):
        hook.before_train(runner)
        hook.before_val(runner)  # once only
    assert len(logs) == 1 and 'channels_last' in logs[0]
    head_conv = model.bbox_head.retina_cls.weight
    assert head_conv.is_contiguous(memory_format=torch.channels_last)
    assert model.neck.lateral_convs[0].conv.weight.is_contiguous(
        memory_format=torch.channels_last)
    assert model.backbone.nhwc_outputs
    torch.manual_seed(1)
    x = torch.randn(2, 3, 64, 64)
    outs = model.backbone(x)
    assert all(o.is_contiguous(memory_format=torch.channels_last) for o in outs)
    l_ref, g_ref = _loss_and_grads(ref, x, samples)
    l_nhwc, g_nhwc = _loss_and_grads(model, x, samples)
    torch.testing.assert_close(l_nhwc, l_ref, rtol=1e-5, atol=1e-6)
    assert g_ref.keys() == g_nhwc.keys() and len(g_ref) > 50
    for k in g_ref:
        torch.testing.assert_close(g_nhwc[k], g_ref[k], rtol=1e-3, atol=1e-5, msg=k)
    # an SGD step keeps the layout; the checkpoint loads into an NCHW model
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    opt.step()
    assert head_conv.is_contiguous(memory_format=torch.channels_last)
    plain, _ = _detector()
    plain.load_state_dict(model.state_dict())
    assert not plain.bbox_head.retina_cls.weight.is_contiguous(
        memory_format=torch.channels_last)
