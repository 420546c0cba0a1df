"""NAS-FPN search: the controller over NASFPNSpace, the proxy-training evaluator (a real
RetinaNet child on a few digits images, and a toy child), NaN children, kill/resume,
parallel children on two gloo ranks, bad configs, plots and export."""
import json
import os
import os.path as osp
import random
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from conftest import ROOT, count_lines, kill_when

NASFPN_DIGITS = osp.join(ROOT, 'configs/nasfpn/retinanet_r18_nasfpn_digits.py')
PUBLISHED_COCO = osp.join(ROOT, 'configs/nasfpn/retinanet_r50_nasfpn-published_crop640-50e_coco.py')


def _toy_reward(g) -> float:
    """Known optimum: every cell a sum cell reading P3 first."""
    return sum((c.op == 'sum') + (c.input0 == 0) for c in g.cells) / (2 * len(g.cells))


def test_controller_beats_random_on_a_toy_reward_over_nasfpn_space():
    from nas_det.strategies.driver import SearchDriver
    from nas_det.space import NASFPNSpace
    space = NASFPNSpace(num_cells=7)
    driver = SearchDriver(space, dict(type='ReinforceController', batch_size=10, lr=0.05),
                          seed=0, max_trials=150, log=lambda m: None)
    best = driver.run_objective(_toy_reward)
    rewards = [r['reward'] for r in driver.trials]
    assert len(rewards) == 150
    rng = random.Random(1)
    rand = [_toy_reward(space.sample(rng)) for _ in range(300)]
    late = sum(rewards[-30:]) / 30
    assert late > sum(rand) / len(rand) + 0.2, (late, sum(rand) / len(rand))
    assert best[1] > max(rand)
    assert driver.strategy.updates == 15  # one controller update per batch of 10


@pytest.mark.slow
def test_proxy_evaluator_trains_two_real_retinanet_children(tiny_det_data):
    from mmengine.config import Config

    import nas_det  # noqa: F401
    from nas_det.engine.evaluators import ProxyTrainEvaluator
    from nas_det.space import NASFPNSpace
    from nas_det.space.published import NASFPN_7CELL
    cfg = Config.fromfile(NASFPN_DIGITS)
    for dl in ('train_dataloader', 'val_dataloader'):
        cfg[dl].dataset.data_root = tiny_det_data + '/'
    cfg.val_evaluator.ann_file = f'{tiny_det_data}/annotations/instances_val.json'
    ev = ProxyTrainEvaluator(SimpleNamespace(cfg=cfg), genotype_key='model.neck.genotype',
                             train_iters=2, batch_size=2, num_train_images=4,
                             num_val_images=4, val_batch_size=4)
    other = NASFPNSpace(7).sample(random.Random(3))
    results = [ev(g) for g in (NASFPN_7CELL, other)]
    for g, res in zip((NASFPN_7CELL, other), results):
        assert 0.0 <= res.reward <= 1.0 and res.reward == res.metrics['coco/bbox_mAP']
        assert res.cost['params'] > res.cost['module_params'] > 0
        assert res.metrics['final_loss'] > 0
        assert ev.child_config(g)['model']['neck']['genotype'] == g.to_dict()
    # the slot really reaches the child: the built neck runs the genotype given
    assert ev.build_model(other).neck.genotype == other
    # a per-child seed: the same child trains to the same loss again, whatever came before
    again = ev(NASFPN_7CELL)
    assert again.metrics['final_loss'] == results[0].metrics['final_loss']
    assert again.reward == results[0].reward
    assert results[0].metrics['seed'] != results[1].metrics['seed']


def test_bad_configs_fail_early():
    from mmengine.config import Config

    import nas_det  # noqa: F401
    from nas_det.engine.evaluators import ProxyTrainEvaluator
    from nas_det.engine.runner.search_loop import SearchLoop
    cfg = Config.fromfile(NASFPN_DIGITS)
    runner = SimpleNamespace(cfg=cfg)
    cases = [(dict(lr_schedule='step'), 'lr_schedule'), (dict(train_iters=0), 'train_iters'),
             (dict(genotype_key='model.nothing.genotype'), 'model.nothing'),
             (dict(genotype_key='neck.genotype'), 'genotype_key'),
             (dict(child=dict(modle={})), 'modle'), (dict(num_val_images=-1), 'num_val_images'),
             (dict(genotype_format='yaml'), 'genotype_format')]
    for kwargs, word in cases:
        with pytest.raises(ValueError, match=word):
            ProxyTrainEvaluator(runner, **kwargs)
    stub = SimpleNamespace(model=torch.nn.Linear(2, 2), cfg=cfg, work_dir='/nonexistent',
                           logger=None)
    proxy = dict(type='ProxyTrainEvaluator')
    space = dict(type='NASFPNSpace', num_cells=7)
    loops = [(dict(evaluator=proxy), 'search_space'),
             (dict(evaluator=proxy, search_space=space, max_flops=1e9), 'max_flops'),
             (dict(evaluator=dict(type='SupernetEvaluator'), search_space=space),
              'SupernetEvaluator')]
    for kwargs, word in loops:
        loop = SearchLoop(stub, None, strategy=dict(type='ReinforceController'), **kwargs)
        with pytest.raises(ValueError, match=word):
            loop.run()


def _toy_cfg(tmp_path, name='toy.py', **kw):
    from nasfpn_toy import toy_config
    path = tmp_path / name
    path.write_text(toy_config(**kw))
    return str(path)


ENV = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=f'{ROOT}{os.pathsep}{osp.join(ROOT, "tests")}')


def _run(args, timeout=300):
    """A tool in a subprocess that can import the toy task (``nasfpn_toy``)."""
    p = subprocess.run([sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True,
                       text=True, timeout=timeout)
    assert p.returncode == 0, f'{args} failed:\n{p.stdout[-3000:]}\n{p.stderr[-6000:]}'
    return p.stdout + p.stderr


def _search(cfg, wd, *extra):
    """tools/search.py in this process (the toy task imports from tests/)."""
    if osp.join(ROOT, 'tests') not in sys.path:
        sys.path.insert(0, osp.join(ROOT, 'tests'))
    from nas_det.engine.launch import main
    assert main([cfg, '--work-dir', wd, *extra]) == 0


def _trials(wd):
    with open(osp.join(wd, 'trials.jsonl')) as f:
        recs = [json.loads(line) for line in f]
    for r in recs:
        r.pop('wall_time')
        r.pop('crc', None)  # a checksum of the record, wall time included
        r['cost'] = {k: v for k, v in r['cost'].items() if 'seconds' not in k}
    return recs


@pytest.mark.slow
def test_controller_search_with_nan_children_killed_and_resumed(tmp_path):
    """tools/search.py over the toy proxy: NaN children are failures and the search goes
    on; a search killed mid-batch resumes to the trials and controller of an
    uninterrupted one."""
    cfg = _toy_cfg(tmp_path, sleep=0.02)
    full, cut = str(tmp_path / 'full'), str(tmp_path / 'cut')
    _search(cfg, full)
    ref = _trials(full)
    assert len(ref) == 12 and len({r['key'] for r in ref}) == 12
    failed = [r for r in ref if r['failed']]
    assert failed and all(r['reward'] == 'nan' and 'loss is nan' in r['metrics']['failure']
                          for r in failed)
    assert any(not r['failed'] for r in ref[ref.index(failed[0]) + 1:])  # it went on
    assert [r['batch'] for r in ref] == [0] * 4 + [1] * 4 + [2] * 4
    for f in ('search_progress.png', 'search_rewards.png', 'best_genotype.png',
              'search_state.pt', 'best_genotype.json'):
        assert osp.isfile(osp.join(full, f)), f
    log = osp.join(cut, 'trials.jsonl')
    kill_when(['tools/search.py', cfg, '--work-dir', cut], lambda: count_lines(log) >= 6,
              env=ENV, timeout=120)  # mid second batch
    assert not osp.exists(osp.join(cut, 'search_summary.json')), 'finished before the kill'
    _search(cfg, cut, '--resume')
    assert _trials(cut) == ref
    a, b = (torch.load(osp.join(d, 'search_state.pt'), weights_only=True) for d in (full, cut))
    for k, v in a['controller'].items():
        assert torch.equal(v, b['controller'][k]), k
    assert torch.equal(a['generator'], b['generator'])
    sa, sb = (json.load(open(osp.join(d, 'search_state.json')))['strategy'] for d in (full, cut))
    assert sa['extra']['baseline'] == sb['extra']['baseline']
    assert sa['extra']['updates'] == sb['extra']['updates'] == 3


@pytest.mark.slow
def test_controller_batch_split_over_two_gloo_ranks(tmp_path):
    """Each rank trains its share of every controller batch; every rank tells the
    gathered rewards, so both ask the same next batch."""
    from test_detnas_pipeline import free_port
    cfg = _toy_cfg(tmp_path, max_trials=8)
    wd = str(tmp_path / 'dist')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
           '--master_port', str(free_port()), 'tools/search.py', cfg, '--launcher', 'pytorch',
           '--work-dir', wd]
    p = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-6000:]
    main = _trials(wd)
    assert len(main) == 8
    with open(osp.join(wd, 'trials.rank1.jsonl')) as f:
        rank1 = [json.loads(line) for line in f]
    assert len(rank1) == 4  # candidates 1 and 3 of both batches of 4
    by_key = {r['key']: r for r in main}
    for r in rank1:
        assert r['key'] in by_key and r['reward'] == by_key[r['key']]['reward']
    state = json.load(open(osp.join(wd, 'search_state.json')))['strategy']
    assert state['extra']['updates'] == 2  # one controller update per batch
    # the same search on one rank: the same children per batch with the same rewards
    # (per-child seeds), so the same controller updates (the log order within a batch
    # differs: rank 0 logs its own children first)
    one = str(tmp_path / 'one')
    _search(cfg, one)
    assert sorted((r['batch'], r['key'], r['reward']) for r in _trials(one)) == \
        sorted((r['batch'], r['key'], r['reward']) for r in main)


def test_plots_and_export_of_a_pyramid(tmp_path):
    from mmengine.config import Config

    import nas_det  # noqa: F401
    from nas_det.engine.export import export_genotype
    from nas_det.engine.visualization import moving_average, plot_pyramid, plot_rewards
    from nas_det.space import NASFPNSpace
    from nas_det.space.published import NASFPN_7CELL
    assert moving_average([1.0, None, 3.0, 5.0], 2) == [1.0, 1.0, 2.0, 4.0]
    recs = [{'reward': r, 'batch': i // 2} for i, r in enumerate([0.1, 'nan', 0.3, 0.2])]
    assert osp.getsize(plot_rewards(recs, str(tmp_path))) > 1000
    assert osp.getsize(plot_pyramid(NASFPN_7CELL, str(tmp_path / 'p.png'))) > 1000
    g = NASFPNSpace(7).sample(random.Random(0))
    gfile = tmp_path / 'best_genotype.json'
    gfile.write_text(json.dumps({'genotype': g.to_dict(), 'reward': 0.1}))
    out = export_genotype(PUBLISHED_COCO, str(gfile), out_dir=str(tmp_path / 'exp'), name='r50')
    cfg = Config.fromfile(out['config'])
    assert cfg.model.neck.type == 'NASFPNNeck' and cfg.model.neck.genotype == g.to_dict()
    assert cfg.model.data_preprocessor.pad_size_divisor == 128
    assert cfg.model.backbone.depth == 50 and 'nas_det' in cfg.custom_imports.imports
    crops = [t for t in cfg.train_pipeline if t['type'] == 'RandomCrop']
    assert crops and tuple(crops[0]['crop_size']) == (640, 640)
    with pytest.raises(ValueError, match='model.head'):
        export_genotype(PUBLISHED_COCO, str(gfile), genotype_key='model.head.genotype',
                        out_dir=str(tmp_path / 'bad'))


def test_cost_model_of_a_supernet_neck():
    """FLOPs of one-shot pyramids (the neck takes a list of maps) and a clear error for
    an image-shaped cost_input_shape."""
    import nas_det  # noqa: F401
    from nas_det.engine.runner.search_loop import SearchCostModel
    from nas_det.models.nasfpn import NASFPNSupernet
    from nas_det.space import NASFPNSpace
    from nas_det.space.published import NASFPN_7CELL
    neck = NASFPNSupernet([8, 8, 8, 8], 8, 5, stack_times=1, start_level=1)
    shapes = [(8, 64, 64), (8, 32, 32), (8, 16, 16), (8, 8, 8)]
    cost = SearchCostModel(neck, shapes, 'model.neck')
    g = NASFPNSpace(7).sample(random.Random(7))
    a, b = cost(NASFPN_7CELL)['flops'], cost(g)['flops']
    assert a > 0 and b > 0 and a != b
    assert neck.choices == NASFPN_7CELL  # the path in use is restored
    with pytest.raises(ValueError, match='cost_input_shape'):
        SearchCostModel(neck, (3, 224, 224), 'model.neck')(g)



@pytest.mark.slow
def test_one_shot_pipeline_trains_searches_and_exports(tiny_det_data, tmp_path):
    """The one-shot config end to end at test size: supernet neck trained with a random
    pyramid per iteration, GA search on it (BN re-estimated per pyramid), the best pyramid
    exported into the R-50 COCO config."""
    from mmengine.config import Config

    from nas_det.space.nasfpn import NASFPNSpace
    from conftest import run_tool
    from nas_det.space import genotype_from_dict
    base = osp.join(ROOT, 'configs/nasfpn/retinanet_r18_nasfpn-supernet_search_digits.py')
    cfg = tmp_path / 'oneshot_tiny.py'
    cfg.write_text(
        f"_base_ = {base!r}\n"
        "param_scheduler = []\n"
        "search_cfg = dict(type='SearchLoop', strategy=dict(type='GeneticAlgorithm',\n"
        "    population=3, top_k=2, num_mutation=1, mutation_prob=0.5, num_crossover=1,\n"
        "    generations=2), evaluator=dict(type='SupernetEvaluator', bn_batches=1,\n"
        "    num_val_images=2),\n"
        "    cost_input_shape=[(32, 64, 64), (64, 32, 32), (128, 16, 16), (256, 8, 8)])\n"
        "train_cfg = dict(max_iters=3, val_interval=3)\n"
        "phases = [dict(type='train'), dict(type='search', load_from='previous',\n"
        "          train_cfg=dict(_delete_=True, **search_cfg)), _base_.export_phase]\n")
    wd = tmp_path / 'run'
    data = tiny_det_data
    out = run_tool(['tools/search.py', str(cfg), '--work-dir', str(wd), '--cfg-options',
                    f'train_dataloader.dataset.data_root={data}/',
                    f'val_dataloader.dataset.data_root={data}/',
                    f'val_evaluator.ann_file={data}/annotations/instances_val.json',
                    'train_dataloader.batch_size=2', 'val_dataloader.batch_size=2'])
    assert 'search.best' in out
    # the one-shot config ran: a supernet training phase, then the search on it
    assert (wd / 'train' / 'phase_done.json').is_file()
    trials = _trials(str(wd / 'search'))
    # population 3, then 3 children in the second generation
    assert len(trials) == 6 and len({t['key'] for t in trials}) == 6
    assert [t['batch'] for t in trials] == [0, 0, 0, 1, 1, 1]
    assert all(t['cost']['flops'] > 0 for t in trials)
    best = json.load(open(wd / 'search' / 'best_genotype.json'))
    g = NASFPNSpace(7).validate(genotype_from_dict(best['genotype']))
    exported = [f for f in os.listdir(wd / 'export_genotype') if f.endswith('.py')]
    assert exported
    written = Config.fromfile(str(wd / 'export_genotype' / exported[0]))
    assert written.model.neck.genotype == g.to_dict()
    assert written.model.neck.type == 'NASFPNNeck'


def test_controller_and_one_shot_are_two_configs():
    """The controller search (proxy-trained children) and the one-shot search (supernet
    neck, GA) are a config and its child; --cfg-options still win over both."""
    from mmengine.config import Config

    from nas_det.engine.launch import load_config, parse_args
    from nas_det.engine.launch.phases import normalize_phases
    path = osp.join(ROOT, 'configs/nasfpn/retinanet_r18_nasfpn_search_digits.py')
    child = osp.join(ROOT, 'configs/nasfpn/retinanet_r18_nasfpn-supernet_search_digits.py')

    cfg = Config.fromfile(path)
    assert 'variants' not in cfg and 'variant' not in cfg
    assert [n for n, _ in normalize_phases(cfg)] == ['search', 'export_genotype']
    assert cfg.model.neck.type == 'NASFPNNeck'
    search = dict(normalize_phases(cfg))['search']['train_cfg']
    assert search['evaluator']['type'] == 'ProxyTrainEvaluator'
    assert search['strategy']['type'] == 'ReinforceController'

    cfg = load_config(parse_args([child, '--cfg-options', 'train_cfg.max_iters=7']))
    assert [n for n, _ in normalize_phases(cfg)] == ['train', 'search', 'export_genotype']
    assert cfg.model.neck.type == 'NASFPNSupernet' and 'genotype' not in cfg.model.neck
    assert cfg.custom_hooks[0]['type'] == 'UniformSamplingHook'
    assert cfg.train_cfg.max_iters == 7  # the command line wins over the child's 300
    assert cfg.train_cfg.val_interval == 300
    search = dict(normalize_phases(cfg))['search']['train_cfg']
    assert search['evaluator']['type'] == 'SupernetEvaluator'
    assert search['strategy']['type'] == 'GeneticAlgorithm'
    # the default work dir is the config's name
    assert cfg.work_dir == osp.join('work_dirs', 'retinanet_r18_nasfpn-supernet_search_digits')
    # the easy-digits pair: the same two searches over the easy config
    easy = Config.fromfile(osp.join(ROOT, 'configs/nasfpn/'
                                    'retinanet_r18_nasfpn-supernet_search_digits-easy.py'))
    assert easy.model.neck.type == 'NASFPNSupernet'
    assert easy.train_dataloader.dataset.data_root == 'data/digits_det_easy/'
    assert dict(normalize_phases(easy))['search']['train_cfg']['strategy']['population'] == 6


def test_removed_variant_switch_names_the_child_configs(tmp_path):
    """`--cfg-options variant=NAME` and a config holding `variants` end in one line that
    names the child config(s) replacing them; a config dumped by an old run (its record
    `variant` key, no `variants`) still loads."""
    from nas_det.engine.launch import load_config, parse_args
    search = osp.join(ROOT, 'configs/nasfpn/retinanet_r18_nasfpn_search_digits.py')
    with pytest.raises(ValueError, match=r"^--cfg-options variant=oneshot: removed; use the "
                                         r"child config configs/nasfpn/retinanet_r18_nasfpn-"
                                         r"supernet_search_digits.py$"):
        load_config(parse_args([search, '--cfg-options', 'variant=oneshot']))
    easy = osp.join(ROOT, 'configs/nasfpn/retinanet_r18_nasfpn_search_digits-easy.py')
    with pytest.raises(ValueError, match=r"child config configs/nasfpn/retinanet_r18_nasfpn-"
                                         r"supernet_search_digits-easy.py$"):
        load_config(parse_args([easy, '--cfg-options', 'variant=oneshot']))
    plain = osp.join(ROOT, 'configs/nasfpn/retinanet_r18_nasfpn_digits.py')
    with pytest.raises(ValueError, match=r"variant=controller: removed; a variant is a child "
                                         r"config .*supernet_search_digits.py \(oneshot\)$"):
        load_config(parse_args([plain, '--cfg-options', 'variant=controller']))
    old = tmp_path / 'old_style.py'
    old.write_text(f"_base_ = {plain!r}\nvariant = 'a'\n"
                   "variants = dict(a=dict(), b=dict(train_cfg=dict(max_iters=3)))\n")
    with pytest.raises(ValueError, match=r"^variants: removed; write each variant as a child "
                                         r"config .*: use the child configs configs/nasfpn/"):
        load_config(parse_args([str(old)]))
    dumped = tmp_path / 'dumped.py'
    dumped.write_text(f"_base_ = {search!r}\nvariant = 'controller'\n")
    assert load_config(parse_args([str(dumped)])).phases[0]['type'] == 'search'


@pytest.mark.slow
def test_compare_tool_searches_retrains_and_reuses_finished_jobs(tmp_path):
    """bench/nasfpn_compare.py (the README's controller / one-shot / FPN comparison), cut
    to one controller child of 2 iterations and retrains of 2 iterations, on a detection
    set it builds under tmp_path: it runs the search and both retrains and prints the table
    and the means; a rerun reuses them, and a run in a fresh work dir prints the same."""
    from mmdet.models.backbones import ResNet

    from conftest import run_tool
    bb = ResNet(depth=18, base_channels=32, out_indices=(3, ))
    ckpt = str(tmp_path / 'r18.pth')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in bb.state_dict().items()}},
               ckpt)
    data = tmp_path / 'easy'

    def args(wd):
        return ['bench/nasfpn_compare.py', '--seeds', '0', '--modes', 'controller', 'fpn',
                '--retrain-iters', '2', '--jobs', '2', '--backbone', ckpt,
                '--data-root', str(data), '--work-dir', str(tmp_path / wd),
                '--controller-options', 'controller_search.max_trials=1',
                'controller_search.evaluator.train_iters=2',
                'controller_search.evaluator.num_val_images=4']

    def table(out):
        return [ln.split() for ln in out.splitlines()
                if ln.startswith(('controller ', 'fpn ')) and 'retrained' not in ln]

    out = run_tool(args('cmp'), timeout=900)
    assert 'built the easy detection set' in out
    meta = json.load(open(data / 'meta.json'))
    assert (meta['params']['num_train'], meta['params']['num_val']) == (800, 100)
    rows = table(out)
    assert [r[:2] for r in rows] == [['controller', '0'], ['fpn', '0']]
    assert rows[1][2:4] == ['-', '-']     # FPN: no search, no proxy reward
    with open(tmp_path / 'cmp' / 'controller_seed0' / 'search' / 'trials.jsonl') as f:
        trials = [json.loads(line) for line in f]
    assert len(trials) == 1   # max_trials=1
    assert float(rows[0][3]) == pytest.approx(trials[0]['reward'], abs=5e-5)
    for r, mode in zip(rows, ('controller', 'fpn')):   # the printed mAPs are the retrains'
        res = json.load(open(tmp_path / 'cmp' / f'retrain_{mode}_seed0' / 'result.json'))
        assert [float(r[-2]), float(r[-1])] == pytest.approx([res['mAP'], res['mAP50']],
                                                             abs=5e-4)
    # neck parameters: the FPN's are mmdet's own count
    from mmdet.models.necks import FPN
    fpn = FPN([32, 64, 128, 256], 64, 5, start_level=1, add_extra_convs='on_input')
    assert int(rows[1][4].replace(',', '')) == sum(p.numel() for p in fpn.parameters())
    assert 'retrained mAP over 1 seed(s)' in out
    assert not osp.exists(tmp_path / 'cmp' / 'pretrain')   # --backbone given: no pretraining
    # a rerun in the same work dir reuses every finished job (and the data set)
    again = run_tool(args('cmp'), timeout=300)
    assert table(again) == rows and 'built the easy detection set' not in again
    # a real rerun, in a fresh work dir: the same search and retrains (the wall time aside)
    fresh = table(run_tool(args('cmp2'), timeout=900))
    drop_time = lambda rs: [r[:2] + r[3:] for r in rs]  # noqa: E731
    assert drop_time(fresh) == drop_time(rows)


def test_phases_read_search_settings_by_name(tmp_path):
    """A phase's train_cfg / model may name a top-level dict: a config that inherits a
    search config then changes the search by overriding that dict (an inline
    dict(**search_cfg) was expanded when the base was read); a bad name is refused."""
    from mmengine.config import Config

    from nas_det.engine.launch.phases import normalize_phases
    child = tmp_path / 'child.py'
    base = osp.join(ROOT, 'configs/detnas/retinanet_detnas-shufflenet-300M_search_digits.py')
    child.write_text(f'_base_ = {base!r}\n'
                     'search_cfg = dict(max_flops=123e6, strategy=dict(generations=2))\n')
    search = dict(normalize_phases(Config.fromfile(str(child))))['search']
    assert search['train_cfg']['max_flops'] == 123e6 and search['train_cfg']['_delete_']
    assert search['train_cfg']['strategy']['generations'] == 2
    assert search['train_cfg']['strategy']['population'] == 10   # the rest inherited
    assert search['model'] == dict(test_cfg=dict(score_thr=0.001))
    coco = Config.fromfile(osp.join(ROOT, 'configs/detnas/'
                                    'retinanet_detnas-shufflenet-1.3G_search_coco.py'))
    search = dict(normalize_phases(coco))['search']
    assert search['train_cfg']['max_flops'] == 1.3e9
    assert search['model']['backbone']['norm_cfg']['requires_grad']   # model= by name
    # the command line reaches the search through the name, and is told so otherwise
    from nas_det.engine.launch import load_config, parse_args
    nasfpn = osp.join(ROOT, 'configs/nasfpn/retinanet_r18_nasfpn_search_digits.py')
    cfg = load_config(parse_args([nasfpn, '--cfg-options', 'controller_search.max_trials=2']))
    assert dict(normalize_phases(cfg))['search']['train_cfg']['max_trials'] == 2
    with pytest.raises(ValueError, match=r"phases.0.train_cfg.max_trials: phases\[0\].train_cfg "
                                         r"names the top-level 'controller_search'; set "
                                         r"controller_search.max_trials instead"):
        load_config(parse_args([nasfpn, '--cfg-options', 'phases.0.train_cfg.max_trials=2']))
    bad = Config(dict(phases=[dict(type='search', train_cfg='serach_cfg')]))
    with pytest.raises(ValueError, match=r"phases\[0\].train_cfg: 'serach_cfg' names no "
                                         r"top-level dict"):
        normalize_phases(bad)
