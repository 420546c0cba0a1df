"""DetNAS searches on images held out of the training set, never on val: the split phase,
the digits and COCO search configs that use it, and the demo's retrain comparison."""
import json
import math
import os.path as osp
import subprocess
import sys

import pytest

from conftest import ROOT, run_tool

DETNAS = osp.join(ROOT, 'configs/detnas')
DIGITS = osp.join(DETNAS, 'retinanet_detnas-shufflenet-300M_search_digits.py')
COCO = [osp.join(DETNAS, f) for f in (
    'retinanet_detnas-shufflenet-300M_search_coco.py',
    'retinanet_detnas-shufflenet-1.3G_search_coco.py',
    'faster-rcnn_detnas-shufflenet-300M_search_coco.py',
    'faster-rcnn_detnas-shufflenet-1.3G_search_coco.py')]


def phase_configs(path, options=None):
    """``{phase name: the config that phase runs}``, as tools/search.py builds them."""
    pytest.importorskip('mmdet')
    from mmengine.config import Config

    import nas_det  # noqa: F401  registers the phases
    from nas_det.engine.launch.phases import normalize_phases, phase_config
    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(options)
    return cfg, {name: phase_config(cfg, over, f'/tmp/{name}')
                 for name, over in normalize_phases(cfg)}


@pytest.mark.parametrize('path', [DIGITS, *COCO], ids=osp.basename)
def test_search_configs_score_on_heldout_training_images(path):
    from nas_det.engine.launch.checks import check_val_annotations
    from nas_det.engine.launch.split_phase import heldout_paths
    cfg, phases = phase_configs(path)
    assert list(phases) == ['split', 'train', 'search', 'export']
    files = heldout_paths(cfg.heldout_split.to_dict())
    root = cfg.train_dataloader.dataset.data_root
    train = cfg.train_dataloader.dataset
    assert files['ann_file'] == osp.join(root, train.ann_file)  # the split of train
    assert files['heldout'] != files['rest']
    expected_n = 5000 if 'coco' in osp.basename(path) else 100
    assert cfg.heldout_split.num_images == expected_n
    for name in ('train', 'search'):
        p = phases[name]
        # the supernet (and BN re-estimation) on the rest, the score on the held-out part
        assert osp.join(p.train_dataloader.dataset.data_root,
                        p.train_dataloader.dataset.ann_file) == files['rest']
        val = p.val_dataloader.dataset
        assert osp.join(val.data_root, val.ann_file) == files['heldout']
        assert val.data_prefix.img == train.data_prefix.img  # held-out images are train images
        assert p.val_evaluator.ann_file == files['heldout']
        check_val_annotations(p)
    # val is only for the exported (retrained) model: the whole training set, then val
    exp = phases['export']
    assert exp.train_dataloader.dataset.ann_file == train.ann_file
    assert 'val' in exp.val_dataloader.dataset.ann_file
    assert exp.val_evaluator.ann_file == osp.join(exp.val_dataloader.dataset.data_root,
                                                  exp.val_dataloader.dataset.ann_file)
    assert 'heldout' not in exp.val_evaluator.ann_file


def test_heldout_settings_change_by_name():
    """A phase names its data (`on_heldout`, ...): a command-line override reaches it."""
    _, phases = phase_configs(DIGITS, {'heldout_evaluator.ann_file': '/d/h.json',
                                       'on_heldout.dataset.ann_file': 'h.json',
                                       'val_dataloader.dataset.data_root': '/d/'})
    search = phases['search']
    assert search.val_evaluator.ann_file == '/d/h.json'
    assert search.val_dataloader.dataset.ann_file == 'h.json'
    assert search.val_dataloader.dataset.data_root == '/d/'


def test_val_metric_of_another_set_is_refused():
    from nas_det.engine.launch.checks import check_val_annotations
    _, phases = phase_configs(DIGITS, {'heldout_evaluator.ann_file':
                                       'data/digits_det/annotations/instances_val.json'})
    with pytest.raises(ValueError, match="phase 'search': val_evaluator.ann_file: .*"
                                         'instances_val.json is not the annotation file of '
                                         'val_dataloader.dataset'):
        check_val_annotations(phases['search'], "phase 'search': ")


def test_bad_heldout_split_is_refused():
    from nas_det.engine.launch.split_phase import heldout_paths
    with pytest.raises(ValueError, match=r'heldout_split.n_images: not a key .* allowed keys'):
        heldout_paths(dict(ann_file='a.json', heldout='h.json', rest='r.json', n_images=3))
    with pytest.raises(ValueError, match='heldout_split.rest: a file path is expected'):
        heldout_paths(dict(ann_file='a.json', heldout='h.json'))
    with pytest.raises(ValueError, match='heldout_split: a dict'):
        heldout_paths(None)


def test_split_phase_writes_disjoint_parts_that_cover_train(tiny_det_data, tmp_path):
    from nas_det.engine.launch.phases import PhaseContext
    from nas_det.engine.launch.split_phase import split_phase
    cfg, phases = phase_configs(DIGITS, {'heldout_split.data_root': f'{tiny_det_data}/',
                                         'heldout_split.num_images': 5})
    out = split_phase(phases['split'], PhaseContext(work_dir=str(tmp_path)))
    assert out['heldout_images'] == 5 and out['rest_images'] == 11
    ann = osp.join(tiny_det_data, 'annotations')
    src, held, rest = (json.load(open(osp.join(ann, f))) for f in (
        'instances_train.json', 'instances_train_search-heldout.json',
        'instances_train_search-rest.json'))
    h, r = {i['id'] for i in held['images']}, {i['id'] for i in rest['images']}
    assert not h & r and h | r == {i['id'] for i in src['images']}
    assert sorted(a['id'] for a in held['annotations'] + rest['annotations']) == \
        sorted(a['id'] for a in src['annotations'])
    assert held['categories'] == src['categories'] == rest['categories']
    # the mmdet dataset of the search phase reads the held-out part
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    register_all_modules()
    ds_cfg = phases['search'].val_dataloader.dataset.to_dict()
    ds_cfg['data_root'] = f'{tiny_det_data}/'
    assert len(DATASETS.build(ds_cfg)) == 5


@pytest.mark.slow
def test_demo_tiny_retrains_best_and_random_paths(tmp_path):
    wd = str(tmp_path / 'demo')
    out = run_tool(['bench/detnas_demo.py', '--tiny', '--work-dir', wd], timeout=900)
    assert 'best path    (2 seeds): val mAP' in out
    assert 'random paths (1 paths x 2 seeds): val mAP' in out
    assert 'separated from the random paths beyond the noise' in out
    with open(osp.join(wd, 'demo_summary.json')) as f:
        summary = json.load(f)
    runs = summary['results']
    assert [(r['label'], r['seed']) for r in runs] == [('best', 0), ('best', 1),
                                                       ('random1', 0), ('random1', 1)]
    assert all(0 <= r['mAP'] <= 1 and r['iters'] == 2 for r in runs)
    # the supernet was pre-trained on classification and loaded by the search's training;
    # every retrain pre-trained its own path from random init (its seed) and loaded that
    with open(osp.join(wd, 'pretrain', 'supernet.json')) as f:
        assert json.load(f)['iters'] == 4
    assert 'load backbone. in model from: ' + osp.join(wd, 'pretrain', 'supernet.pth') in out
    for r in runs:
        assert r['pretrain']['iters'] == 2 and r['pretrain']['seed'] == r['seed']
        assert r['pretrain']['genotype'] == r['genotype']
        rwd = osp.join(wd, 'retrain', f'{r["label"]}_seed{r["seed"]}')
        with open(osp.join(wd, 'retrain', 'configs', f'{r["label"]}_seed{r["seed"]}.py')) as f:
            assert repr(osp.join(rwd, 'pretrain.pth')) in f.read()
        with open(osp.join(rwd, 'train.log')) as f:
            assert 'load backbone. in model from: ' + osp.join(rwd, 'pretrain.pth') in f.read()
    best_flops, rand_flops = runs[0]['flops'], runs[2]['flops']
    assert runs[0]['genotype'] != runs[2]['genotype']
    assert abs(rand_flops - best_flops) <= 0.1 * best_flops and rand_flops <= 300e6
    # the search read the held-out split: 4 of the 16 training images
    with open(osp.join(wd, 'split', 'phase_done.json')) as f:
        split = json.load(f)
    assert (split['heldout_images'], split['rest_images']) == (4, 12)
    # a rerun reuses every finished part and prints the same comparison; with
    # --rank-paths it then ranks 4 paths spread over the FLOPs range
    again = run_tool(['bench/detnas_demo.py', '--tiny', '--work-dir', wd, '--rank-paths', '4'],
                     timeout=900)
    def table(text):  # the table (header, 4 runs), a blank line and the 3 summary lines
        lines = text.splitlines()
        i = next(i for i, ln in enumerate(lines) if ln.startswith('path '))
        return lines[i:i + 9]
    assert table(out)[-1].startswith('the best path is') and table(again) == table(out)
    assert 'phase \'train\': already finished' in again
    assert 'ceiling (retrained seed vs seed): tau' in again
    assert 'supernet vs retrained (mean of 2 seeds): tau' in again
    with open(osp.join(wd, 'ranking', 'ranking_summary.json')) as f:
        rank = json.load(f)
    assert len(rank['paths']) == 4 and len(rank['results']) == 8
    ops = [set(g.split('] ')[1].replace(' ', '')) for g in rank['paths']]
    assert ops[0] == {'3'} and ops[-1] == {'x'}  # all shuffle3x3 ... all xception3x3
    # a 2-iteration supernet scores every path 0: tau is then undefined (NaN), not made up
    assert all(0 <= r <= 1 for r in rank['supernet'])
    assert math.isnan(rank['tau']) if len(set(rank['supernet'])) == 1 else -1 <= rank['tau'] <= 1
    assert {(r['label'], r['seed']) for r in rank['results']} == {
        (f'rank{i:02d}', s) for i in range(4) for s in (0, 1)}
    # a pre-training made with other settings is not reused
    pre = run_tool(['bench/detnas_demo.py', '--tiny', '--work-dir', wd, '--only-pretrain',
                    '--pretrain-iters', '5'], timeout=300)
    assert 'made with other settings' in pre and 'pre-training again' in pre
    with open(osp.join(wd, 'pretrain', 'supernet.json')) as f:
        assert json.load(f)['iters'] == 5


@pytest.mark.slow
def test_demo_refuses_one_seed():
    p = subprocess.run([sys.executable, 'bench/detnas_demo.py', '--seeds', '0'], cwd=ROOT,
                       capture_output=True, text=True)
    assert p.returncode == 2 and '--seeds: at least 2 seeds' in p.stderr
    p = subprocess.run([sys.executable, 'bench/detnas_demo.py', '--rank-paths', '2'], cwd=ROOT,
                       capture_output=True, text=True)
    assert p.returncode == 2 and '--rank-paths: at least 4 paths' in p.stderr


def test_phase_config_can_be_built_twice():
    """The dry check builds every phase's config before the run builds it again: the
    search phase's train_cfg must replace the training loop's both times."""
    from mmengine.config import Config

    from nas_det.engine.launch.phases import normalize_phases, phase_config
    pytest.importorskip('mmdet')
    cfg = Config.fromfile(DIGITS)
    over = dict(normalize_phases(cfg))['search']
    first, second = (phase_config(cfg, over, '/tmp/s') for _ in range(2))
    assert first.train_cfg == second.train_cfg and 'max_iters' not in second.train_cfg
    assert second.train_cfg.type == 'SearchLoop'
