"""The DetNAS search with FLOPs as a second objective (NSGA-II) through tools/search.py on
the real digits pipeline: split, supernet training, search, export."""
import json
import os.path as osp

import pytest

from conftest import ROOT, run_tool

CONFIG = osp.join(ROOT, 'configs/detnas/retinanet_detnas-shufflenet-300M_search_digits_nsga2.py')


@pytest.mark.slow
def test_nsga2_detnas_search_reports_an_map_flops_front(tiny_det_data, tmp_path):
    pytest.importorskip('mmdet')
    d = f'{tiny_det_data}/'
    wd = str(tmp_path / 'wd')
    opts = [f'train_dataloader.dataset.data_root={d}', f'val_dataloader.dataset.data_root={d}',
            f'test_dataloader.dataset.data_root={d}',
            f'val_evaluator.ann_file={d}annotations/instances_val.json',
            f'test_evaluator.ann_file={d}annotations/instances_val.json',
            f'heldout_split.data_root={d}', 'heldout_split.num_images=4',
            f'heldout_evaluator.ann_file={d}annotations/instances_train_search-heldout.json',
            'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
            'default_hooks.checkpoint.interval=2', 'train_dataloader.batch_size=2',
            'val_dataloader.batch_size=2', 'search_cfg.strategy.population=4',
            'search_cfg.strategy.generations=2', 'search_cfg.evaluator.bn_batches=1',
            'search_cfg.evaluator.num_val_images=4', 'search_cfg.plot=False']
    run_tool(['tools/search.py', CONFIG, '--work-dir', wd, '--cfg-options', *opts], timeout=900)
    trials = [json.loads(line) for line in open(osp.join(wd, 'search', 'trials.jsonl'))
              if line.strip()]
    assert len(trials) == 8  # 2 generations of 4
    with open(osp.join(wd, 'search', 'pareto.json')) as f:
        front = json.load(f)
    assert front['cost'] == 'flops' and front['trials'] == 8 and front['front']
    # every trial was costed, and no point of the front is dominated by a trial (higher
    # mAP and fewer FLOPs)
    assert all(t['cost']['flops'] > 0 for t in trials)
    for p in front['front']:
        assert not any(t['reward'] > p['reward'] and t['cost']['flops'] < p['flops']
                       for t in trials)
    # NSGA-II's second generation: children of the first, not a second random draw
    keys = [t['key'] for t in trials]
    assert len(set(keys)) == len(keys)
    assert osp.isfile(osp.join(wd, 'export', 'phase_done.json'))
