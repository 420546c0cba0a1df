"""Cell search (NASNet / AmoebaNet / PNAS) through the search loop with the proxy-training
evaluator, its resume and export; cell-network pretraining with the auxiliary head and
ScheduledDropPath; the configs of configs/cells; errors."""
import glob
import json
import os
import os.path as osp
import random

import pytest
import torch

from conftest import ROOT, correct_count

pytest.importorskip('mmdet')
pytest.importorskip('mmpretrain')

CELLS = osp.join(ROOT, 'configs/cells')
SEARCH = osp.join(CELLS, 'cells_search_digits-cls.py')
PRETRAIN = osp.join(CELLS, 'nasnet-a-tiny_digits-cls.py')
FROM_CLS = osp.join(CELLS, 'retinanet_nasnet-a-tiny_fpn_digits-from-cls.py')
CONFIGS = sorted(glob.glob(osp.join(CELLS, '*.py')))
# tiny strategy settings; the strategy type is the one switch between the three configs
STRATEGIES = {
    'aging_evolution': ('cells_search_digits-cls.py',
                        dict(population=3, sample_size=2)),
    'reinforce': ('cells_search_digits-cls_reinforce.py', dict(batch_size=2)),
    'pnas': ('cells_search_digits-cls_pnas.py', dict(beam=2, epochs=5, max_candidates=50)),
}


pytestmark = pytest.mark.usefixtures('one_thread')  # conftest: tiny tensors, 1 thread


@pytest.fixture(scope='module')
def cls_data(tmp_path_factory):
    from nas_det.data import make_classification_set
    out = tmp_path_factory.mktemp('digits_cls')
    make_classification_set(out, num_train=48, num_val=20)
    return str(out)


def build_model(cfg, device=None):
    import mmdet.registry  # noqa: F401  (the 'mmdet' scope)
    import mmpretrain.registry  # noqa: F401  (the 'mmpretrain' scope)
    from mmengine.registry import MODELS, DefaultScope
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmdet')):
        if device:
            with torch.device(device):
                return MODELS.build(cfg.model)
        return MODELS.build(cfg.model)


def search_config(name, data_root, work_dir, max_trials=4, num_blocks=2, plot=True, **strategy):
    """A config of configs/cells at test size: 2-block cells, 2 training iterations per
    child on a few digits, filters 4."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(CELLS, name))
    cfg.merge_from_dict({
        'train_dataloader.dataset.data_root': data_root,
        'val_dataloader.dataset.data_root': data_root,
        'model.backbone.filters': 4,
        'train_cfg.search_space.num_blocks': num_blocks,
        'train_cfg.max_trials': max_trials,
        'train_cfg.plot': plot,
        'train_cfg.evaluator.train_iters': 2,
        'train_cfg.evaluator.warmup_iters': 0,
        'train_cfg.evaluator.num_train_images': 32,
        'train_cfg.evaluator.num_val_images': 20,
        'train_cfg.evaluator.val_batch_size': 20,
        'default_hooks.logger.interval': 1000,
    })
    for k, v in strategy.items():  # the one difference between the three configs
        cfg.train_cfg.strategy[k] = v
    cfg.phases = ['search']
    cfg.work_dir = work_dir
    return cfg


def run(cfg, work_dir, resume=False):
    from nas_det.engine.launch.phases import PhaseContext, run_phases
    return run_phases(cfg, PhaseContext(work_dir=work_dir, resume=resume))


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


# ---------------------------------------------------------------------------- search

@pytest.mark.slow
@pytest.mark.parametrize('strategy', list(STRATEGIES))
def test_short_real_search_with_each_strategy(strategy, cls_data, tmp_path):
    """Every candidate is a real child network trained (2 iterations) and validated on
    the digits by ProxyTrainEvaluator; the search files are written."""
    from nas_det.space.cells import CellGenotype, CellSpace
    name, opts = STRATEGIES[strategy]
    cfg = search_config(name, cls_data, str(tmp_path), **opts)
    space = CellSpace(**{k: v for k, v in cfg.train_cfg.search_space.items() if k != 'type'})
    out = run(cfg, str(tmp_path))['search']
    trials = read_jsonl(tmp_path / 'trials.jsonl')
    assert len(trials) == 4
    rewards = [t['reward'] for t in trials]
    # top-1 accuracy in percent on the 20 val images: a whole number of correct images
    assert all(correct_count(r, 20) is not None for r in rewards), rewards
    assert all(t['metrics']['accuracy/top1'] == t['reward'] for t in trials)
    assert all(t['cost']['params'] > 0 for t in trials)  # a real network was trained
    assert len({t['key'] for t in trials}) == 4
    genotypes = [CellGenotype.from_dict(t['genotype']) for t in trials]
    best = json.load(open(tmp_path / 'best_genotype.json'))
    best_g = CellGenotype.from_dict(best['genotype'])
    space.validate(best_g)  # the best is a full genotype of the searched space
    if strategy == 'pnas':
        # progressive: the first beam has 1-block cells, the second 2-block cells
        assert [g.normal.num_blocks for g in genotypes] == [1, 1, 2, 2]
        full = [r for g, r in zip(genotypes, rewards) if g.normal.num_blocks == 2]
        assert best['reward'] == max(full)
    else:
        for g in genotypes:
            space.validate(g)
        assert best['reward'] == max(rewards)
    if strategy == 'reinforce':  # the controller's weights are saved beside the state
        assert (tmp_path / 'search_state.pt').is_file()
    assert out['best_reward'] == best['reward']
    assert (tmp_path / 'search_progress.png').stat().st_size > 1000


@pytest.mark.slow
def test_reevaluate_retrains_the_best_and_worst_children(cls_data, tmp_path, capsys):
    """tools/reevaluate.py trains the top and bottom children of a trials file again with
    other seeds, each a real child network; a seed changes the reward only through
    training (same seed, same reward)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('reevaluate',
                                                  osp.join(ROOT, 'tools/reevaluate.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    from nas_det.space.cells import CellSpace
    space = CellSpace(num_blocks=2, ops='nasnet', combine=['add'], cells=['normal', 'reduce'],
                      concat='unused')
    rng = random.Random(0)
    genos = [space.sample(rng) for _ in range(3)]
    trials = tmp_path / 'trials.jsonl'
    with open(trials, 'w') as f:
        for i, (g, r) in enumerate(zip(genos, [30.0, 50.0, 10.0])):
            f.write(json.dumps({'batch': i, 'genotype': g.to_dict(), 'reward': r}) + '\n')
        f.write(json.dumps({'batch': 3, 'genotype': genos[0].to_dict(),
                            'reward': None, 'failure': 'nan'}) + '\n')  # skipped
    assert [t['reward'] for t in tool.pick(tool.read_trials(str(trials)), 1, 1)] == [50.0, 10.0]
    assert len(tool.pick(tool.read_trials(str(trials)), 3, 3)) == 3  # each trial once
    worst = tool.pick(tool.read_trials(str(trials)), 0, 5)  # more than there are: all
    assert [t['reward'] for t in worst] == [50.0, 30.0, 10.0]
    opts = ['train_dataloader.dataset.data_root=' + cls_data,
            'val_dataloader.dataset.data_root=' + cls_data, 'model.backbone.filters=4',
            'train_cfg.search_space.num_blocks=2', 'train_cfg.evaluator.train_iters=2',
            'train_cfg.evaluator.warmup_iters=0', 'train_cfg.evaluator.num_train_images=32',
            'train_cfg.evaluator.num_val_images=20', 'train_cfg.evaluator.val_batch_size=20']
    tool.main([SEARCH, str(trials), '--top', '1', '--bottom', '1', '--seeds', '1', '1', '5',
               '--cfg-options', *opts])
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith('search reward')]
    assert [ln.split(':')[0] for ln in lines] == ['search reward 50', 'search reward 10']
    for ln in lines:
        rewards = [float(r) for r in ln.split('->')[1].split(',')]
        assert len(rewards) == 3 and all(correct_count(r, 20) is not None for r in rewards)
        assert rewards[0] == rewards[1]  # seed 1 twice: the same child, the same reward
    detnas = osp.join(ROOT, 'configs/detnas/retinanet_detnas-shufflenet-300M_search_digits.py')
    with pytest.raises(SystemExit, match='ProxyTrainEvaluator'):
        tool.main([detnas, str(trials)])
    with pytest.raises(SystemExit, match='no finished trial'):
        empty = tmp_path / 'empty.jsonl'
        empty.write_text('')
        tool.main([SEARCH, str(empty)])


@pytest.mark.slow
def test_killed_search_resumes_to_the_same_end(cls_data, tmp_path, monkeypatch):
    from nas_det.engine.evaluators import ProxyTrainEvaluator
    name, opts = STRATEGIES['aging_evolution']
    calls = {'n': 0, 'kill_at': None}
    original = ProxyTrainEvaluator.__call__

    class Killed(BaseException):  # a stop, not an evaluation error (those are recorded)
        pass

    def counting(self, genotype):
        calls['n'] += 1
        if calls['kill_at'] is not None and calls['n'] == calls['kill_at']:
            raise Killed()
        return original(self, genotype)

    monkeypatch.setattr(ProxyTrainEvaluator, '__call__', counting)
    whole = tmp_path / 'whole'
    opts = dict(opts, max_trials=5, plot=False)
    run(search_config(name, cls_data, str(whole), **opts), str(whole))
    assert calls['n'] == 5

    part = tmp_path / 'part'
    calls.update(n=0, kill_at=4)
    with pytest.raises(Killed):
        run(search_config(name, cls_data, str(part), **opts), str(part))
    assert len(read_jsonl(part / 'trials.jsonl')) == 3
    with pytest.raises(ValueError, match='already holds a search'):  # no silent restart
        run(search_config(name, cls_data, str(part), **opts), str(part))
    calls.update(n=0, kill_at=None)
    run(search_config(name, cls_data, str(part), **opts), str(part), resume=True)
    assert calls['n'] == 2  # the 3 finished children are not trained again
    a, b = read_jsonl(whole / 'trials.jsonl'), read_jsonl(part / 'trials.jsonl')
    assert [t['key'] for t in a] == [t['key'] for t in b]
    # the same children trained the same way (the final training loss is among the metrics)
    assert [t['metrics'] for t in a] == [t['metrics'] for t in b]
    best_a, best_b = (json.load(open(d / 'best_genotype.json')) for d in (whole, part))
    assert {k: best_a[k] for k in ('genotype', 'key', 'reward', 'metrics')} == \
        {k: best_b[k] for k in ('genotype', 'key', 'reward', 'metrics')}


# ---------------------------------------------------------------------------- export

@pytest.mark.slow
def test_export_writes_configs_that_build_and_a_drawing(tmp_path):
    """A genotype whose cells concatenate other numbers of states than NASNet-A's: the
    exported configs carry it inline, with the FPN / head widths recomputed."""
    from mmengine.config import Config
    from nas_det.engine.launch.phases import PhaseContext, run_phases
    from nas_det.space.cells import CellSpace
    space = CellSpace(num_blocks=5, ops='nasnet')
    rng = random.Random(3)
    g = next(g for g in (space.sample(rng) for _ in range(100))
             if len(g.normal.concat) != 6)  # NASNet-A's normal cell concatenates 6 states
    gfile = tmp_path / 'best_genotype.json'
    gfile.write_text(json.dumps({'genotype': g.to_dict(), 'reward': 50.0}))
    cfg = Config.fromfile(SEARCH)
    cfg.merge_from_dict({'phases': ['cell_export'], 'export.genotype': str(gfile)})
    out = run_phases(cfg, PhaseContext(work_dir=str(tmp_path / 'run')))['cell_export']
    assert (tmp_path / 'run' / 'best_cells.png').stat().st_size > 5000
    templates = cfg.export.templates
    assert {f'config_{k}' for k in templates} <= set(out)
    for name in templates:
        written = Config.fromfile(out[f'config_{name}'])
        assert written.model.backbone.genotype == g.to_dict()
        assert 'phases' not in written and 'export' not in written
        backbone = build_model(Config(dict(model=written.model.backbone)), device='meta')
        assert str(backbone.genotype) == str(g)
        template = Config.fromfile(osp.join(ROOT, templates[name]))
        if 'neck' in written.model:  # the FPN follows the new widths
            assert list(written.model.neck.in_channels) == list(backbone.out_channels)
            assert written.model.neck.in_channels != template.model.neck.in_channels
    # the exported tiny detector and CIFAR-10 classifier run
    det = Config.fromfile(out['config_retinanet_cellnet_tiny_fpn_digits'])
    model = build_model(det).eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.rand(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == [96] * 5
    cls = Config.fromfile(out['config_cellnet_cifar10_cls'])
    cls.model.backbone.cells_per_stage = 1  # the layout, at test size
    model = build_model(cls).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 32, 32), mode='tensor').shape == (2, 10)


# ---------------------------------------------------------------------------- pretraining

@pytest.mark.slow
def test_pretraining_with_aux_head_and_drop_path_schedule_then_detector(cls_data, tmp_path):
    """The pretraining config runs (auxiliary loss, drop-path growing linearly with the
    iteration), and the detector config starts its backbone from the checkpoint."""
    from mmengine.config import Config
    from mmengine.hooks import Hook
    from mmengine.registry import HOOKS
    from mmengine.runner import Runner

    seen = []

    @HOOKS.register_module(force=True)
    class _RecordDropPath(Hook):
        priority = 'LOWEST'

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            bb = runner.model.backbone
            seen.append((runner.iter, bb.drop_path_progress, bb.cells[-1].drop_prob))

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            seen[-1] += (float(outputs['loss_aux']),)

    cfg = Config.fromfile(PRETRAIN)
    cfg.merge_from_dict({
        'train_dataloader.dataset.data_root': cls_data,
        'train_dataloader.batch_size': 4,
        'val_dataloader.dataset.data_root': cls_data,
        'val_dataloader.batch_size': 20,
        'train_cfg.max_iters': 4, 'train_cfg.val_interval': 4,
        'default_hooks.checkpoint.interval': 4, 'param_scheduler': [],
    })
    cfg.custom_hooks = cfg.custom_hooks + [dict(type='_RecordDropPath')]
    cfg.work_dir = str(tmp_path / 'cls')
    runner = Runner.from_cfg(cfg)
    runner.train()
    rate = cfg.model.backbone.drop_path_rate
    assert [s[0] for s in seen] == [0, 1, 2, 3]
    assert [s[1] for s in seen] == pytest.approx([0, 0.25, 0.5, 0.75])
    assert [s[2] for s in seen] == pytest.approx([rate * p for p in (0, 0.25, 0.5, 0.75)])
    assert all(s[3] > 0 for s in seen)  # the auxiliary classifier is trained
    metrics = runner.val_loop.run()
    assert correct_count(metrics['accuracy/top1'], 20) is not None  # of the 20 val images
    runner.model.eval()
    assert runner.model.backbone.cells[-1].drop_prob > 0  # eval mode ignores it
    with torch.no_grad():
        x = torch.rand(2, 3, 64, 64)
        assert torch.equal(runner.model(x, mode='tensor'), runner.model(x, mode='tensor'))
    ckpt = tmp_path / 'cls' / 'iter_4.pth'
    assert ckpt.is_file()

    det = Config.fromfile(FROM_CLS)
    det.model.backbone.init_cfg.checkpoint = str(ckpt)
    detector = build_model(det)
    detector.init_weights()
    cls_sd = runner.model.state_dict()
    for k, v in detector.backbone.state_dict().items():
        assert torch.equal(v, cls_sd['backbone.' + k]), k


def test_drop_path_hook_errors():
    from nas_det.engine.hooks import DropPathScheduleHook
    with pytest.raises(ValueError, match='ramp'):
        DropPathScheduleHook(ramp=0)
    with pytest.raises(ValueError, match='offset'):
        DropPathScheduleHook(offset=-1)

    class FakeRunner:
        model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match='set_drop_path_progress'):
        DropPathScheduleHook().before_train(FakeRunner())


@pytest.mark.slow
def test_drop_path_ramp_continues_after_resume(tmp_path):
    """ScheduledDropPath follows the runner's iteration: a run resumed from its iteration-3
    checkpoint gets the progress of iterations 3-5 that the uninterrupted run got."""
    import nas_det  # noqa: F401  (the hook; checkpoints in the safe format)
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Toy(BaseModel):
        drop_path_rate = 0.3

        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 2)
            self.seen = []

        def set_drop_path_progress(self, p):
            self.seen.append(p)

        def forward(self, inputs, data_samples=None, mode='tensor'):
            out = self.fc(inputs)
            return {'loss': torch.nn.functional.cross_entropy(out, data_samples)} \
                if mode == 'loss' else out

    class Data(torch.utils.data.Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            x = torch.Generator().manual_seed(i)
            return dict(inputs=torch.randn(4, generator=x), data_samples=i % 2)

    def runner(wd, **kw):
        return Runner(model=Toy(), work_dir=str(tmp_path / wd), experiment_name=wd,
                      train_dataloader=dict(dataset=Data(), batch_size=2,
                                            sampler=dict(type='DefaultSampler', shuffle=False),
                                            collate_fn=dict(type='default_collate')),
                      optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
                      train_cfg=dict(by_epoch=False, max_iters=6),
                      custom_hooks=[dict(type='DropPathScheduleHook', offset=1)],
                      default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=3,
                                                         by_epoch=False)),
                      default_scope='mmengine', **kw)
    whole = runner('whole')
    whole.train()
    assert whole.model.seen == pytest.approx([(i + 1) / 6 for i in range(6)])
    ckpt = tmp_path / 'whole' / 'iter_3.pth'
    resumed = runner('resumed', load_from=str(ckpt), resume=True)
    resumed.train()
    assert resumed.iter == 6
    assert resumed.model.seen == whole.model.seen[3:]


# ---------------------------------------------------------------------------- configs

@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_cell_configs_parse_build_and_stay_offline(path):
    from mmengine.config import Config
    from nas_det.engine.launch.offline import find_remote_checkpoints
    from nas_det.engine.launch.phases import normalize_phases
    cfg = Config.fromfile(path)
    assert find_remote_checkpoints(cfg._cfg_dict.to_dict()) == []
    assert cfg.custom_imports['imports'] == ['nas_det']
    model = build_model(cfg, device='meta')
    bb = model.backbone
    assert type(bb).__name__ == 'CellNetBackbone'
    if 'neck' in cfg.model:  # detectors: the written widths are the backbone's
        assert list(cfg.model.neck.in_channels) == list(bb.out_channels)
        assert bb.stage_strides[-len(bb.out_indices):] == (8, 16, 32)
    else:
        assert cfg.default_scope == 'mmpretrain'
        assert model.head.in_channels == bb.out_channels[-1]
    if 'phases' in cfg:
        names = [n for n, _ in normalize_phases(cfg)]
        assert names == ['search', 'cell_export']
        assert cfg.train_cfg.evaluator.type == 'ProxyTrainEvaluator'
        assert cfg.train_cfg.evaluator.genotype_key == 'model.backbone.genotype'
        for t in cfg.export.templates.values():
            assert osp.isfile(osp.join(ROOT, t))


def test_search_configs_differ_only_in_the_strategy():
    from mmengine.config import Config
    dicts = {k: Config.fromfile(osp.join(CELLS, f))._cfg_dict.to_dict()
             for k, (f, _) in STRATEGIES.items()}
    types = {k: d['train_cfg'].pop('strategy')['type'] for k, d in dicts.items()}
    assert types == {'aging_evolution': 'RegularizedEvolution',
                     'reinforce': 'ReinforceController', 'pnas': 'ProgressiveSMBO'}
    base = dicts.pop('aging_evolution')
    for d in dicts.values():
        assert d == base


def test_strategy_is_a_dict_with_a_type(tmp_path):
    """train_cfg.strategy is a dict with a `type`; a string (a preset name of the removed
    `strategies`, or a bare type name: 'pnas' is also ProgressiveSMBO's alias, and taking it
    as the type would silently drop the preset's settings) is one line naming the allowed
    types and, for a removed preset, the config that holds it now."""
    from mmengine.config import Config
    from nas_det.engine.launch import load_config, parse_args
    from nas_det.engine.runner.search_loop import SearchLoop
    from types import SimpleNamespace
    cfg = Config.fromfile(SEARCH)
    kw = {k: v for k, v in cfg.train_cfg.items() if k != 'type'}
    assert SearchLoop(SimpleNamespace(cfg=cfg), None, **kw).strategy_cfg == dict(
        type='RegularizedEvolution', population=6, sample_size=3)
    kw['strategy'] = 'pnas'
    with pytest.raises(ValueError, match=r"^train_cfg.strategy: 'pnas' is a name, not a "
                                         r"strategy: dict\(type=TYPE, ...\) is expected, TYPE "
                                         r"among \[.*'ProgressiveSMBO'.*\]; the `strategies` "
                                         r"presets were removed: 'pnas' is the config "
                                         r"configs/cells/cells_search_digits-cls_pnas.py$"):
        SearchLoop(SimpleNamespace(cfg=cfg), None, **kw)
    kw['strategy'] = 'RegularizedEvolution'
    with pytest.raises(ValueError, match=r"^train_cfg.strategy: 'RegularizedEvolution' is a "
                                         r"name, not a strategy: .*'RegularizedEvolution'.*\]$"):
        SearchLoop(SimpleNamespace(cfg=cfg), None, **kw)
    kw['strategy'] = dict(population=3)
    with pytest.raises(ValueError, match='train_cfg.strategy: a dict with a `type`'):
        SearchLoop(SimpleNamespace(cfg=cfg), None, **kw)
    # a config that still holds `strategies` presets: one line naming the child configs
    old = tmp_path / 'old_style.py'
    old.write_text(f"_base_ = {SEARCH!r}\ntrain_cfg = dict(strategy='evolution')\n"
                   "strategies = dict(evolution=dict(type='RegularizedEvolution'))\n")
    with pytest.raises(ValueError, match=r"^strategies: removed; .*configs/cells/"
                                         r"cells_search_digits-cls.py \(evolution\), configs/"
                                         r"cells/cells_search_digits-cls_reinforce.py "
                                         r"\(reinforce\), configs/cells/cells_search_digits-"
                                         r"cls_pnas.py \(pnas\)$"):
        load_config(parse_args([str(old)]))


def test_paper_layout_sizes_of_the_configs():
    """The CIFAR-10 and ImageNet configs are NASNet-A 6@768 (3.3M) and 4@1056 (5.3M)
    without their auxiliary classifier."""
    from mmengine.config import Config
    for name, size in (('nasnet-a_cifar10-cls.py', 3.3e6), ('nasnet-a-mobile_imagenet-cls.py',
                                                            5.3e6)):
        cfg = Config.fromfile(osp.join(CELLS, name))
        model = build_model(cfg, device='meta')
        n = sum(p.numel() for n_, p in model.named_parameters() if 'aux_head' not in n_)
        assert abs(n - size) / size < 0.02, (name, n)
        assert model.backbone.out_channels[-1] == {'nasnet-a_cifar10-cls.py': 768}.get(name, 1056)


# ---------------------------------------------------------------------------- errors

def test_clear_errors_of_the_cell_search_parts(tmp_path):
    from mmengine.config import Config
    from nas_det.engine.export import export_cell_configs
    from nas_det.models.cell_heads import CellClsHead
    from nas_det.space.cells import Cell, CellGenotype, CellSpace
    from nas_det.space.published import DETNAS_300M_FPN, NASNET_A, PNASNET_5
    space = CellSpace(num_blocks=2)
    other = Cell((('h0', 'identity', 'h1', 'identity'), ('h0', 'identity', 'h1', 'identity')),
                 ('b2', 'b3'))
    # an op outside the space
    bad_op = CellGenotype(Cell((('h0', 'conv_9x9', 'h1', 'identity'),
                                ('h0', 'identity', 'h1', 'identity')), ('b2', 'b3')), other)
    with pytest.raises(ValueError, match=r'normal/block2/op0.*conv_9x9.*allowed values'):
        space.validate(bad_op)
    # a block reading a later block
    late = CellGenotype(Cell((('b3', 'identity', 'h1', 'identity'),
                              ('h0', 'identity', 'h1', 'identity')), ('b2', 'b3')), other)
    with pytest.raises(ValueError, match=r'normal/block2/input0'):
        space.validate(late)
    # a genotype with a reduction cell where reductions reuse the normal cell, and back
    with pytest.raises(ValueError, match=r'reduce: a reduction cell is not allowed'):
        CellSpace(num_blocks=5, ops='pnas', cells=['normal'], concat='all').validate(NASNET_A)
    with pytest.raises(ValueError, match=r'reduce: None is not allowed'):
        CellSpace(num_blocks=5).validate(PNASNET_5)
    # head widths that do not match the backbone's
    cfg = Config.fromfile(PRETRAIN)
    cfg.model.head.in_channels = 100
    with pytest.raises(ValueError, match=r'head.in_channels: 100.*384'):
        build_model(cfg, device='meta')
    with pytest.raises(ValueError, match='aux_in_channels'):
        CellClsHead(num_classes=10, in_channels=8, aux_in_channels=0)
    head = CellClsHead(num_classes=10, in_channels=8)
    with pytest.raises(ValueError, match='in_channels: 8, but the last stage has 16'):
        head(((torch.zeros(1, 16, 2, 2)),))
    # export: no templates, a missing template, a genotype of another space, a bad slot
    with pytest.raises(ValueError, match='export.templates'):
        export_cell_configs(NASNET_A, {}, str(tmp_path))
    with pytest.raises(FileNotFoundError, match='nope.py'):
        export_cell_configs(NASNET_A, {'a': 'configs/cells/nope.py'}, str(tmp_path))
    with pytest.raises(ValueError, match='space'):
        export_cell_configs(DETNAS_300M_FPN.to_dict(), {'a': PRETRAIN}, str(tmp_path))
    with pytest.raises(ValueError, match='model.neck'):
        export_cell_configs(NASNET_A, {'a': PRETRAIN}, str(tmp_path),
                            genotype_key='model.neck.genotype')


@pytest.mark.slow
def test_cli_reports_a_bad_config_value_in_one_line(tmp_path):
    """tools/search.py: a bad value ends with `error: <field and allowed values>` and exit
    status 2, no traceback (NAS_DET_DEBUG=1 keeps it)."""
    import subprocess
    import sys
    args = [sys.executable, 'tools/search.py', SEARCH, '--work-dir', str(tmp_path / 'wd'),
            '--cfg-options', 'train_cfg.strategy=darts']
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    env.pop('NAS_DET_DEBUG', None)
    p = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr[-2000:]
    assert ("search.py: error: phase 'search': train_cfg.strategy: 'darts' is a name, not a "
            "strategy: dict(type=TYPE, ...) is expected, TYPE among [") in p.stderr
    assert "'ProgressiveSMBO', 'RandomSearch', 'RegularizedEvolution', 'ReinforceController'" \
        in p.stderr
    assert 'Traceback' not in p.stderr
    p = subprocess.run(args, cwd=ROOT, env=dict(env, NAS_DET_DEBUG='1'), capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 1 and 'Traceback' in p.stderr
