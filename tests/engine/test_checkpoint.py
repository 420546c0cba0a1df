"""Checkpoints on current torch: safe save format, safe load, refusal of unsafe globals."""
import os
from collections import OrderedDict

import numpy as np
import pytest
import torch

import nas_det  # noqa: F401  (installs the checkpoint handling)
from nas_det.engine.runner import checkpoint as ck


def _hub_like():
    from mmengine.logging import HistoryBuffer
    buf = HistoryBuffer()
    for v in (0.5, 0.25, 0.125):
        buf.update(v)
    return {
        'meta': {'epoch': 1, 'iter': 3, 'dataset_meta': {'classes': ('0', '1')}},
        'state_dict': OrderedDict(w=torch.arange(6.).reshape(2, 3)),
        'message_hub': {'log_scalars': OrderedDict(loss=buf),
                        'runtime_info': {'arr': np.arange(4, dtype=np.int64),
                                         'f': np.float64(2.5), 'names': np.array(['a', 'b'])},
                        'resumed_keys': {'loss': True}},
    }


def test_saved_checkpoint_loads_with_weights_only(tmp_path):
    from mmengine.runner import checkpoint as mm_ckpt
    f = str(tmp_path / 'x.pth')
    mm_ckpt.save_checkpoint(_hub_like(), f)  # the patched saver
    raw = torch.load(f, weights_only=True)  # plain torch, strict: must not raise
    assert raw['message_hub']['log_scalars']['loss'][ck.TAG] == 'HistoryBuffer'
    back = ck.safe_load(f)
    buf = back['message_hub']['log_scalars']['loss']
    from mmengine.logging import HistoryBuffer
    assert isinstance(buf, HistoryBuffer)
    assert buf.data[0].tolist() == [0.5, 0.25, 0.125]
    assert buf.current() == 0.125
    info = back['message_hub']['runtime_info']
    assert isinstance(info['arr'], np.ndarray) and info['arr'].tolist() == [0, 1, 2, 3]
    assert info['arr'].dtype == np.int64
    assert info['f'] == 2.5 and info['names'].tolist() == ['a', 'b']
    assert torch.equal(back['state_dict']['w'], torch.arange(6.).reshape(2, 3))
    assert back['meta']['dataset_meta']['classes'] == ('0', '1')


class Foreign:
    """A global that no safe load allows."""


def test_other_globals_are_refused_outside_trusted_dirs(tmp_path, monkeypatch):
    monkeypatch.delenv('NAS_DET_TRUSTED_DIRS', raising=False)
    f = str(tmp_path / 'foreign.pth')
    torch.save({**_hub_like(), 'x': Foreign()}, f)
    with pytest.raises(ck.UnsafeCheckpointError, match='Foreign'):
        ck.safe_load(f)
    # the mmengine loader (load_from / resume / init_cfg Pretrained) goes through it too
    from mmengine.runner.checkpoint import CheckpointLoader
    with pytest.raises(ck.UnsafeCheckpointError, match='upgrade_checkpoint'):
        CheckpointLoader.load_checkpoint(f)


def test_stock_file_loads_and_trusted_dir_loads_other_globals(tmp_path, monkeypatch):
    monkeypatch.delenv('NAS_DET_TRUSTED_DIRS', raising=False)
    f = str(tmp_path / 'stock.pth')
    torch.save(_hub_like(), f)  # what a plain mmengine run writes: HistoryBuffer, numpy
    back = ck.safe_load(f)
    assert back['message_hub']['log_scalars']['loss'].current() == 0.125
    g = str(tmp_path / 'foreign.pth')
    torch.save({**_hub_like(), 'x': Foreign()}, g)
    monkeypatch.setenv('NAS_DET_TRUSTED_DIRS', str(tmp_path))
    assert isinstance(ck.safe_load(g)['x'], Foreign)


class Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned',))


def test_malicious_pickle_refused(tmp_path, monkeypatch):
    monkeypatch.delenv('NAS_DET_TRUSTED_DIRS', raising=False)
    f = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'x': Evil()}, f)
    with pytest.raises(ck.UnsafeCheckpointError, match='system'):
        ck.safe_load(f)


def test_missing_file_and_offline_url(tmp_path, monkeypatch):
    import socket

    from mmengine.runner.checkpoint import CheckpointLoader
    with pytest.raises(FileNotFoundError):
        CheckpointLoader.load_checkpoint('/nonexistent/x.pth')
    # a URL not in the hub cache, on a local port nobody listens on: the "never downloads"
    # error, not a connection error (no download is tried); the hub cache under tmp_path
    for var in ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy',
                'ALL_PROXY'):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    url = f'http://127.0.0.1:{port}/nas_det_test_missing.pth'
    with pytest.raises(FileNotFoundError, match=r"checkpoint 'http://127\.0\.0\.1:\d+/"
                                                r"nas_det_test_missing\.pth' is not in the "
                                                r"local cache .*nas_det never downloads at "
                                                r"run time"):
        CheckpointLoader.load_checkpoint(url)


def test_check_offline_names_the_key():
    from nas_det.engine.launch.offline import check_offline, find_remote_checkpoints
    cfg = {'model': {'backbone': {'init_cfg': {'type': 'Pretrained',
                                               'checkpoint': 'torchvision://resnet18x'}}},
           'load_from': None}
    assert find_remote_checkpoints(cfg) == [('model.backbone.init_cfg.checkpoint',
                                             'torchvision://resnet18x')]
    with pytest.raises(ValueError, match=r'model\.backbone\.init_cfg\.checkpoint'):
        check_offline(cfg)
    check_offline({'model': {'backbone': {'init_cfg': None}}, 'load_from': '/local/file.pth'})


def test_non_coco_annotation_file_is_refused_early(tmp_path):
    import json
    from nas_det.engine.launch.checks import check_coco_annotation, check_data
    bad = tmp_path / 'labels.json'
    bad.write_text(json.dumps({'img1.jpg': [[0, 0, 10, 10]]}))
    with pytest.raises(ValueError, match=r"val_evaluator\.ann_file: .* lacks the lists "
                                         r"\['images', 'annotations', 'categories'\]"):
        check_coco_annotation(str(bad), 'val_evaluator.ann_file')
    cfg = {'train_dataloader': {'dataset': {'type': 'CocoDataset', 'data_root': str(tmp_path),
                                            'ann_file': 'missing.json'}}}
    with pytest.raises(FileNotFoundError, match=r'train_dataloader\.dataset\.ann_file'):
        check_data(cfg)
    good = tmp_path / 'ok.json'
    good.write_text(json.dumps({'images': [{'id': 1}], 'annotations': [{'bbox': [1, 2, 3, 4]}],
                                'categories': [{'id': 1}]}))
    check_coco_annotation(str(good), 'x')
