"""DetNAS supernet pre-training on classification (mmpretrain) and its hand-over to
detection, and every DetNAS config: parses, builds, names no remote checkpoint."""
import glob
import json
import os.path as osp
import random

import pytest
import torch

from conftest import ROOT, correct_count, run_tool

pytest.importorskip('mmdet')
pytest.importorskip('mmpretrain')

DETNAS = osp.join(ROOT, 'configs/detnas')
CLS = osp.join(DETNAS, 'shufflenet-300M-supernet_digits-cls.py')
FROM_CLS = osp.join(DETNAS, 'retinanet_detnas-shufflenet-300M-supernet_fpn_digits-from-cls.py')
CONFIGS = sorted(glob.glob(osp.join(DETNAS, '*.py')))
PAPER_GA = dict(population=50, top_k=10, num_mutation=20, mutation_prob=0.1,
                num_crossover=20, generations=20)


def build_model(cfg):
    """The config's model, built under its default scope (as the Runner does)."""
    import mmdet.registry  # noqa: F401  (the 'mmdet' scope)
    import mmpretrain.registry  # noqa: F401  (the 'mmpretrain' scope)
    from mmengine.registry import MODELS, DefaultScope
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmdet')):
        return MODELS.build(cfg.model)


@pytest.fixture(scope='module')
def cls_data(tmp_path_factory):
    from nas_det.data import make_classification_set
    out = tmp_path_factory.mktemp('digits_cls')
    make_classification_set(out, num_train=40, num_val=20)
    return str(out)


def test_detnas_configs_exist():
    names = {osp.basename(p) for p in CONFIGS}
    for n in ['shufflenet-300M-supernet_digits-cls.py', 'shufflenet-300M-supernet_imagenet-cls.py',
              'shufflenet-300M-supernet_cifar10-cls.py', osp.basename(FROM_CLS),
              'retinanet_detnas-shufflenet-300M-supernet_fpn_coco.py',
              'faster-rcnn_detnas-shufflenet-300M-supernet_fpn_coco.py',
              'retinanet_detnas-shufflenet-300M_search_coco.py',
              'retinanet_detnas-shufflenet-1.3G_search_coco.py']:
        assert n in names


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_parses_builds_and_stays_offline(path):
    from mmengine.config import Config
    from nas_det.engine.launch.offline import find_remote_checkpoints
    from nas_det.engine.launch.phases import normalize_phases, phase_config
    cfg = Config.fromfile(path)
    assert find_remote_checkpoints(cfg._cfg_dict.to_dict()) == []
    assert cfg.custom_imports['imports'] == ['nas_det']
    model = build_model(cfg)
    backbone = model.backbone
    if 'neck' in cfg.model and 'in_channels' in cfg.model.neck:  # detectors
        assert list(cfg.model.neck.in_channels) == backbone.out_channels
    if cfg.model.type == 'ImageClassifier':
        assert cfg.default_scope == 'mmpretrain'
        assert cfg.model.head.in_channels == backbone.out_channels[-1] == 1024
        backbone.set_choices(backbone.search_space.sample(random.Random(0)))
        model.eval()
        with torch.no_grad():
            logits = model(torch.rand(1, 3, 64, 64), mode='tensor')
        assert logits.shape == (1, cfg.model.head.num_classes)
    init = cfg.model.backbone.get('init_cfg') or {}
    if init.get('type') == 'Pretrained':  # a local file, the prefix of a classifier's keys
        assert init['prefix'] == 'backbone.' and init['checkpoint'].startswith('work_dirs/')
    for name, over in normalize_phases(cfg):  # the phases' overrides merge
        pcfg = phase_config(cfg, over, '/tmp/unused')
        if name == 'search':
            assert pcfg.train_cfg.type == 'SearchLoop'
            assert pcfg.model.backbone.type == cfg.model.backbone.type


@pytest.mark.parametrize('path', [p for p in CONFIGS if p.endswith('_search_coco.py')],
                         ids=osp.basename)
def test_coco_search_configs_have_the_paper_settings(path):
    from mmengine.config import Config
    from nas_det.engine.launch.phases import normalize_phases, phase_config
    cfg = Config.fromfile(path)
    arch = cfg.model.backbone.arch
    assert arch in osp.basename(path)
    phases = normalize_phases(cfg)
    assert [n for n, _ in phases] == ['split', 'train', 'search', 'export']
    search = phase_config(cfg, phases[2][1], '/tmp/unused')
    assert search.load_from == 'previous'
    assert search.train_cfg.max_flops == {'300M': 300e6, '1.3G': 1.3e9}[arch]
    assert tuple(search.train_cfg.cost_input_shape) == (3, 224, 224)
    assert {k: search.train_cfg.strategy[k] for k in PAPER_GA} == PAPER_GA
    assert search.train_cfg.evaluator.bn_mode == 'recalibrate'
    # the supernet trains with SyncBN; each rank searches its own paths with plain BN
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN'
    assert search.model.backbone.norm_cfg.type == 'BN'
    assert cfg.train_cfg.max_iters == 90000 and cfg.train_dataloader.batch_size == 2
    lr = {'RetinaNet': 0.01, 'FasterRCNN': 0.02}[cfg.model.type]
    assert cfg.optim_wrapper.optimizer.lr == lr
    assert cfg.model.backbone.init_cfg.checkpoint.endswith(
        f'shufflenet-{arch}-supernet_imagenet-cls/iter_300000.pth')


def test_cifar10_never_downloads(tmp_path):
    import mmpretrain.registry  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import DATASETS, DefaultScope
    cfg = Config.fromfile(osp.join(DETNAS, 'shufflenet-300M-supernet_cifar10-cls.py'))
    for dl in (cfg.train_dataloader, cfg.val_dataloader):
        assert dl.dataset.download is False
    ds = dict(cfg.train_dataloader.dataset, data_root=str(tmp_path))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        with pytest.raises(RuntimeError, match='Cannot find CIFAR10 dataset'):
            DATASETS.build(ds).full_init()
    assert list(tmp_path.iterdir()) == []  # nothing fetched


def test_from_cls_config_points_at_the_cls_run():
    from mmengine.config import Config
    cls_cfg, det_cfg = Config.fromfile(CLS), Config.fromfile(FROM_CLS)
    name = osp.splitext(osp.basename(CLS))[0]
    ckpt = f'work_dirs/{name}/iter_{cls_cfg.train_cfg.max_iters}.pth'
    assert cls_cfg.default_hooks.checkpoint.interval == cls_cfg.train_cfg.max_iters
    assert det_cfg.model.backbone.init_cfg.checkpoint == ckpt
    search = Config.fromfile(osp.join(DETNAS, 'retinanet_detnas-shufflenet-300M_search_digits'
                                              '-from-cls.py'))
    assert search.model.backbone.init_cfg == det_cfg.model.backbone.init_cfg


@pytest.mark.slow
def test_cls_pretraining_initialises_the_detection_supernet(cls_data, tmp_path):
    from mmengine.config import Config
    wd = str(tmp_path / 'cls')
    run_tool(['tools/search.py', CLS, '--work-dir', wd, '--cfg-options',
              f'train_dataloader.dataset.data_root={cls_data}',
              f'val_dataloader.dataset.data_root={cls_data}',
              'train_dataloader.batch_size=8', 'val_dataloader.batch_size=10',
              'train_cfg.max_iters=3', 'train_cfg.val_interval=3',
              'default_hooks.checkpoint.interval=3', 'default_hooks.logger.interval=1',
              'custom_hooks.0.log_paths=True',
              # the config's warm start trains one fixed path first: sampling from step 1
              'custom_hooks.0.warmup_path=None', 'custom_hooks.0.warmup_iters=0',
              'custom_hooks.0.op_curriculum=None', 'custom_hooks.0.ramp_iters=0'])
    ckpt = osp.join(wd, 'iter_3.pth')
    assert osp.isfile(ckpt)
    # one uniformly sampled path per iteration, under mmpretrain's classifier
    with open(osp.join(wd, 'sampled_paths.rank0.jsonl')) as f:
        paths = [json.loads(line)['paths'] for line in f]
    assert len(paths) == 3 and len({str(p) for p in paths}) == 3
    # validation accuracy logged
    scalars = glob.glob(osp.join(wd, '*', 'vis_data', 'scalars.json'))
    assert len(scalars) == 1
    with open(scalars[0]) as f:
        records = [json.loads(line) for line in f]
    acc = [r['accuracy/top1'] for r in records if 'accuracy/top1' in r]
    assert len(acc) == 1 and correct_count(acc[0], 20) is not None  # of the 20 val images

    state = torch.load(ckpt, map_location='cpu', weights_only=True)['state_dict']
    cls_backbone = {k[len('backbone.'):]: v for k, v in state.items()
                    if k.startswith('backbone.')}
    extra = {k for k in cls_backbone if k.startswith('last_conv.')}
    assert extra and any(k.startswith('head.') for k in state)

    cfg = Config.fromfile(FROM_CLS)
    cfg.model.backbone.init_cfg.checkpoint = ckpt
    model = build_model(cfg)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    model.init_weights()
    det_backbone = model.backbone.state_dict()
    # every detection backbone tensor comes from the classifier; only its last conv is left
    assert set(det_backbone) == set(cls_backbone) - extra
    for k, v in det_backbone.items():
        assert torch.equal(v, cls_backbone[k]), k
    trained = [k for k in det_backbone if k.endswith('running_mean')
               and not torch.equal(det_backbone[k], before[k])]
    assert trained  # BN statistics of the trained paths, not a fresh init


@pytest.mark.slow
def test_supernet_cls_bench_runs_every_sampling_and_repeats(cls_data):
    """bench/supernet_cls.py (the probe behind the README's DetNAS status table) trains
    with every sampling mode and, on one thread, prints the same figures twice."""
    args = ['bench/supernet_cls.py', '--data', cls_data, '--iters', '2', '--batch-size', '4',
            '--width', '0.25', '--size', '32', '--sampling', 'fixed', 'random', 'same',
            'two', 'fair']
    out = run_tool(args)
    assert 'on ' + cls_data + ': 40 train digits, val on 20;' in out
    lines = [ln.strip() for ln in out.splitlines() if 'val top-1' in ln]
    assert [ln.split(':')[0] for ln in lines] == ['fixed', 'random', 'same', 'two', 'fair']
    for ln in lines:
        acc = float(ln.split('val top-1 ')[1].split('%')[0])
        assert correct_count(acc, 20) is not None  # of the 20 val images
    again = [ln.strip() for ln in run_tool(args).splitlines() if 'val top-1' in ln]
    strip_time = lambda ls: [ln.rsplit(' (', 1)[0] for ln in ls]  # noqa: E731
    assert strip_time(again) == strip_time(lines)
    out = run_tool(['bench/supernet_cls.py', '--data', cls_data, '--iters', '1',
                    '--batch-size', '2', '--width', '0.25', '--size', '32', '--no-bn-affine',
                    '--sampling', 'random'])
    assert 'BN without affine' in out
    # the plain-MNIST control, running statistics of training kept, the other init
    out = run_tool(['bench/supernet_cls.py', '--data', 'mnist', '--iters', '1',
                    '--batch-size', '2', '--width', '0.25', '--size', '32',
                    '--recal-batches', '0', '--init', 'group-fan-out', '--sampling', 'fixed'])
    assert 'on mnist: 4000 train digits, val on 500' in out
    assert 'fixed: 1 iterations' in out
