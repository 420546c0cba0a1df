"""Fail early, with a clear message, on checkpoints that would need a download."""
from __future__ import annotations

import os.path as osp

URL_PREFIXES = ('http://', 'https://', 'torchvision://', 'modelzoo://', 'open-mmlab://',
                'openmmlab://', 'mmcls://', 'pavi://', 's3://')


def _cached(url: str) -> bool:
    """Whether the file a URL checkpoint names is already in the local cache (where the
    loader reads it: :func:`nas_det.engine.runner.checkpoint.resolve_url`)."""
    from ..runner.checkpoint import resolve_url
    path = resolve_url(url)
    return bool(path) and osp.isfile(path)


def find_remote_checkpoints(cfg, path: str = '') -> list:
    """``(config key, url)`` of every ``checkpoint=`` / ``load_from`` / ``resume_from``
    in a config (dict-like, nested) that names a remote file."""
    found = []
    if isinstance(cfg, dict):
        for k, v in cfg.items():
            key = f'{path}.{k}' if path else str(k)
            if k in ('checkpoint', 'load_from', 'resume_from') and isinstance(v, str) \
                    and v.startswith(URL_PREFIXES):
                found.append((key, v))
            else:
                found += find_remote_checkpoints(v, key)
    elif isinstance(cfg, (list, tuple)):
        for i, v in enumerate(cfg):
            found += find_remote_checkpoints(v, f'{path}[{i}]')
    return found


def check_offline(cfg) -> None:
    """Raise ``ValueError`` naming every remote checkpoint that is not cached locally."""
    missing = [(k, u) for k, u in find_remote_checkpoints(cfg) if not _cached(u)]
    if missing:
        lines = '\n'.join(f'  {k} = {u!r}' for k, u in missing)
        raise ValueError(
            'these checkpoints would need a download, and nas_det never downloads at run '
            f'time:\n{lines}\nDownload them yourself and give the local path, or train from '
            'scratch: init_cfg=None (with frozen_stages=-1 and norm_eval=False for a backbone) '
            'and load_from=None.')
