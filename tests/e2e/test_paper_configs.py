"""Every paper-scale config runs: built as shipped (backbone and neck widths untouched),
its data pointed at the embedded digits by a child config written here, its schedule cut
by ``--cfg-options`` from the table below, 2 training iterations (and a 2-candidate
search where it searches) through ``tools/search.py``. A config that rots (a renamed
type, a key the code no longer takes, a phase that no longer chains) fails here without
a GPU.

``CUT`` holds only what makes a run short; nothing of the configs is copied here.
``NAS_DET_PAPER_CONFIGS=name,name`` runs a subset (substring match on the file name).
"""
import json
import os
import os.path as osp
import time

import pytest

from conftest import ROOT, run_tool

pytestmark = pytest.mark.slow

# the heldout split of the digits' 16 training images: 4 scored, 12 to train on
DET_SPLIT = 4
SEARCH_PHASE_2 = {  # a controller / evolution search with 2 children of 2 iterations
    'max_trials': 2, 'evaluator.train_iters': 2, 'evaluator.warmup_iters': 0,
    'evaluator.num_val_images': 4, 'evaluator.batch_size': 2, 'evaluator.val_batch_size': 2,
    'evaluator.log_interval': 0}
DETNAS_SEARCH_2 = {  # the DetNAS GA: 2 random paths, one generation
    'search_cfg.strategy.population': 2, 'search_cfg.strategy.top_k': 1,
    'search_cfg.strategy.num_mutation': 0, 'search_cfg.strategy.num_crossover': 0,
    'search_cfg.strategy.generations': 1, 'search_cfg.evaluator.bn_batches': 1,
    'search_cfg.evaluator.num_val_images': 4}


def prefixed(prefix, d):
    return {f'{prefix}.{k}': v for k, v in d.items()}


# config -> (data: 'det' | 'cls', cut settings for --cfg-options, image size for cls)
CUT = {
    # DetNAS (COCO: supernet fine-tuning, search, export; ImageNet / CIFAR: supernet)
    'detnas/retinanet_detnas-shufflenet-300M-supernet_fpn_coco.py':
        ('det', {'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2}),
    'detnas/faster-rcnn_detnas-shufflenet-300M-supernet_fpn_coco.py':
        ('det', {'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2}),
    'detnas/retinanet_detnas-shufflenet-300M_search_coco.py':
        ('det', {'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2, **DETNAS_SEARCH_2}),
    'detnas/retinanet_detnas-shufflenet-1.3G_search_coco.py':
        ('det', {'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2, **DETNAS_SEARCH_2}),
    'detnas/faster-rcnn_detnas-shufflenet-300M_search_coco.py':
        ('det', {'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2, **DETNAS_SEARCH_2}),
    'detnas/faster-rcnn_detnas-shufflenet-1.3G_search_coco.py':
        ('det', {'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2, **DETNAS_SEARCH_2}),
    'detnas/shufflenet-300M-supernet_imagenet-cls.py':
        ('cls', {'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2}, 224),
    'detnas/shufflenet-1.3G-supernet_imagenet-cls.py':
        ('cls', {'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2}, 224),
    'detnas/shufflenet-300M-supernet_cifar10-cls.py':
        ('cls', {'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2}, 64),
    # NAS-FPN
    'nasfpn/retinanet_r10_nasfpn_search_coco.py':
        ('det', {**prefixed('controller_search', SEARCH_PHASE_2),
                 'controller_search.strategy.batch_size': 1}),  # 2 PPO updates
    'nasfpn/retinanet_r10_nasfpn-supernet_search_coco.py':
        ('det', {'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2,
                 'oneshot_search.strategy.population': 2, 'oneshot_search.strategy.top_k': 1,
                 'oneshot_search.strategy.num_mutation': 0,
                 'oneshot_search.strategy.num_crossover': 0,
                 'oneshot_search.strategy.generations': 1,
                 'oneshot_search.evaluator.bn_batches': 1,
                 'oneshot_search.evaluator.num_val_images': 4}),
    'nasfpn/retinanet_r10_nasfpn_proxy-512_coco.py':
        ('det', {'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1}),
    'nasfpn/retinanet_r50_nasfpn-published_crop640-50e_coco.py':
        ('det', {'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1}),
    # cells: the CIFAR-10 searches and the final networks
    'cells/cells_search_cifar10-cls.py':
        ('cls', {**prefixed('train_cfg', SEARCH_PHASE_2),
                 'train_cfg.strategy.population': 2, 'train_cfg.strategy.sample_size': 1,
                 'train_cfg.strategy.batch_size': 1}, 32),
    'cells/cells_search_cifar10-cls_nasnet.py':
        ('cls', {**prefixed('train_cfg', SEARCH_PHASE_2),
                 'train_cfg.strategy.batch_size': 1}, 32),  # 2 PPO updates
    'cells/cells_search_cifar10-cls_pnas.py':
        # PNAS has a cell of the searched size only after one child per block (5 blocks)
        ('cls', {**prefixed('train_cfg', SEARCH_PHASE_2), 'train_cfg.max_trials': 5,
                 'train_cfg.strategy.beam': 1, 'train_cfg.strategy.max_candidates': 8}, 32),
    'cells/nasnet-a_cifar10-cls.py':
        ('cls', {'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2}, 32),
    'cells/amoebanet-a_cifar10-cls.py':
        ('cls', {'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2}, 32),
    'cells/pnasnet-5_cifar10-cls.py':
        ('cls', {'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2}, 32),
    'cells/nasnet-a-mobile_imagenet-cls.py':
        ('cls', {'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2}, 224),
    'cells/retinanet_nasnet-a-mobile_fpn_coco.py':
        ('det', {'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2}),
    # MorphNet: regularized training, then shrink / expand to the original's FLOPs
    'morphnet/retinanet_r50_morphnet_fpn_1x_coco.py':
        ('det', {'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1,
                 'optim_wrapper.morphnet.warmup_iters': 0}),
}

DET_CHILD = '''_base_ = {config!r}
_digits = {data!r}
_digit_classes = tuple(str(i) for i in range(10))
# the first 4 training images: 2 iterations of batch 2 per epoch
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(
    data_root=_digits, metainfo=dict(classes=_digit_classes), indices=4,
    ann_file='annotations/instances_train.json', data_prefix=dict(img='train/')))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(
    data_root=_digits, metainfo=dict(classes=_digit_classes), indices=4,
    ann_file='annotations/instances_val.json', data_prefix=dict(img='val/')))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=_digits + 'annotations/instances_val.json')
test_evaluator = val_evaluator
_heldout = 'annotations/instances_train_search-heldout.json'
_rest = 'annotations/instances_train_search-rest.json'
heldout_split = dict(data_root=_digits, ann_file='annotations/instances_train.json',
                     heldout=_heldout, rest=_rest, num_images={split})
on_train_rest = dict(dataset=dict(ann_file=_rest, indices=None))
on_heldout = dict(dataset=dict(ann_file=_heldout, data_prefix=dict(img='train/'),
                               indices=None))
heldout_evaluator = dict(ann_file=_digits + _heldout)
default_hooks = dict(logger=dict(interval=1))
'''

CLS_CHILD = '''_base_ = {config!r}
_digits = {data!r}
_pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=({size}, {size})),
             dict(type='PackInputs')]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(
    _delete_=True, type='CustomDataset', data_root=_digits, ann_file='meta/train.txt',
    data_prefix='train', indices=8, pipeline=_pipeline))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(
    _delete_=True, type='CustomDataset', data_root=_digits, ann_file='meta/val.txt',
    data_prefix='val', test_mode=True, indices=4, pipeline=_pipeline))
test_dataloader = val_dataloader
default_hooks = dict(logger=dict(interval=1))
'''


def selected():
    only = [s for s in os.environ.get('NAS_DET_PAPER_CONFIGS', '').split(',') if s]
    return [c for c in CUT if not only or any(s in c for s in only)]


@pytest.fixture(scope='module')
def tiny_cls_data(tmp_path_factory):
    from nas_det.data import make_classification_set
    out = tmp_path_factory.mktemp('digits_cls')
    make_classification_set(out, num_train=20, num_val=10, seed=0)
    return str(out)


def option(k, v):
    return f'{k}={json.dumps(v) if isinstance(v, str) else v}'


def test_every_paper_config_is_in_the_table():
    """A new *_coco / *_cifar10 / *_imagenet config must get a row here."""
    shipped = sorted(
        f'{fam}/{f}' for fam in ('detnas', 'nasfpn', 'cells', 'morphnet')
        for f in os.listdir(osp.join(ROOT, 'configs', fam))
        if f.endswith('.py') and any(k in f for k in ('_coco', 'cifar10', 'imagenet')))
    assert [c for c in shipped if c not in CUT] == []


@pytest.mark.parametrize('config', selected())
def test_paper_config_runs_two_iterations(config, tiny_det_data, tiny_cls_data, tmp_path):
    kind, cut, *size = CUT[config]
    path = osp.join(ROOT, 'configs', config)
    if kind == 'det':  # no ImageNet / supernet weights here: every detector from scratch
        cut = {'model.backbone.init_cfg': None, 'load_from': None, **cut}
        # the digits have 10 classes: a head of COCO's 80 predicts labels the metric
        # cannot map to a category
        from mmengine.config import Config
        model = Config.fromfile(path).model
        for head in ('bbox_head', 'roi_head.bbox_head'):
            node = model
            for part in head.split('.'):
                node = node.get(part) if node is not None else None
            if node is not None and 'num_classes' in node:
                cut[f'model.{head}.num_classes'] = 10
    if kind == 'det':
        text = DET_CHILD.format(config=path, data=tiny_det_data + '/', split=DET_SPLIT)
    else:
        text = CLS_CHILD.format(config=path, data=tiny_cls_data + '/', size=size[0])
    child = tmp_path / ('cut_' + osp.basename(config))
    child.write_text(text)
    wd = tmp_path / 'wd'
    t0 = time.perf_counter()
    out = run_tool(['tools/search.py', str(child), '--work-dir', str(wd), '--cfg-options',
                    *[option(k, v) for k, v in cut.items()]], timeout=1800)
    seconds = time.perf_counter() - t0
    assert '[nas_det] done' in out
    logs = [osp.join(r, f) for r, _, fs in os.walk(wd) for f in fs if f.endswith('.log')]
    assert logs, f'{config}: no log written under {wd}'
    trials = [osp.join(r, f) for r, _, fs in os.walk(wd) for f in fs if f == 'trials.jsonl']
    if 'search' in config:  # the cut budget evaluated, each with a finite or failed reward
        assert len(trials) == 1, trials
        with open(trials[0]) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        budget = [v for k, v in cut.items() if k.endswith('.max_trials')]
        assert len(rows) == (max(budget) if budget else 2), rows
    print(f'[paper-config] {config}: {seconds:.1f} s')
