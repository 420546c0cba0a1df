"""MorphNet's ``cost='latency'``: the roofline cost per layer, its penalty, the settings,
and an export whose shrunk / expanded networks are costed anew."""
import json
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

import nas_det  # noqa: F401  (registers modules)
from nas_det.models.morphnet import CostModel, MorphNetRegularizer, trace_channels
from nas_det.models.width_resnet import WidthResNet, resnet_widths
from test_morphnet import _random_gammas, _small_widths, _trained_classifier  # noqa: E402

# a device where small layers are memory-bound and large ones compute-bound
PLATFORM = dict(peak_compute=2e10, memory_bandwidth=2e10)


def _roofline_by_hooks(model, shape, platform, bytes_per_element=4):
    """The roofline latency computed independently: forward hooks read every conv and
    linear layer's real input and output shapes and weight size."""
    total = []

    def hook(mod, inp, out):
        x = inp[0]
        if isinstance(mod, nn.Conv2d):
            macs = mod.weight.numel() * out.shape[2] * out.shape[3]
            acts = x[0].numel() + out[0].numel()
        else:
            macs = mod.weight.numel()
            acts = x[0].numel() + out[0].numel()
        mem = bytes_per_element * (mod.weight.numel() + acts)
        total.append(max(macs / platform['peak_compute'], mem / platform['memory_bandwidth']))
    hs = [m.register_forward_hook(hook) for m in model.modules()
          if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()(torch.zeros(1, *shape))
    for h in hs:
        h.remove()
    return sum(total), len(total)


def test_roofline_cost_equals_the_layers_it_reads():
    m = WidthResNet(18, widths=_small_widths())
    g = trace_channels(m, (3, 32, 32))
    cm = CostModel(g, 'latency', platform=PLATFORM)
    expected, n = _roofline_by_hooks(m, (3, 32, 32), PLATFORM)
    assert len(cm.layers) == n
    assert cm.cost(None) == pytest.approx(expected, rel=1e-9)
    # both regimes occur on this platform, so the max matters
    a = torch.ones(g.num_cg, dtype=torch.float64)
    a_in, a_out, *rest = cm._lat_live(a)
    compute, mem = cm._lat_terms(a_in, a_out, *rest)
    assert (compute > mem).any() and (mem > compute).any()


def test_roofline_of_scaled_widths_equals_the_network_built_with_them():
    from nas_det.models.morphnet import groups_from_widths, resnet_group_names
    m = WidthResNet(18, widths=_small_widths())
    g = trace_channels(m, (3, 32, 32))
    cm = CostModel(g, 'latency', platform=PLATFORM)
    names = resnet_group_names(m)
    w = resnet_widths(18, **dict(stem_channels=16, base_channels=16)).scaled(0.5, 4)
    narrow = WidthResNet(18, widths=[list(p) for p in w.groups])
    expected, _ = _roofline_by_hooks(narrow, (3, 32, 32), PLATFORM)
    assert cm.cost_of_widths(groups_from_widths(g, w, names)) == pytest.approx(expected,
                                                                                rel=1e-9)
    assert cm.cost_of_widths(groups_from_widths(g, w, names)) < cm.cost(None)


def test_latency_penalty_is_the_derivative_of_the_dominant_terms():
    """At a given alive set the penalty is linear in the scores; its gradient with respect
    to a channel group's score equals the cost it saves to first order: the finite
    difference of the cost when that group's live count drops a little (the dominant
    regime of every layer does not flip for a small step)."""
    m = WidthResNet(18, widths=_small_widths())
    _random_gammas(SimpleNamespace(backbone=m))
    g = trace_channels(m, (3, 32, 32))
    reg = MorphNetRegularizer(m, g, 'latency', platform=PLATFORM)
    alive = reg.alive().to(torch.float64)
    scores = torch.zeros(g.num_cg, dtype=torch.float64, requires_grad=True)
    reg.model.penalty(scores, alive).backward()
    grad = scores.grad
    eps = 1e-6
    checked = 0
    for c in range(g.num_cg):
        if not (reg.prunable[c] and alive[c]):
            continue
        a2 = alive.clone()
        a2[c] -= eps
        saved = (reg.model.cost(alive) - reg.model.cost(a2)) / eps
        assert grad[c].item() == pytest.approx(saved, rel=1e-4, abs=1e-15), c
        checked += 1
        if checked == 40:
            break
    assert checked == 40
    penalty, live = reg()
    assert penalty.item() > 0 and live == pytest.approx(reg.live_cost())


def test_latency_settings_errors_and_a_table_as_platform(tmp_path):
    from nas_det.engine.optimizers import check_settings
    with pytest.raises(ValueError, match=r"morphnet\.platform: cost='latency' needs"):
        check_settings(dict(cost='latency'))
    with pytest.raises(ValueError, match=r"morphnet\.platform: only read with cost='latency'"):
        check_settings(dict(cost='flops', platform=PLATFORM))
    with pytest.raises(ValueError, match=r"morphnet\.platform: a latency table file"):
        check_settings(dict(cost='latency', platform=dict(peak_compute=1)))
    with pytest.raises(ValueError, match=r"morphnet\.platform: cannot read the latency table"):
        check_settings(dict(cost='latency', platform=str(tmp_path / 'none.json')))
    from nas_det.models.latency import build_latency_table
    t = build_latency_table('300M', 0.5, (3, 32, 32), repeats=1, rounds=1, warmup=1,
                            calibrate=0)
    t.save(str(tmp_path / 'lat.json'))
    s = check_settings(dict(cost='latency', platform=str(tmp_path / 'lat.json')))
    assert s['platform'] == t.meta['platform']
    with pytest.raises(ValueError, match=r"cost: 'energy' is not allowed.*'latency'"):
        check_settings(dict(cost='energy'))


def test_export_with_latency_cost(tmp_path):
    from nas_det.engine.export.morphnet import morphnet_export
    pytest.importorskip('mmpretrain')
    cfg, model = _trained_classifier('cifar')
    settings = dict(input_shape=(3, 32, 32), threshold=0.1, cost='latency', platform=PLATFORM)
    out = morphnet_export(cfg, model, str(tmp_path), settings, budget_ratio=0.8)
    assert out['cost'] == 'latency'
    assert out['shrunk']['cost'] < out['original']['cost']
    assert out['expanded']['cost'] <= out['budget']
    assert abs(out['expanded']['measured_rel_error']) < 0.02
    for key in ('shrunk', 'expanded'):  # the exported backbone, traced anew, costs the same
        assert out[key]['measured_cost'] == pytest.approx(out[key]['cost'], rel=1e-9)
    with open(osp.join(tmp_path, 'morphnet_summary.json')) as f:
        assert json.load(f)['cost'] == 'latency'
    with pytest.raises(ValueError, match="budget_scope: cost='latency' covers the backbone"):
        morphnet_export(cfg, model, str(tmp_path / 'd'), settings, budget_scope='detector')
