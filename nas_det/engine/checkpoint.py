"""Checkpoints that load with ``torch.load(weights_only=True)`` on current torch.

mmengine 0.10.7 stores ``HistoryBuffer`` objects and numpy arrays in a checkpoint's
message hub. torch (since 2.6) loads with ``weights_only=True`` by default, which refuses
those globals, so ``load_from`` and ``--resume`` of a stock mmengine run fail. Allow-listing
them is no answer: numpy's reconstruction needs the builtin ``getattr``, which would open
the door that ``weights_only`` closes.

What ``import nas_det`` does instead (:func:`install`):

* **save**: mmengine's ``save_checkpoint`` is wrapped so that every ``HistoryBuffer``,
  numpy array and numpy scalar is written as plain data (tagged dicts of tensors and
  Python scalars). The file then loads with ``weights_only=True``.
* **load**: the local-file scheme of mmengine's ``CheckpointLoader`` (used by
  ``load_from``, ``--resume`` and ``init_cfg=dict(type='Pretrained')``) loads with
  ``weights_only=True`` and turns the tagged dicts back into the objects mmengine expects.
  A checkpoint with other globals (an older mmengine checkpoint, or anything else) is
  refused with a message naming them, unless it lies under a directory the user trusts:
  the work dir of the current run, or one listed in ``NAS_DET_TRUSTED_DIRS``
  (``os.pathsep``-separated). Then it is loaded in full after a warning.
  ``tools/upgrade_checkpoint.py`` rewrites such a file in the safe format once.
* **URLs**: a download that fails (no network) raises an error that says how to train
  from scratch or point at a local file, instead of a socket error deep in urllib.
"""
from __future__ import annotations

import logging
import os
import os.path as osp
import pickle
from collections import OrderedDict

import numpy as np
import torch

TAG = '__nas_det__'
TRUSTED_DIRS: list = []  # work dirs of runs started by our tools, added at run time


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint holds Python globals that ``weights_only=True`` refuses."""


# ---- plain-data conversion ---------------------------------------------------------
def to_plain(obj):
    """Replace HistoryBuffers, numpy arrays and numpy scalars by plain data, recursively."""
    from mmengine.logging import HistoryBuffer
    if isinstance(obj, np.generic):  # before the scalar check: np.float64 is a float
        return obj.item()
    if isinstance(obj, torch.Tensor) or obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, HistoryBuffer):
        logs, counts = obj.data
        return {TAG: 'HistoryBuffer', 'log_history': to_plain(logs),
                'count_history': to_plain(counts), 'max_length': int(obj.max_length)}
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in 'biufc':
            return {TAG: 'ndarray', 'data': torch.from_numpy(np.ascontiguousarray(obj).copy())}
        return {TAG: 'ndarray_list', 'data': to_plain(obj.tolist()), 'dtype': str(obj.dtype)}
    if isinstance(obj, OrderedDict):
        return OrderedDict((k, to_plain(v)) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(to_plain(v) for v in obj)
    return obj


def from_plain(obj):
    """Inverse of :func:`to_plain`."""
    if isinstance(obj, dict):
        tag = obj.get(TAG)
        if tag == 'HistoryBuffer':
            from mmengine.logging import HistoryBuffer
            return HistoryBuffer(from_plain(obj['log_history']).tolist(),
                                 from_plain(obj['count_history']).tolist(),
                                 max_length=obj['max_length'])
        if tag == 'ndarray':
            return obj['data'].numpy()
        if tag == 'ndarray_list':
            return np.array(from_plain(obj['data']), dtype=obj['dtype'])
        items = ((k, from_plain(v)) for k, v in obj.items())
        return OrderedDict(items) if isinstance(obj, OrderedDict) else dict(items)
    if isinstance(obj, list):
        return [from_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(from_plain(v) for v in obj)
    return obj


# ---- trust ---------------------------------------------------------------------
def _current_work_dir():
    """The work dir of the running mmengine Runner, read off its log file handler."""
    try:
        from mmengine.logging import MMLogger
        logger = MMLogger.get_current_instance()
    except Exception:  # no logger yet
        return None
    for h in logger.handlers:
        f = getattr(h, 'baseFilename', None)
        if f:  # <work_dir>/<timestamp>/<timestamp>.log
            return osp.dirname(osp.dirname(f))
    return None


def trusted_dirs() -> list:
    dirs = list(TRUSTED_DIRS)
    dirs += [d for d in os.environ.get('NAS_DET_TRUSTED_DIRS', '').split(os.pathsep) if d]
    wd = _current_work_dir()
    if wd:
        dirs.append(wd)
    return [osp.realpath(d) for d in dirs]


def is_trusted(filename: str) -> bool:
    path = osp.realpath(filename)
    return any(path == d or path.startswith(d.rstrip(os.sep) + os.sep) for d in trusted_dirs())


def _unsafe_globals(filename: str) -> list:
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(filename))
    except Exception:  # legacy (non-zip) format: cannot list without unpickling
        return ['<unknown: legacy torch.save format>']


# ---- load ----------------------------------------------------------------------
def safe_load(filename: str, map_location=None, trust: bool | None = None):
    """Load a checkpoint with ``weights_only=True`` and restore mmengine's objects.

    Args:
        filename (str): a local file.
        map_location: as for ``torch.load``. Defaults to None.
        trust (bool, optional): load a file with unsafe globals in full. None (default)
            decides by :func:`is_trusted`.

    Raises:
        UnsafeCheckpointError: the file holds other globals and is not trusted.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found')
    try:
        ckpt = torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        names = _unsafe_globals(filename)
        if trust is None:
            trust = is_trusted(filename)
        if not trust:
            raise UnsafeCheckpointError(
                f'refusing to load {filename}: it holds Python globals that a safe load '
                f'(weights_only=True) does not allow: {", ".join(names)}. Checkpoints written '
                'with nas_det imported load safely; this one was probably written by a plain '
                'mmengine run. If you made this file yourself, convert it once with '
                f'`python tools/upgrade_checkpoint.py {filename}`, or list its folder in '
                'NAS_DET_TRUSTED_DIRS. Never do either for a file from someone else.') from None
        from mmengine.logging import print_log
        print_log(f'nas_det: loading {filename} with full unpickling (it holds '
                  f'{", ".join(names)}); it lies in your own work dir, so it is trusted',
                  logger='current', level=logging.WARNING)
        ckpt = torch.load(filename, map_location=map_location, weights_only=False)
    return from_plain(ckpt)


def _load_from_local(filename, map_location):
    return safe_load(filename, map_location)


def _offline_wrapper(loader):
    def load(filename, map_location=None, *args, **kwargs):
        try:
            return loader(filename, map_location, *args, **kwargs)
        except (OSError, ConnectionError) as e:
            if isinstance(e, FileNotFoundError):
                raise
            raise RuntimeError(
                f'could not fetch checkpoint {filename!r} ({type(e).__name__}: {e}). nas_det '
                'never downloads at run time: download the file yourself and set the '
                "checkpoint to its local path, or train from scratch with init_cfg=None "
                '(and frozen_stages=-1, norm_eval=False for a backbone).') from None
    load.__name__ = getattr(loader, '__name__', 'load')
    return load


# ---- save ----------------------------------------------------------------------
def _safe_saver(save):
    def save_checkpoint(checkpoint, filename, *args, **kwargs):
        return save(to_plain(checkpoint), filename, *args, **kwargs)
    save_checkpoint.__wrapped__ = save
    save_checkpoint.__doc__ = save.__doc__
    return save_checkpoint


_installed = False


def install() -> None:
    """Patch mmengine's checkpoint save and load (idempotent; called by ``import nas_det``)."""
    global _installed
    if _installed:
        return
    from mmengine.runner import checkpoint as ckpt_mod
    from mmengine.runner import runner as runner_mod
    CheckpointLoader = ckpt_mod.CheckpointLoader
    for prefixes in (('http://', 'https://'), ('modelzoo://', 'torchvision://'),
                     ('open-mmlab://', 'openmmlab://'), ('mmcls://',)):
        stock = CheckpointLoader._schemes.get(prefixes[0])
        if stock is not None:
            CheckpointLoader.register_scheme(prefixes, _offline_wrapper(stock), force=True)
    CheckpointLoader.register_scheme('', _load_from_local, force=True)
    saver = _safe_saver(ckpt_mod.save_checkpoint)
    ckpt_mod.save_checkpoint = saver
    runner_mod.save_checkpoint = saver
    _installed = True
