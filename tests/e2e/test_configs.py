"""Configs switch one way (inheritance, ``--cfg-options``, ``phases``; docs/configs.md).

The DetNAS supernet backbone is one base that the supernet configs inherit, with their
merged backbones as before; a moved config path or a removed switch (``variants``,
``variant=NAME``, ``strategies``) ends in one line naming its replacement
(``nas_det/utils/config_moves.py``).
"""
import glob
import inspect
import json
import os
import os.path as osp
import subprocess
import sys
from argparse import Namespace

import pytest

from conftest import ROOT

pytest.importorskip('mmdet')

# model.backbone of every config under configs/detnas (and of the classifier base), dumped
# from the configs as they were when each restated the supernet backbone in full
BACKBONES = osp.join(ROOT, 'tests', 'e2e', 'detnas_backbones.json')
# the one addition: this config did not name widen_factor; the base names its default
ADDED = {'configs/detnas/faster-rcnn_detnas-shufflenet-300M-supernet_fpn_digits.py':
         {'widen_factor': 1.0}}


def _args(config, *options, resume=False):
    return Namespace(config=config, cfg_options=list(options), work_dir=None, seed=None,
                     resume=resume)


def _plain(x):
    """JSON's view of a config value (tuples as lists)."""
    return json.loads(json.dumps(x))


def test_detnas_backbones_merge_as_before():
    from mmengine.config import Config
    with open(BACKBONES) as f:
        before = json.load(f)
    # every config of the dump is still there (configs added since have no 'before')
    paths = {osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'configs/detnas/*.py'))}
    assert {k for k in before if k.startswith('configs/detnas/')} <= paths
    for rel, backbone in before.items():
        cfg = Config.fromfile(osp.join(ROOT, rel), import_custom_modules=False)
        assert _plain(cfg.model.backbone.to_dict()) == {**backbone, **ADDED.get(rel, {})}, rel
    # the base holds the backbone the supernet configs share
    base = Config.fromfile(osp.join(ROOT, 'configs/_base_/models/'
                                    'detnas_shufflenet-300M_supernet.py'))
    assert base.supernet_backbone.type == 'ShuffleNetV2Supernet'
    # the addition is the module's default: the same network
    from nas_det.models.shufflenet import ShuffleNetV2Supernet
    params = inspect.signature(ShuffleNetV2Supernet.__init__).parameters
    for added in ADDED.values():
        assert all(params[k].default == v for k, v in added.items())


def test_moved_config_path_names_the_new_one(tmp_path):
    from nas_det.engine.launch import load_config, read_config
    old = osp.join(ROOT, 'configs/demo/retinanet_r18_fpn_digits.py')
    new = 'configs/baseline/retinanet_r18_fpn_digits.py'
    assert osp.isfile(osp.join(ROOT, new)) and not osp.exists(old)
    with pytest.raises(FileNotFoundError, match=rf'^config file {old} has moved: use {new}$'):
        load_config(_args(old))
    with pytest.raises(FileNotFoundError, match=r'^config file configs/demo/retinanet_r18_fpn_'
                                                r'digits.py has moved: use configs/baseline/'):
        read_config('configs/demo/retinanet_r18_fpn_digits.py')
    # a config whose _base_ (here through another file) names the old path
    mine = tmp_path / 'configs' / 'mine'
    mine.mkdir(parents=True)
    (mine / 'a.py').write_text("_base_ = '../demo/retinanet_r18_fpn_digits.py'\n")
    (mine / 'b.py').write_text("_base_ = ['./a.py']\ntrain_cfg = dict(max_iters=2)\n")
    with pytest.raises(FileNotFoundError, match=r"a.py: its _base_ .*configs/demo/retinanet_r18_"
                                                r"fpn_digits.py has moved: use configs/baseline/"
                                                r"retinanet_r18_fpn_digits.py$"):
        load_config(_args(str(mine / 'b.py')))
    # a file that never existed: the plain message
    with pytest.raises(FileNotFoundError, match=r'^config file configs/demo/nope.py does not '
                                                r'exist$'):
        read_config('configs/demo/nope.py')


@pytest.mark.slow
def test_cli_old_paths_and_switches_end_in_one_line():
    """tools/search.py: exit status 2 and one `error:` line naming the replacement."""
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': ROOT}
    env.pop('NAS_DET_DEBUG', None)
    cases = [
        (['configs/demo/retinanet_r18_fpn_digits.py'],
         'error: config file configs/demo/retinanet_r18_fpn_digits.py has moved: use '
         'configs/baseline/retinanet_r18_fpn_digits.py'),
        (['configs/nasfpn/retinanet_r18_nasfpn_search_digits.py', '--cfg-options',
          'variant=oneshot'],
         'error: --cfg-options variant=oneshot: removed; use the child config '
         'configs/nasfpn/retinanet_r18_nasfpn-supernet_search_digits.py'),
    ]
    for args, line in cases:
        p = subprocess.run([sys.executable, 'tools/search.py', *args], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 2, p.stderr[-2000:]
        assert p.stderr.splitlines()[0] == f'search.py: {line}', p.stderr[-2000:]
        assert 'Traceback' not in p.stderr


def test_resume_into_the_old_default_work_dir_is_named(tmp_path, monkeypatch):
    """A search started as a variant (default work dir `<config>_<variant>`) and resumed
    with the config that replaces it: the error names the old work dir (a silent fresh
    start would redo the run)."""
    from nas_det.engine.launch import load_config
    child = osp.join(ROOT, 'configs/nasfpn/retinanet_r18_nasfpn-supernet_search_digits.py')
    monkeypatch.chdir(tmp_path)
    assert load_config(_args(child, resume=True)).work_dir == osp.join(
        'work_dirs', 'retinanet_r18_nasfpn-supernet_search_digits')   # nothing to find
    os.makedirs('work_dirs/retinanet_r18_nasfpn_search_digits_oneshot')
    with pytest.raises(ValueError, match=r'^--resume: the default work dir of configs/nasfpn/'
                                         r'retinanet_r18_nasfpn-supernet_search_digits.py is '
                                         r'work_dirs/retinanet_r18_nasfpn-supernet_search_digits '
                                         r'now; the run to resume is in work_dirs/retinanet_r18_'
                                         r'nasfpn_search_digits_oneshot \(its old name\): add '
                                         r'--work-dir work_dirs/retinanet_r18_nasfpn_search_'
                                         r'digits_oneshot$'):
        load_config(_args(child, resume=True))
    # without --resume, or with the new work dir there, nothing is said
    assert load_config(_args(child)).work_dir.endswith('supernet_search_digits')
    os.makedirs('work_dirs/retinanet_r18_nasfpn-supernet_search_digits')
    assert load_config(_args(child, resume=True))


def test_no_config_holds_a_removed_switch():
    """No shipped config sets `variants`, `variant` or `strategies`, nor names a strategy
    by a string (a preset name of the removed `strategies`): read from the sources, which
    every merged config comes from."""
    import ast
    for p in sorted(glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)):
        with open(p) as f:
            tree = ast.parse(f.read())
        names = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                 if isinstance(t, ast.Name)}
        assert not {'variants', 'variant', 'strategies'} & names, p
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == 'strategy':
                assert not isinstance(node.value, ast.Constant), p
