"""No code runs from data: genotype files, checkpoints (local, in a work dir, behind a URL)
and the tools that read them; and the one-line errors of bad inputs."""
import importlib.util
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest

from conftest import ROOT

PAYLOAD_KEY = "x': __import__('os').system('touch PWNED'), 'y"  # issue 15's genotype payload
DETNAS_SEARCH = osp.join(ROOT, 'configs/detnas/retinanet_detnas-shufflenet-300M_search_digits.py')
NASFPN_TEMPLATE = osp.join(ROOT, 'configs/nasfpn/retinanet_r18_nasfpn_digits.py')
CELL_TEMPLATE = osp.join(ROOT, 'configs/cells/retinanet_nasnet-a-tiny_fpn_digits.py')


class Payload:
    """Unpickling it runs ``touch <path>`` (issue 15's planted ``__reduce__``)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f'touch {self.path}',))


class Harmless:
    """A global no safe load allows, and that runs nothing."""

    def __init__(self):
        self.v = 1


def _save(obj, path):
    import torch
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    torch.save(obj, str(path))
    return str(path)


def _payload_genotype(tmp_path, genotype):
    d = genotype.to_dict()
    d[PAYLOAD_KEY] = 1
    f = tmp_path / 'g.json'
    f.write_text(json.dumps({'genotype': d}))
    return str(f)


# ---- genotypes (pure Python) ------------------------------------------------------
def test_load_genotype_refuses_unknown_keys_with_allowed_keys_named():
    from nas_det.space.loading import genotype_dict, load_genotype
    from nas_det.space.published import DETNAS_300M_RETINANET, NASFPN_7CELL, NASNET_A
    d = DETNAS_300M_RETINANET.to_dict()
    d[PAYLOAD_KEY] = 1
    with pytest.raises(ValueError, match=r"unknown key .*allowed keys: \['ops', 'space', "
                                         r"'stage_blocks', 'version'\]") as e:
        load_genotype({'genotype': d}, 'detnas')
    assert '\n' not in str(e.value)
    nested = NASNET_A.to_dict()
    nested['normal']['evil'] = 1
    with pytest.raises(ValueError, match=r"unknown key 'evil' in 'normal'; allowed keys: "
                                         r"\['blocks', 'concat'\]"):
        load_genotype(nested)
    with pytest.raises(ValueError, match=r"space: 'detnas' is not allowed; allowed values: "
                                         r"\['nasfpn'\]"):
        load_genotype(DETNAS_300M_RETINANET.to_dict(), 'nasfpn')
    # every accepted form gives the same canonical dict
    cells = {'cells': [c.to_dict() for c in NASFPN_7CELL.cells]}
    for form in (NASFPN_7CELL, NASFPN_7CELL.to_dict(), {'genotype': NASFPN_7CELL.to_dict()},
                 cells, 'nasfpn_7cell'):
        assert genotype_dict(form, 'nasfpn') == NASFPN_7CELL.to_dict()


def test_genotype_file_that_is_not_json_is_named(tmp_path):
    from nas_det.space.loading import load_genotype
    bad = tmp_path / 'best_genotype.json'
    bad.write_text('{"genotype": {"space": "detnas" "version": 1}}')
    with pytest.raises(ValueError, match=rf'genotype file {re.escape(str(bad))}: not valid JSON \(line 1, '
                                         r"column \d+: Expecting ',' delimiter\)"):
        load_genotype(str(bad))
    with pytest.raises(FileNotFoundError, match='genotype file .*missing.json does not exist'):
        load_genotype(str(tmp_path / 'missing.json'))


# ---- genotypes into configs ------------------------------------------------------
def test_exported_config_never_holds_a_genotype_payload(tmp_path, monkeypatch):
    from mmengine.config import Config

    import nas_det  # noqa: F401
    from nas_det.engine.export import export_config
    from nas_det.space.published import DETNAS_300M_RETINANET
    monkeypatch.chdir(tmp_path)
    g = _payload_genotype(tmp_path, DETNAS_300M_RETINANET)
    with pytest.raises(ValueError, match=r'genotype file .*g\.json: unknown key "x\': '):
        export_config(Config.fromfile(DETNAS_SEARCH), g, out_dir=str(tmp_path / 'e'))
    assert not (tmp_path / 'PWNED').exists()
    assert not (tmp_path / 'e' / 'subnet.py').exists()
    # the clean genotype exports, and the written genotype is the canonical dict
    out = export_config(Config.fromfile(DETNAS_SEARCH), DETNAS_300M_RETINANET.to_dict(),
                        out_dir=str(tmp_path / 'e'))
    assert Config.fromfile(out['config']).model.backbone.genotype == \
        DETNAS_300M_RETINANET.to_dict()


def test_export_genotype_and_cell_export_refuse_payloads(tmp_path, monkeypatch):
    import nas_det  # noqa: F401
    from nas_det.engine.export import export_cell_configs, export_genotype
    from nas_det.space.published import NASFPN_7CELL, NASNET_A
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match='unknown key'):
        export_genotype(NASFPN_TEMPLATE, _payload_genotype(tmp_path, NASFPN_7CELL),
                        out_dir=str(tmp_path / 'n'))
    with pytest.raises(ValueError, match='unknown key'):
        export_cell_configs(_payload_genotype(tmp_path, NASNET_A), {'det': CELL_TEMPLATE},
                            str(tmp_path / 'c'))
    # the slot's own key is a dict key too: a quote in it is refused before writing (a key
    # without dots, so that it reaches the writer instead of the dotted-path walker)
    with pytest.raises(ValueError, match=r'cannot be written into a config file'):
        export_genotype(NASFPN_TEMPLATE, NASFPN_7CELL.to_dict(), out_dir=str(tmp_path / 'k'),
                        genotype_key="model.neck.g': __import__('os'), 'h", check=False)
    assert not (tmp_path / 'PWNED').exists()
    assert not (tmp_path / 'n' / 'searched.py').exists()
    assert not (tmp_path / 'k' / 'searched.py').exists()


# ---- checkpoints -----------------------------------------------------------------
def _stock_mmengine_checkpoint():
    """What a plain mmengine run writes: HistoryBuffers and numpy objects."""
    from collections import OrderedDict

    import numpy as np
    import torch
    from mmengine.logging import HistoryBuffer
    buf = HistoryBuffer()
    for v in (0.5, 0.25):
        buf.update(v)
    return {'meta': {'iter': 2}, 'state_dict': OrderedDict(w=torch.ones(2)),
            'message_hub': {'log_scalars': {'loss': buf},
                            'runtime_info': {'arr': np.arange(3), 'f': np.float64(2.5),
                                             'names': np.array(['a', 'b'])}}}


def test_stock_mmengine_checkpoint_loads_safely_without_trust(tmp_path, monkeypatch):
    import torch

    import nas_det  # noqa: F401
    from nas_det.engine.runner import checkpoint as ck
    monkeypatch.delenv('NAS_DET_TRUSTED_DIRS', raising=False)
    monkeypatch.delenv(ck.TRUSTED_FILES_ENV, raising=False)
    f = _save(_stock_mmengine_checkpoint(), tmp_path / 'stock.pth')
    with pytest.raises(Exception):
        torch.load(f, weights_only=True)  # torch alone refuses it
    back = ck.safe_load(f)
    assert back['message_hub']['log_scalars']['loss'].current() == 0.25
    assert back['message_hub']['runtime_info']['arr'].tolist() == [0, 1, 2]
    assert back['message_hub']['runtime_info']['names'].tolist() == ['a', 'b']
    allowed = [g[0] if isinstance(g, tuple) else g for g in ck.allowed_globals()]
    assert not {getattr, eval, exec, os.system, __import__} & set(allowed)
    assert back['message_hub']['log_scalars']['loss'].statistics('mean') == 0.375


def test_checkpoint_in_the_run_work_dir_is_not_trusted(tmp_path, monkeypatch):
    """Issue 15: a file under the work dir of the running Runner was unpickled in full."""
    from mmengine.logging import MMLogger

    import nas_det  # noqa: F401
    from nas_det.engine.runner import checkpoint as ck
    monkeypatch.delenv('NAS_DET_TRUSTED_DIRS', raising=False)
    monkeypatch.delenv(ck.TRUSTED_FILES_ENV, raising=False)
    wd = tmp_path / 'W'
    (wd / '20990101_000000').mkdir(parents=True)
    MMLogger.get_instance('security_test_run',  # how the old code found the work dir
                          log_file=str(wd / '20990101_000000' / '20990101_000000.log'))
    pwned = tmp_path / 'PWNED'
    f = _save({'m': Payload(pwned)}, wd / 'iter_2.pth')
    from mmengine.runner.checkpoint import CheckpointLoader
    with pytest.raises(ck.UnsafeCheckpointError, match=r'--trust-checkpoint .*iter_2\.pth') as e:
        CheckpointLoader.load_checkpoint(f)
    assert '\n' not in str(e.value) and 'posix.system' in str(e.value)
    assert not pwned.exists()


def test_trust_is_by_name_only(tmp_path, monkeypatch):
    import nas_det  # noqa: F401
    from nas_det.engine.runner import checkpoint as ck
    monkeypatch.delenv('NAS_DET_TRUSTED_DIRS', raising=False)
    monkeypatch.delenv(ck.TRUSTED_FILES_ENV, raising=False)
    mine = _save({'x': Harmless()}, tmp_path / 'mine.pth')
    other = _save({'x': Harmless()}, tmp_path / 'other.pth')
    with pytest.raises(ck.UnsafeCheckpointError):
        ck.safe_load(mine)
    ck.trust_file(mine)
    assert ck.trust_reason(mine) == 'named with --trust-checkpoint'
    assert ck.safe_load(mine)['x'].v == 1
    with pytest.raises(ck.UnsafeCheckpointError):  # its neighbour is not trusted
        ck.safe_load(other)
    monkeypatch.setenv('NAS_DET_TRUSTED_DIRS', str(tmp_path))
    assert 'NAS_DET_TRUSTED_DIRS' in ck.trust_reason(other)
    assert 'work dir' not in ck.trust_reason(other)
    with pytest.raises(FileNotFoundError, match='--trust-checkpoint'):
        ck.trust_file(str(tmp_path / 'missing.pth'))


def test_url_checkpoints_go_through_the_safe_loader(tmp_path, monkeypatch):
    """Issue 15: a URL file already in the hub cache was loaded with weights_only=False;
    torchvision:// and the URL form of open-mmlab:// took the same path."""
    import torch

    import nas_det  # noqa: F401
    from mmengine.runner import checkpoint as mm
    from nas_det.engine.runner import checkpoint as ck
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    monkeypatch.delenv('NAS_DET_TRUSTED_DIRS', raising=False)
    monkeypatch.delenv(ck.TRUSTED_FILES_ENV, raising=False)
    cache = osp.join(torch.hub.get_dir(), 'checkpoints')
    assert cache.startswith(str(tmp_path))
    pwned = tmp_path / 'PWNED'
    tv_url = mm.get_torchvision_models()['resnet18']
    omm_name, omm_url = next((k, v) for k, v in sorted(mm.get_external_models().items())
                             if v.startswith('https://'))
    for url, cached in (('https://example.com/models/evil.pth', 'evil.pth'),
                        ('torchvision://resnet18', osp.basename(tv_url)),
                        (f'open-mmlab://{omm_name}', osp.basename(omm_url))):
        _save({'state_dict': {}, 'x': Payload(pwned)}, osp.join(cache, cached))
        with pytest.raises(ck.UnsafeCheckpointError, match='--trust-checkpoint'):
            mm.CheckpointLoader.load_checkpoint(url)
        with pytest.raises(ck.UnsafeCheckpointError):  # the module functions, too
            mm.load_from_http(f'https://example.com/x/{cached}')
        assert not pwned.exists(), url
    # a safe file in the cache loads; a missing one is never downloaded
    _save({'state_dict': {'w': torch.ones(1)}}, osp.join(cache, 'good.pth'))
    assert mm.CheckpointLoader.load_checkpoint('https://example.com/good.pth')[
        'state_dict']['w'].item() == 1
    with pytest.raises(FileNotFoundError, match='never downloads'):
        mm.CheckpointLoader.load_checkpoint('https://example.com/absent.pth')
    # every scheme mmengine knows goes through our loaders
    ours = {ck.load_from_url, ck._load_from_local}
    assert all(fn in ours for fn in mm.CheckpointLoader._schemes.values()), \
        {p: fn.__name__ for p, fn in mm.CheckpointLoader._schemes.items() if fn not in ours}


def _upgrade_tool():
    spec = importlib.util.spec_from_file_location('upgrade_checkpoint',
                                                  osp.join(ROOT, 'tools/upgrade_checkpoint.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_upgrade_tool_asks_for_explicit_trust(tmp_path, monkeypatch):
    import torch

    import nas_det  # noqa: F401
    from nas_det.engine.runner import checkpoint as ck
    monkeypatch.delenv('NAS_DET_TRUSTED_DIRS', raising=False)
    monkeypatch.delenv(ck.TRUSTED_FILES_ENV, raising=False)
    tool = _upgrade_tool()
    pwned = tmp_path / 'PWNED'
    evil = _save({'x': Payload(pwned)}, tmp_path / 'evil.pth')
    with pytest.raises(ck.UnsafeCheckpointError, match='--trust-checkpoint'):
        tool.main([evil, str(tmp_path / 'out.pth')])
    assert not pwned.exists() and not (tmp_path / 'out.pth').exists()
    # a stock mmengine file needs no trust; a file with other globals needs to be named
    stock = _save(_stock_mmengine_checkpoint(), tmp_path / 'stock.pth')
    tool.main([stock, str(tmp_path / 'stock_safe.pth')])
    assert torch.load(str(tmp_path / 'stock_safe.pth'), weights_only=True)['meta']['iter'] == 2
    # an object array is refused by a safe load; named, the tool converts it to plain data
    import numpy as np
    mine = _save({'state_dict': {'w': torch.ones(1)}, 'x': np.array(['a', None], dtype=object)},
                 tmp_path / 'mine.pth')
    with pytest.raises(ck.UnsafeCheckpointError, match='--trust-checkpoint'):
        tool.main([mine, str(tmp_path / 'mine_safe.pth')])
    tool.main([mine, str(tmp_path / 'mine_safe.pth'), '--trust-checkpoint', mine])
    out = torch.load(str(tmp_path / 'mine_safe.pth'), weights_only=True)
    assert out['state_dict']['w'].item() == 1
    assert ck.from_plain(out)['x'].tolist() == ['a', None]
    # an object the safe format cannot carry: one line, and no output file
    odd = _save({'x': Harmless()}, tmp_path / 'odd.pth')
    with pytest.raises(ValueError, match='cannot carry'):
        tool.main([odd, str(tmp_path / 'odd_safe.pth'), '--trust-checkpoint', odd])
    assert not (tmp_path / 'odd_safe.pth').exists()


# ---- one-line errors -------------------------------------------------------------
def test_config_syntax_error_names_file_and_line(tmp_path, capsys):
    from nas_det.engine.launch import cli, read_config
    bad = tmp_path / 'bad.py'
    bad.write_text('a = 1\nb = dict(\nc = 3 +\n')
    with pytest.raises(ValueError, match=rf'config {re.escape(str(bad))}, line 2: syntax error'):
        read_config(str(bad))
    base = tmp_path / 'base_bad.py'
    base.write_text('x = 1\ny = [1, 2\nz = 3\n')
    child = tmp_path / 'child.py'
    child.write_text("_base_ = ['./base_bad.py']\nw = 2\n")
    with pytest.raises(ValueError, match=r'config .*base_bad\.py, line 2: syntax error'):
        read_config(str(child))
    assert cli([str(bad)]) == 2
    err = capsys.readouterr().err
    assert f'error: config {bad}, line' in err and 'Traceback' not in err
    assert cli([str(tmp_path / 'missing.py')]) == 2
    assert 'missing.py does not exist' in capsys.readouterr().err


def test_cfg_option_without_equals_is_one_line(capsys):
    from nas_det.engine.launch import cli
    cfg = osp.join(ROOT, 'configs/nasfpn/resnet18-half_digits-cls.py')
    assert cli([cfg, '--cfg-options', 'train_cfg.max_iters']) == 2
    err = capsys.readouterr().err
    assert """--cfg-options: 'train_cfg.max_iters' has no "="; each item is KEY=VALUE""" in err
    assert 'unpack' not in err


def test_coco_file_with_empty_lists_is_refused(tmp_path):
    from nas_det.engine.launch.checks import check_coco_annotation
    empty = tmp_path / 'empty.json'
    empty.write_text(json.dumps({'images': [], 'annotations': [], 'categories': []}))
    with pytest.raises(ValueError, match=r"train_dataloader\.dataset\.ann_file: .*empty\.json: "
                                         r"the lists \['images', 'annotations', 'categories'\] "
                                         'are empty'):
        check_coco_annotation(str(empty), 'train_dataloader.dataset.ann_file')
    with pytest.raises(ValueError, match=r"the lists \['images', 'categories'\] are empty"):
        check_coco_annotation(str(empty), 'val_evaluator.ann_file')


def test_missing_files_and_refusals_are_one_line(tmp_path, capsys):
    from nas_det.engine.launch import one_line_errors

    def missing():
        raise FileNotFoundError(f'checkpoint {tmp_path}/x.pth does not exist')
    assert one_line_errors(missing) == 2
    err = capsys.readouterr().err
    assert err.startswith(osp.basename(sys.argv[0]) or 'search.py') and 'Traceback' not in err
    assert 'x.pth does not exist' in err
    from nas_det.engine.runner.checkpoint import UnsafeCheckpointError

    def refused():
        raise UnsafeCheckpointError('refusing to unpickle checkpoint x.pth')
    assert one_line_errors(refused) == 2
    assert 'error: refusing to unpickle' in capsys.readouterr().err


# ---- the reproductions, as a user runs them --------------------------------
def _run(args, cwd, env=None):
    e = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': ROOT, **(env or {})}
    e.pop('NAS_DET_TRUSTED_DIRS', None)
    e.pop('NAS_DET_DEBUG', None)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=e, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_export_subnet_tool_with_payload_genotype(tmp_path):
    from nas_det.space.published import DETNAS_300M_RETINANET
    g = _payload_genotype(tmp_path, DETNAS_300M_RETINANET)
    p = _run([osp.join(ROOT, 'tools/export_subnet.py'), DETNAS_SEARCH, g, '--out-dir', 'e'],
             cwd=str(tmp_path))
    assert p.returncode == 2, p.stdout + p.stderr
    assert not (tmp_path / 'PWNED').exists()
    lines = p.stderr.strip().splitlines()
    assert 'unknown key' in lines[0] and 'Traceback' not in p.stderr, p.stderr


@pytest.mark.slow
def test_resume_never_unpickles_a_planted_checkpoint(tiny_det_data, tmp_path):
    """Issue 15's reproduction: a payload in W/iter_2.pth + last_checkpoint, --resume.
    A checkpoint the run itself wrote (also in stock mmengine form) resumes untrusted."""
    import torch

    import nas_det  # noqa: F401
    from nas_det.engine.runner.checkpoint import from_plain
    from test_mmdet_runs import CONFIG, _opts
    wd = tmp_path / 'W'
    p = _run([osp.join(ROOT, 'tools/search.py'), CONFIG, '--work-dir', str(wd), *_opts(tiny_det_data, 2)],
             cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]
    # rewrite it as a plain mmengine run would have (HistoryBuffer, numpy): still resumes
    ck = from_plain(torch.load(str(wd / 'iter_2.pth'), weights_only=True))
    torch.save(ck, str(wd / 'iter_2.pth'))
    (wd / 'phase_done.json').unlink()  # as a run killed before its end leaves it
    p = _run([osp.join(ROOT, 'tools/search.py'), CONFIG, '--work-dir', str(wd), '--resume',
              *_opts(tiny_det_data, 4)], cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]
    assert (wd / 'iter_4.pth').exists()
    # the planted payload: refused in one line that names --trust-checkpoint
    pwned = tmp_path / 'PWNED'
    _save({'m': Payload(pwned)}, wd / 'iter_6.pth')
    (wd / 'phase_done.json').unlink()
    (wd / 'last_checkpoint').write_text(str(wd / 'iter_6.pth'))
    p = _run([osp.join(ROOT, 'tools/search.py'), CONFIG, '--work-dir', str(wd), '--resume',
              *_opts(tiny_det_data, 8)], cwd=str(tmp_path))
    assert not pwned.exists()
    assert p.returncode == 2, p.stderr[-3000:]
    err = [ln for ln in p.stderr.splitlines() if 'error:' in ln]
    assert len(err) == 1 and '--trust-checkpoint' in err[0] and 'iter_6.pth' in err[0], \
        p.stderr[-3000:]
    assert 'Traceback' not in p.stderr
