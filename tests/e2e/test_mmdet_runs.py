"""Real mmdet runs on the embedded data: plain training through our entry point and
mmdet's own tools/train.py, a run killed and resumed on current torch."""
import os.path as osp

import pytest
import torch

from conftest import ROOT, kill_when, run_tool

pytestmark = pytest.mark.slow
CONFIG = osp.join(ROOT, 'configs/baseline/retinanet_r18_fpn_digits.py')
SUPERNET = osp.join(ROOT, 'configs/detnas/retinanet_detnas-shufflenet-300M-supernet_fpn_digits.py')


def _opts(data, max_iters, extra=()):
    return ['--cfg-options', f'train_dataloader.dataset.data_root={data}/',
            f'val_dataloader.dataset.data_root={data}/',
            f'val_evaluator.ann_file={data}/annotations/instances_val.json',
            'train_dataloader.batch_size=2', 'val_dataloader.batch_size=4',
            f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={max_iters}',
            'default_hooks.checkpoint.interval=2', 'default_hooks.checkpoint.max_keep_ckpts=10',
            'default_hooks.logger.interval=1', *extra]


def _params(path):
    sd = torch.load(path, weights_only=True)['state_dict']  # also proves the safe format
    return {k: v for k, v in sd.items()}


@pytest.mark.parametrize('config', [CONFIG, SUPERNET], ids=['resnet18', 'detnas_supernet'])
def test_killed_run_resumes_to_the_same_weights(tiny_det_data, tmp_path, config):
    # the supernet run also resumes its path sampler: the same paths, the same weights
    full, cut = str(tmp_path / 'full'), str(tmp_path / 'cut')
    run_tool(['tools/search.py', config, '--work-dir', full, *_opts(tiny_det_data, 6)])
    # the same run, killed (SIGKILL) as soon as its first checkpoint is recorded
    marker = osp.join(cut, 'last_checkpoint')
    kill_when(['tools/search.py', config, '--work-dir', cut, *_opts(tiny_det_data, 6)],
              lambda: osp.exists(marker))
    assert not osp.exists(osp.join(cut, 'iter_6.pth')), 'the run finished before it was killed'
    out = run_tool(['tools/search.py', config, '--work-dir', cut, '--resume',
                    *_opts(tiny_det_data, 6)])
    assert 'resumed' in out.lower() or 'Advance dataloader' in out
    a, b = _params(osp.join(full, 'iter_6.pth')), _params(osp.join(cut, 'iter_6.pth'))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_mmdet_own_train_tool_with_custom_imports(tiny_det_data, tmp_path):
    import mmdet
    train = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'train.py')
    if not osp.isfile(train):
        pytest.skip('this mmdet wheel ships no tools/train.py')
    wd = str(tmp_path / 'wd')
    out = run_tool([train, CONFIG, '--work-dir', wd, *_opts(tiny_det_data, 2)])
    assert osp.isfile(osp.join(wd, 'iter_2.pth')), out[-2000:]
    # and load_from that checkpoint in a second run (safe load of our format)
    run_tool([train, CONFIG, '--work-dir', str(tmp_path / 'wd2'),
              *_opts(tiny_det_data, 2, [f'load_from={wd}/iter_2.pth'])])
