"""The one export (nas_det.engine.export): every family's adapter goes through the same
fill / write steps (the same dropped keys, the same load_from rule, the same key check,
parse-back and build), and the exported configs load and build as before. Also the
proxy evaluator's schedule: the child's mmengine param_scheduler, the deprecated
lr_schedule / warmup_iters mapped to the same learning rates."""
import inspect
import math
import os.path as osp
import random
from types import SimpleNamespace

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DETNAS_SEARCH = osp.join(ROOT, 'configs/detnas/retinanet_detnas-shufflenet-300M_search_digits.py')
NASFPN_TEMPLATE = osp.join(ROOT, 'configs/nasfpn/retinanet_r18_nasfpn_digits.py')
CELL_TEMPLATE = osp.join(ROOT, 'configs/cells/retinanet_nasnet-a-tiny_fpn_digits.py')
SEARCH_KEYS = dict(phases=['train', 'search', 'export'], export=dict(name='x'), work_dir='w',
                   launcher='pytorch', resume=True, morphnet_export=dict(divisor=2),
                   load_from='/nonexistent/supernet.pth')


def _small_widths():
    try:
        from nas_det.models.width_resnet import resnet_widths
    except ImportError:  # before the split of models/morphnet.py
        from nas_det.models.morphnet import resnet_widths
    return resnet_widths(18, stem_channels=16, base_channels=16)


def _template(tmp_path, base, extra=''):
    """A template inheriting ``base`` that holds every key of a search run."""
    f = tmp_path / f'tpl_{osp.basename(base)}'
    lines = [f'_base_ = {base!r}'] + [f'{k} = {v!r}' for k, v in SEARCH_KEYS.items()]
    f.write_text('\n'.join(lines) + '\n' + extra)
    return str(f)


def _families(tmp_path, extra='', bad=None):
    """Run the four adapters; ``{family: written config path}``."""
    from mmengine.config import Config

    from nas_det.engine.export import (export_cell_configs, export_config, export_genotype,
                                       write_widths_config)
    from nas_det.space import NASFPNSpace
    from nas_det.space.published import DETNAS_300M_RETINANET, NASNET_A
    det = Config.fromfile(DETNAS_SEARCH)
    det.merge_from_dict(SEARCH_KEYS)
    widths_cfg = Config(dict(
        default_scope='mmpretrain', **SEARCH_KEYS,
        model=dict(type='ImageClassifier',
                   backbone=dict(type='WidthResNet', depth=18, out_indices=(3, ),
                                 widths=[list(p) for p in _small_widths().groups]),
                   neck=dict(type='GlobalAveragePooling'),
                   head=dict(type='LinearClsHead', num_classes=10, in_channels=128,
                             loss=dict(type='CrossEntropyLoss'))),
        optim_wrapper=dict(type='MorphNetOptimWrapper', constructor='MorphNetOptimWrapperConstructor',
                           optimizer=dict(type='SGD', lr=0.1), morphnet=dict(threshold=0.1))))
    if bad:
        det.merge_from_dict({'extra': bad})
        widths_cfg.merge_from_dict({'extra': bad})
    pyramid = NASFPNSpace(7).sample(random.Random(0))
    out = {}
    out['detnas'] = export_config(det, DETNAS_300M_RETINANET.to_dict(),
                                  out_dir=str(tmp_path / 'detnas'))['config']
    out['nasfpn'] = export_genotype(_template(tmp_path, NASFPN_TEMPLATE, extra),
                                    pyramid.to_dict(), out_dir=str(tmp_path / 'nasfpn'))['config']
    out['cells'] = export_cell_configs(NASNET_A, {'det': _template(tmp_path, CELL_TEMPLATE, extra)},
                                       str(tmp_path / 'cells'))['det']
    out['widths'] = str(tmp_path / 'widths' / 'config.py')
    write_widths_config(widths_cfg, 18, _small_widths().scaled(0.5), out['widths'])
    return out


def test_every_family_goes_through_the_one_write(tmp_path, monkeypatch):
    """The four adapters write through core.write: the same dropped keys, load_from None
    (nothing written for the network), the key check, the parse-back and the build."""
    import nas_det  # noqa: F401
    from nas_det.engine.export import core
    from nas_det.engine.export import cells, subnet, template, widths
    calls = {'dump': [], 'build': []}
    dump, build = core.dump_config, core.build_on_meta
    monkeypatch.setattr(core, 'dump_config',
                        lambda data, path: calls['dump'].append(path) or dump(data, path))
    monkeypatch.setattr(core, 'build_on_meta',
                        lambda cfg, scope=None: calls['build'].append(cfg['type'])
                        or build(cfg, scope))
    out = _families(tmp_path)
    assert calls['dump'] == [out[k] for k in ('detnas', 'nasfpn', 'cells', 'widths')]
    assert calls['build'].count('RetinaNet') == 3 and 'ImageClassifier' in calls['build']
    from mmengine.config import Config
    for family, path in out.items():
        written = Config.fromfile(path)
        kept = [k for k in core.DROP_KEYS if k in written and k != 'load_from']
        assert not kept, (family, kept)
        assert written.load_from is None, family
    # no adapter writes a file or walks a dotted key of its own
    for mod in (cells, subnet, template, widths):
        src = inspect.getsource(mod)
        assert '.dump(' not in src and 'fromfile' not in src and ".split('.')" not in src, mod


def test_every_family_refuses_an_unwritable_key(tmp_path):
    """A key holding a quote, from the search config or a template, is refused by every
    family before anything is written (it would become code in the written file)."""
    import nas_det  # noqa: F401
    extra = "extra = {'a\": 1, \"b': 2}\n"
    with pytest.raises(ValueError, match='cannot be written into a config file'):
        _families(tmp_path, bad={'a": 1, "b': 2})
    assert not (tmp_path / 'detnas' / 'subnet.py').exists()
    from nas_det.engine.export import export_cell_configs, export_genotype, write_widths_config
    from nas_det.space.published import NASFPN_7CELL, NASNET_A
    from mmengine.config import Config
    with pytest.raises(ValueError, match='cannot be written into a config file'):
        export_genotype(_template(tmp_path, NASFPN_TEMPLATE, extra), NASFPN_7CELL,
                        out_dir=str(tmp_path / 'n'))
    with pytest.raises(ValueError, match='cannot be written into a config file'):
        export_cell_configs(NASNET_A, {'det': _template(tmp_path, CELL_TEMPLATE, extra)},
                            str(tmp_path / 'c'))
    cfg = Config(dict(model=dict(type='ImageClassifier', backbone=dict(type='ResNet', depth=18)),
                      extra={'a"b': 1}))
    with pytest.raises(ValueError, match='cannot be written into a config file'):
        write_widths_config(cfg, 18, _small_widths(), str(tmp_path / 'w' / 'config.py'))
    assert not (tmp_path / 'n' / 'searched.py').exists()
    assert not (tmp_path / 'c' / 'det.py').exists()
    assert not (tmp_path / 'w' / 'config.py').exists()


def test_exported_configs_load_and_build_as_before(tmp_path):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import nas_det  # noqa: F401
    from nas_det.space.published import DETNAS_300M_RETINANET, NASNET_A
    out = _families(tmp_path)
    det = Config.fromfile(out['detnas'])
    assert det.model.backbone.type == 'ShuffleNetV2Subnet' and 'init_cfg' not in det.model.backbone
    assert det.model.backbone.genotype == DETNAS_300M_RETINANET.to_dict()
    assert all(h['type'] != 'UniformSamplingHook' for h in det.get('custom_hooks', []))
    nasfpn = Config.fromfile(out['nasfpn'])
    assert nasfpn.model.neck.type == 'NASFPNNeck'
    assert osp.isfile(osp.join(osp.dirname(out['nasfpn']), 'searched_genotype.json'))
    cells = Config.fromfile(out['cells'])
    assert cells.model.backbone.genotype == NASNET_A.to_dict()
    widths = Config.fromfile(out['widths'])
    assert widths.optim_wrapper == dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))
    assert widths.model.head.in_channels == dict(widths.model.backbone.widths)['stage4']
    from mmengine.registry import MODELS
    init_default_scope('mmdet')
    for cfg in (det, nasfpn, cells):
        model = MODELS.build(cfg.model).eval()
        with torch.no_grad():
            feats = model.extract_feat(torch.rand(1, 3, 128, 128))
        assert len(feats) == 5
    pytest.importorskip('mmpretrain')
    init_default_scope('mmpretrain')
    net = MODELS.build(widths.model).eval()
    with torch.no_grad():
        assert net(torch.rand(2, 3, 32, 32), mode='tensor').shape == (2, 10)


def test_load_from_names_only_what_the_export_wrote(tmp_path):
    """DetNAS with a supernet checkpoint: load_from is the sliced file; the search
    config's own load_from never reaches the export."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    import nas_det  # noqa: F401
    from nas_det.engine.export import export_config
    from nas_det.space.published import DETNAS_300M_RETINANET
    cfg = Config.fromfile(DETNAS_SEARCH)
    init_default_scope('mmdet')
    supernet = MODELS.build(cfg.model)
    ckpt = str(tmp_path / 'supernet.pth')
    torch.save({'state_dict': supernet.state_dict()}, ckpt)
    cfg.load_from = '/elsewhere/other.pth'
    out = export_config(cfg, DETNAS_300M_RETINANET, checkpoint=ckpt, out_dir=str(tmp_path / 'e'))
    written = Config.fromfile(out['config'])
    assert written.load_from == osp.abspath(out['checkpoint']) and out['dropped'] > 0
    subnet = MODELS.build(written.model)
    sd = torch.load(out['checkpoint'], weights_only=True)['state_dict']
    subnet.load_state_dict(sd, strict=True)


def test_template_lookup_and_slot_errors(tmp_path, monkeypatch):
    """One template lookup (as given, beside the search config, in the repository) and one
    dotted-key walker for every family, with the same one-line errors."""
    from nas_det.engine.export import resolve_template, slot
    monkeypatch.chdir(tmp_path)
    rel = 'configs/nasfpn/retinanet_r18_nasfpn_digits.py'
    assert resolve_template(rel) == osp.join(ROOT, rel)
    (tmp_path / 'cfgs').mkdir()
    (tmp_path / 'cfgs' / 'mine.py').write_text('x = 1\n')
    assert resolve_template('mine.py', str(tmp_path / 'cfgs')) == str(tmp_path / 'cfgs' / 'mine.py')
    with pytest.raises(FileNotFoundError, match=r"export.template: config 'nope.py' not found"):
        resolve_template('nope.py', str(tmp_path / 'cfgs'))
    data = {'model': {'neck': {'type': 'X'}}}
    parent, key = slot(data, 'model.neck.genotype')
    assert parent is data['model']['neck'] and key == 'genotype'
    with pytest.raises(ValueError, match=r"export.genotype_key: the config has no 'model.head' "
                                         r'\(a dict\)'):
        slot(data, 'model.head.genotype')
    with pytest.raises(ValueError, match='export.genotype_key: a dotted key'):
        slot(data, 'model..genotype')


def test_old_module_names_warn_and_still_work():
    import importlib
    import sys
    for name, attr in (('nas_det.engine.export_genotype', 'export_genotype'),
                       ('nas_det.engine.cell_export', 'export_cell_configs')):
        sys.modules.pop(name, None)
        with pytest.warns(DeprecationWarning, match='moved to nas_det.engine.export'):
            mod = importlib.import_module(name)
        import nas_det.engine.export as new
        assert getattr(mod, attr) is getattr(new, attr)


# ---- the proxy evaluator's schedule ------------------------------------------------
def _old_factor(it, lr_schedule, warmup, train_iters):
    """The learning-rate factor of the removed ProxyTrainEvaluator._lr_factor."""
    if it < warmup:
        return 0.1 + 0.9 * it / warmup
    if lr_schedule == 'constant':
        return 1.0
    t = (it - warmup) / max(train_iters - warmup, 1)
    if lr_schedule == 'cosine':
        return 0.5 * (1 + math.cos(math.pi * t))
    return 1.0 - t


@pytest.mark.parametrize('lr_schedule,warmup,iters,lr', [
    ('cosine', 10, 30, 0.01), ('cosine', 10, 200, 5e-3), ('cosine', 0, 17578, 0.05),
    ('cosine', 500, 17542, 0.08), ('constant', 0, 20, 0.5), ('constant', 4, 20, 0.5),
    ('linear', 3, 50, 0.1), ('cosine', 10, 2, 0.01), ('cosine', 0, 1, 0.01)])
def test_mapped_lr_schedule_gives_the_old_learning_rates(lr_schedule, warmup, iters, lr):
    """The deprecated options become mmengine schedulers whose learning rate at every
    iteration equals the old one in float32 (what the optimizers use) and to 1e-10 in
    float64 (mmengine's chainable form: a few ulps apart)."""
    import numpy as np
    from mmengine.registry import PARAM_SCHEDULERS

    from nas_det.engine.evaluators import schedule_from_lr_schedule
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheds = [PARAM_SCHEDULERS.build(s, default_args=dict(optimizer=opt))
              for s in schedule_from_lr_schedule(lr_schedule, warmup, iters)]
    new, old = [], []
    for it in range(iters):
        new.append(opt.param_groups[0]['lr'])
        old.append(lr * _old_factor(it, lr_schedule, warmup, iters))
        opt.step()
        for s in scheds:
            s.step()
    assert np.allclose(new, old, rtol=1e-10, atol=1e-15)
    assert (np.float32(new) == np.float32(old)).all()


def _toy_evaluator(tmp_path, **kwargs):
    from mmengine.config import Config
    pytest.importorskip('nasfpn_toy')
    from nasfpn_toy import toy_config

    import nas_det  # noqa: F401
    from nas_det.engine.evaluators import ProxyTrainEvaluator
    f = tmp_path / 'toy.py'
    f.write_text(toy_config(train_iters=12, nan_if_first_gp=False))
    cfg = Config.fromfile(str(f))
    return ProxyTrainEvaluator(SimpleNamespace(cfg=cfg), genotype_key='model.genotype',
                               metric='toy/accuracy', train_iters=12, num_train_images=32,
                               batch_size=16, **kwargs)


def _recorded_lrs(ev, genotype):
    lrs = []
    build = ev.build_model

    def recording(g):
        model = build(g)
        step = model.train_step

        def train_step(data, optim):
            lrs.append(optim.param_groups[0]['lr'])
            return step(data, optim)
        model.train_step = train_step
        return model
    ev.build_model = recording
    return ev(genotype), lrs


def test_proxy_children_follow_the_child_param_scheduler(tmp_path):
    from nas_det.space.published import NASFPN_7CELL
    steps = dict(type='MultiStepLR', by_epoch=False, milestones=[4, 8], gamma=0.1)
    _, lrs = _recorded_lrs(_toy_evaluator(tmp_path, child=dict(param_scheduler=[steps])),
                           NASFPN_7CELL)
    assert lrs == pytest.approx([0.5] * 4 + [0.05] * 4 + [0.005] * 4)
    # by_epoch: stepped after every pass over the 32 training vectors (2 iterations)
    epochs = dict(type='MultiStepLR', milestones=[2], gamma=0.1)
    _, lrs = _recorded_lrs(_toy_evaluator(tmp_path, child=dict(param_scheduler=epochs)),
                           NASFPN_7CELL)
    assert lrs == pytest.approx([0.5] * 4 + [0.05] * 8)
    # none: a constant learning rate
    _, lrs = _recorded_lrs(_toy_evaluator(tmp_path), NASFPN_7CELL)
    assert lrs == [0.5] * 12
    with pytest.raises(ValueError, match=r'evaluator.child.param_scheduler\[0\]: '
                                         'ReduceOnPlateauLR needs validation metrics'):
        _toy_evaluator(tmp_path, child=dict(param_scheduler=[dict(type='ReduceOnPlateauLR')]))
    with pytest.raises(ValueError, match=r"param_scheduler\[0\].type: 'CosLR' is not a "
                                         'registered parameter scheduler'):
        _toy_evaluator(tmp_path, child=dict(param_scheduler=[dict(type='CosLR')]))


def test_proxy_old_options_are_mapped_with_the_same_results(tmp_path):
    """lr_schedule / warmup_iters: a DeprecationWarning naming child.param_scheduler, and
    the same learning rates, losses and rewards as the removed loop."""
    from nas_det.space import NASFPNSpace
    genotypes = [NASFPNSpace(7).sample(random.Random(i)) for i in range(2)]
    with pytest.warns(DeprecationWarning, match='child.param_scheduler'):
        ev = _toy_evaluator(tmp_path, lr_schedule='cosine', warmup_iters=3)
    for g in genotypes:
        with pytest.warns(DeprecationWarning):
            ev = _toy_evaluator(tmp_path, lr_schedule='cosine', warmup_iters=3)
        res, lrs = _recorded_lrs(ev, g)
        assert lrs == pytest.approx([0.5 * _old_factor(i, 'cosine', 3, 12) for i in range(12)],
                                    rel=1e-12)
        old = _old_loop_result(tmp_path, g, 'cosine', 3)
        assert res.metrics['final_loss'] == old.metrics['final_loss']
        assert res.reward == old.reward
    with pytest.raises(ValueError, match='keep only child.param_scheduler'):
        _toy_evaluator(tmp_path, warmup_iters=3, child=dict(param_scheduler=[]))


def _old_loop_result(tmp_path, genotype, lr_schedule, warmup):
    """The child trained by the removed loop (the factor set before every step)."""
    import warnings

    from nas_det.engine.evaluators import local_loader
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        ev = _toy_evaluator(tmp_path)

    def train(model, seed):
        import copy

        from mmengine.optim import build_optim_wrapper
        optim = build_optim_wrapper(model, copy.deepcopy(ev.child['optim_wrapper']))
        base = [g['lr'] for g in optim.param_groups]
        model.train()
        it, epoch, loss_val = 0, 0, float('nan')
        while it < ev.train_iters:
            loader = iter(local_loader(ev.train_set, ev.train_bs, shuffle_seed=seed + epoch))
            epoch += 1
            for data in loader:
                if it >= ev.train_iters:
                    break
                f = _old_factor(it, lr_schedule, warmup, ev.train_iters)
                for g, lr in zip(optim.param_groups, base):
                    g['lr'] = lr * f
                loss_val = float(model.train_step(data, optim)['loss'].item())
                it += 1
        return loss_val, None
    ev.train = train
    return ev(genotype)
