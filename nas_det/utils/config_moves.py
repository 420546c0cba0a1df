"""Config paths and config switches that were moved or removed, in one table.

A config is switched one way: a child config (``_base_`` + its overrides), plus
``--cfg-options`` and the ``phases`` a config names. The old switches, ``variants`` /
``--cfg-options variant=NAME`` and the ``strategies`` presets
(``train_cfg.strategy=NAME``), were removed, and ``configs/demo/`` became
``configs/baseline/``; an old path or switch ends in a one-line error naming its
replacement (``tools/search.py``, :func:`nas_det.engine.launch.load_config`).
"""
from __future__ import annotations

import ast
import os.path as osp

# old config path -> new config path (relative to the repository root)
MOVED_CONFIGS = {
    'configs/demo/retinanet_r18_fpn_digits.py': 'configs/baseline/retinanet_r18_fpn_digits.py',
}

# config that had `variants` -> {variant name: the child config that replaces it}
VARIANT_CONFIGS = {
    'configs/nasfpn/retinanet_r18_nasfpn_search_digits.py': {
        'controller': 'configs/nasfpn/retinanet_r18_nasfpn_search_digits.py',
        'oneshot': 'configs/nasfpn/retinanet_r18_nasfpn-supernet_search_digits.py'},
    'configs/nasfpn/retinanet_r18_nasfpn_search_digits-easy.py': {
        'controller': 'configs/nasfpn/retinanet_r18_nasfpn_search_digits-easy.py',
        'oneshot': 'configs/nasfpn/retinanet_r18_nasfpn-supernet_search_digits-easy.py'},
}

# a preset of the removed `strategies` (train_cfg.strategy=NAME) -> the config holding it
STRATEGY_CONFIGS = {
    'evolution': 'configs/cells/cells_search_digits-cls.py',
    'reinforce': 'configs/cells/cells_search_digits-cls_reinforce.py',
    'pnas': 'configs/cells/cells_search_digits-cls_pnas.py',
}

# config -> its default work dir while it was a variant (`work_dirs/<config>_<variant>`)
OLD_WORK_DIRS = {
    'configs/nasfpn/retinanet_r18_nasfpn_search_digits.py':
        'work_dirs/retinanet_r18_nasfpn_search_digits_controller',
    'configs/nasfpn/retinanet_r18_nasfpn-supernet_search_digits.py':
        'work_dirs/retinanet_r18_nasfpn_search_digits_oneshot',
    'configs/nasfpn/retinanet_r18_nasfpn_search_digits-easy.py':
        'work_dirs/retinanet_r18_nasfpn_search_digits-easy_controller',
    'configs/nasfpn/retinanet_r18_nasfpn-supernet_search_digits-easy.py':
        'work_dirs/retinanet_r18_nasfpn_search_digits-easy_oneshot',
}


def config_key(path: str) -> str | None:
    """``configs/<...>.py`` of ``path`` (the part from its last ``configs`` folder on),
    the form the tables above use; None outside a ``configs`` folder."""
    parts = osp.normpath(osp.abspath(path)).replace('\\', '/').split('/')
    if 'configs' not in parts:
        return None
    i = len(parts) - 1 - parts[::-1].index('configs')
    return '/'.join(parts[i:])


def _listing(mapping: dict) -> str:
    return ', '.join(f'{v} ({k})' for k, v in mapping.items())


def check_moved_config(path: str) -> None:
    """A ``FileNotFoundError`` naming the new path when ``path``, or a local ``_base_`` it
    reads (directly or through its bases), is missing and has moved."""
    if not osp.isfile(path):
        new = MOVED_CONFIGS.get(config_key(path))
        if new:
            raise FileNotFoundError(f'config file {path} has moved: use {new}')
        return
    todo, seen = [path], set()
    while todo:
        f = todo.pop()
        seen.add(f)
        for base in local_bases(f):
            if osp.isfile(base):
                todo += [] if base in seen else [base]
            elif MOVED_CONFIGS.get(config_key(base)):
                raise FileNotFoundError(f'config {f}: its _base_ {base} has moved: use '
                                        f'{MOVED_CONFIGS[config_key(base)]}')


def local_bases(path: str) -> list:
    """The local files ``path``'s ``_base_`` names (not followed further)."""
    try:
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read())
    except (SyntaxError, ValueError, OSError):
        return []
    out = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '_base_'
                                                for t in node.targets):
            try:
                bases = ast.literal_eval(node.value)
            except ValueError:
                continue
            for b in [bases] if isinstance(bases, str) else list(bases):
                if isinstance(b, str) and '::' not in b:
                    out.append(osp.normpath(osp.join(osp.dirname(path), b)))
    return out


def check_removed_switches(cfg, options: dict | None, path: str) -> None:
    """One-line ``ValueError`` for the removed switches: ``--cfg-options variant=NAME``, a
    config holding ``variants`` or ``strategies``; each names the child configs that
    replace it."""
    options = options or {}
    children = VARIANT_CONFIGS.get(config_key(path))
    # for a config that had none: the NAS-FPN search's, as the example
    shown = children or next(iter(VARIANT_CONFIGS.values()))
    if 'variant' in options:
        name = options['variant']
        if children and name in children:
            raise ValueError(f'--cfg-options variant={name}: removed; use the child config '
                             f'{children[name]}')
        raise ValueError(f'--cfg-options variant={name}: removed; a variant is a child config '
                         f'(_base_ + its overrides) now, e.g. {_listing(shown)}')
    if 'variants' in cfg:
        raise ValueError(f'variants: removed; write each variant as a child config (_base_ + '
                         f'its overrides), as the NAS-FPN search did: use the child configs '
                         f'{_listing(shown)}')
    if 'strategies' in cfg:
        raise ValueError(f'strategies: removed; set train_cfg.strategy=dict(type=...) in a '
                         f'child config per preset, as the cell search did: use the child '
                         f'configs {_listing(STRATEGY_CONFIGS)}')


def strategy_name_error(name: str, allowed: list) -> str:
    """The one-line message for a ``train_cfg.strategy`` given as a string: a strategy is a
    dict with a ``type`` (a removed preset's name also names the config that holds it)."""
    msg = (f'train_cfg.strategy: {name!r} is a name, not a strategy: dict(type=TYPE, ...) '
           f'is expected, TYPE among {sorted(allowed)}')
    if name in STRATEGY_CONFIGS:
        msg += (f"; the `strategies` presets were removed: {name!r} is the config "
                f'{STRATEGY_CONFIGS[name]}')
    return msg


def check_old_work_dir(path: str, work_dir: str) -> None:
    """``--resume`` into a config's default work dir that does not exist while the one
    the config's variant used does: a one-line error naming it (else a resume would start
    the run again)."""
    old = OLD_WORK_DIRS.get(config_key(path))
    if old and not osp.isdir(work_dir) and osp.isdir(old):
        raise ValueError(f'--resume: the default work dir of {config_key(path)} is '
                         f'{work_dir} now; the run to resume is in {old} (its old name): '
                         f'add --work-dir {old}')
