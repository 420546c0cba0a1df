"""Checkpoints that load with ``torch.load(weights_only=True)``, and trust by proof only.

mmengine 0.10.7 stores ``HistoryBuffer`` objects and numpy arrays in a checkpoint's
message hub; torch (since 2.6) refuses those globals under ``weights_only=True``.

What ``import nas_det`` does (:func:`install`):

* **save**: mmengine's ``save_checkpoint`` is wrapped so that every ``HistoryBuffer``,
  numpy array and numpy scalar is written as plain data (tagged dicts of tensors and
  Python scalars). The file loads with plain ``torch.load(weights_only=True)``.
* **load**: every scheme of mmengine's ``CheckpointLoader`` (local files, ``http(s)://``,
  ``torchvision://``, ``open-mmlab://``, ``mmcls://``, ... as used by ``load_from``,
  ``--resume`` and ``init_cfg=dict(type='Pretrained')``) goes through :func:`safe_load`:
  ``weights_only=True`` with exactly the globals a stock mmengine checkpoint needs
  allowed (:func:`allowed_globals`; never ``getattr``), then the tagged dicts are turned
  back into the objects mmengine expects. A checkpoint with any other global is refused
  with a one-line message naming them, unless the user vouched for that file: named it
  with ``--trust-checkpoint FILE`` (:func:`trust_file`) or listed its folder in
  ``NAS_DET_TRUSTED_DIRS``. Where a file lies (a work dir, the hub cache) is no proof.
  ``tools/upgrade_checkpoint.py`` rewrites a trusted file in the safe format once.
* **URLs**: nothing is downloaded; a URL stands for its file in torch's hub cache
  (:func:`resolve_url`), loaded as above, or raises an error that says how to train from
  scratch or point at a local file.

The patch is global (it changes mmengine's module for the whole process).
``NAS_DET_PATCH_CHECKPOINT=0`` in the environment switches it off: mmengine's own save and
load are left exactly as shipped (on torch >= 2.6 mmengine then cannot resume its own
checkpoints, whose message hub holds ``HistoryBuffer`` objects); ``1`` (the default) patches.
Any other value is a one-line error. :func:`safe_load`, :func:`read_state_dict` and
:func:`write_checkpoint`, which nas_det's tools call directly, stay safe either way.
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


class UnsafeCheckpointError(ValueError):
    """A checkpoint holds Python globals that ``weights_only=True`` refuses, and the user
    did not vouch for the file."""


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
TRUST_OPTION = '--trust-checkpoint'
TRUSTED_FILES_ENV = 'NAS_DET_TRUSTED_FILES'  # set by --trust-checkpoint, read by children


def trust_file(filename: str) -> str:
    """Allow full unpickling of ``filename`` (what ``--trust-checkpoint FILE`` does).

    Only this exact file (by real path) is trusted, in this process and the processes it
    starts; nothing else in its folder is. Returns the real path.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{TRUST_OPTION}: checkpoint {filename} does not exist')
    path = osp.realpath(filename)
    files = [f for f in os.environ.get(TRUSTED_FILES_ENV, '').split(os.pathsep) if f]
    if path not in files:
        os.environ[TRUSTED_FILES_ENV] = os.pathsep.join(files + [path])
    return path


def trusted_dirs() -> list:
    """The folders listed in ``NAS_DET_TRUSTED_DIRS`` (``os.pathsep``-separated)."""
    return [osp.realpath(osp.expanduser(d))
            for d in os.environ.get('NAS_DET_TRUSTED_DIRS', '').split(os.pathsep) if d]


def trust_reason(filename: str) -> str | None:
    """Why ``filename`` may be unpickled in full, or None: it was named with
    ``--trust-checkpoint`` or lies under a folder of ``NAS_DET_TRUSTED_DIRS``. Never
    because of where it lies otherwise (a work dir is not a proof of origin)."""
    path = osp.realpath(filename)
    if path in os.environ.get(TRUSTED_FILES_ENV, '').split(os.pathsep):
        return f'named with {TRUST_OPTION}'
    for d in trusted_dirs():
        if path.startswith(d.rstrip(os.sep) + os.sep):
            return f'it lies under {d}, listed in NAS_DET_TRUSTED_DIRS'
    return None


def is_trusted(filename: str) -> bool:
    return trust_reason(filename) is not None


def _unsafe_globals(filename: str) -> list:
    """The globals of ``filename`` that a safe load refuses (read without unpickling)."""
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(filename)
    except Exception:  # legacy (non-zip) format: cannot list without unpickling
        return ['<unknown: legacy torch.save format>']
    allowed = {_global_name(g) for g in allowed_globals()}
    return [n for n in found if n not in allowed] or list(found)


def _global_name(g) -> str:
    if isinstance(g, tuple):
        return g[1]
    return f'{g.__module__}.{g.__qualname__}'


def _history_buffer_method(obj, name):
    """Stands for ``builtins.getattr`` in a safe load, for the one use a stock mmengine
    checkpoint makes of it: ``HistoryBuffer`` pickles its statistics methods as
    ``getattr(HistoryBuffer, 'mean')`` etc. Anything else is refused."""
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and name in ('min', 'max', 'current', 'mean'):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(f'getattr({obj!r}, {name!r}) is not allowed in a safe load')


def allowed_globals() -> list:
    """What a stock mmengine checkpoint needs beyond torch's own safe set, and nothing
    more: ``HistoryBuffer`` (with its ``__setstate__``), numpy's array and scalar
    reconstructors, ``numpy.dtype`` and the dtype classes of bool, number, str and bytes
    arrays (no object arrays), and, under the name ``builtins.getattr``, a stand-in that
    returns only HistoryBuffer's four statistics methods (the real ``getattr`` is never
    allowed)."""
    from mmengine.logging import HistoryBuffer
    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]   # numpy's _reconstruct
    scalar = np.float64(0).__reduce__()[0]                # numpy's scalar
    dtypes = {type(np.dtype(c)) for c in '?bBhHiIlLqQefdgFDGSU'}
    return [HistoryBuffer, reconstruct, scalar, np.ndarray, np.dtype,
            *sorted(dtypes, key=lambda t: t.__name__),
            (_history_buffer_method, 'builtins.getattr')]


# ---- load ----------------------------------------------------------------------
def _weights_only_load(f, map_location):
    with torch.serialization.safe_globals(allowed_globals()):
        return torch.load(f, map_location=map_location, weights_only=True)


def refusal(filename: str, names) -> str:
    """The one-line message of a refused checkpoint."""
    return (f'refusing to unpickle checkpoint {filename}: it holds Python globals that a '
            f'safe load (weights_only=True) does not allow ({", ".join(names)}), and loading '
            'it could run code. Only if you made this file yourself: name it with '
            f'`{TRUST_OPTION} {filename}` (tools/search.py, tools/upgrade_checkpoint.py) or '
            'list its folder in NAS_DET_TRUSTED_DIRS; never for a file from someone else')


def safe_load(filename: str, map_location=None, trust: bool | None = None):
    """Load a checkpoint with ``weights_only=True`` and restore mmengine's objects.

    Stock mmengine checkpoints load too (see :func:`allowed_globals`). A file with other
    globals is unpickled in full only when trusted (:func:`trust_reason`); the decision
    and its warning come before anything of the file is unpickled.

    Args:
        filename (str): a local file.
        map_location: as for ``torch.load``. Defaults to None.
        trust (bool, optional): True: load a file with other globals in full. None
            (default) decides by :func:`trust_reason`.

    Raises:
        UnsafeCheckpointError: the file holds other globals and is not trusted.
        FileNotFoundError: no such file. ValueError: not a readable checkpoint.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} does not exist')
    try:
        ckpt = _weights_only_load(filename, map_location)
    except pickle.UnpicklingError:
        names = _unsafe_globals(filename)
        reason = 'trusted by the caller' if trust else trust_reason(filename)
        if trust is False or not reason:
            raise UnsafeCheckpointError(refusal(filename, names)) from None
        from mmengine.logging import print_log
        print_log(f'nas_det: unpickling {filename} in full (it holds {", ".join(names)}): '
                  f'{reason}', logger='current', level=logging.WARNING)
        ckpt = torch.load(filename, map_location=map_location, weights_only=False)
    except (RuntimeError, EOFError, ValueError) as e:
        raise ValueError(f'checkpoint {filename}: not a readable torch checkpoint '
                         f'({str(e).splitlines()[0] if str(e) else type(e).__name__})') from None
    return from_plain(ckpt)


def read_state_dict(filename: str) -> dict:
    """The tensors of a weights file someone else made, for a converter: never unpickled
    beyond ``weights_only=True`` (:func:`safe_load` with ``trust=False``; a
    ``.safetensors`` file is read as such). A checkpoint dict gives its ``state_dict``
    (or ``model``) entry; a ``module.`` prefix on every key (DataParallel) is dropped.

    Raises:
        FileNotFoundError: no such file. ValueError: unreadable, unsafe, or no tensors.
    """
    filename = osp.expanduser(filename)
    if filename.endswith('.safetensors'):
        if not osp.isfile(filename):
            raise FileNotFoundError(f'checkpoint {filename} does not exist')
        from safetensors.torch import load_file
        try:
            sd = load_file(filename, device='cpu')
        except Exception as e:  # noqa: BLE001  (safetensors raises its own error types)
            raise ValueError(f'checkpoint {filename}: not a readable safetensors file '
                             f'({str(e).splitlines()[0] if str(e) else type(e).__name__})'
                             ) from None
    else:
        sd = safe_load(filename, map_location='cpu', trust=False)
    for key in ('state_dict', 'model'):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
            break
    if not isinstance(sd, dict) or not sd or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in sd.items()):
        raise ValueError(f'checkpoint {filename}: no state dict (a dict of tensors, or one '
                         "under 'state_dict' or 'model') found")
    if all(k.startswith('module.') for k in sd):
        sd = {k[len('module.'):]: v for k, v in sd.items()}
    return dict(sd)


def write_checkpoint(ckpt: dict, filename: str) -> None:
    """Write ``ckpt`` (tensors and plain data) to ``filename`` atomically (temp file +
    rename, folders made) and prove that it loads with ``torch.load(weights_only=True)``,
    i.e. with the safe loader of ``init_cfg=dict(type='Pretrained')`` and ``load_from``."""
    os.makedirs(osp.dirname(osp.abspath(filename)), exist_ok=True)
    tmp = filename + '.tmp'
    torch.save(ckpt, tmp)
    try:
        torch.load(tmp, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as e:
        os.remove(tmp)
        raise ValueError(f'{filename}: the checkpoint holds objects that a safe load refuses '
                         f'({str(e).splitlines()[0]})') from None
    os.replace(tmp, filename)


def _load_from_local(filename, map_location=None):
    return safe_load(filename, map_location)


# ---- URL schemes ---------------------------------------------------------------
def _offline(url: str, path: str | None) -> FileNotFoundError:
    where = f' (looked for {path})' if path else ''
    put = ' (or put it at that cache path)' if path else ''
    return FileNotFoundError(
        f'checkpoint {url!r} is not in the local cache{where}; nas_det never downloads at '
        f'run time: download the file yourself and set the checkpoint to its local path{put}, '
        'or train from scratch with init_cfg=None (and frozen_stages=-1, norm_eval=False for '
        'a backbone)')


def resolve_url(url: str) -> str | None:
    """The local file a checkpoint URL stands for (torch's hub cache for http(s) and the
    names mmengine maps to URLs; mmengine's home for open-mmlab names of local files), or
    None when the name is unknown or the scheme has no local cache (pavi, s3, ...)."""
    from mmengine.runner import checkpoint as ckpt_mod
    if url.startswith(('http://', 'https://')):
        from urllib.parse import urlparse
        return osp.join(torch.hub.get_dir(), 'checkpoints', osp.basename(urlparse(url).path))
    name = url.split('://', 1)[1] if '://' in url else url
    try:
        if url.startswith(('torchvision://', 'modelzoo://')):
            target = ckpt_mod.get_torchvision_models().get(name)
        elif url.startswith(('open-mmlab://', 'openmmlab://')):
            name = ckpt_mod.get_deprecated_model_names().get(name, name)
            target = ckpt_mod.get_external_models().get(name)
            if target and not target.startswith(('http://', 'https://')):
                return osp.join(ckpt_mod._get_mmengine_home(), target)
        elif url.startswith('mmcls://'):
            target = ckpt_mod.get_mmcls_models().get(name)
        else:
            return None
    except Exception:  # the model list is unavailable (e.g. torchvision missing)
        return None
    return resolve_url(target) if target else None


def load_from_url(url, map_location=None, *args, **kwargs):
    """Every URL scheme: the locally cached file through :func:`safe_load`, never a
    download; a checkpoint from a URL is never trusted for full unpickling unless its
    cached file is named with ``--trust-checkpoint``."""
    path = resolve_url(url)
    if not path or not osp.isfile(path):
        raise _offline(url, path)
    ckpt = safe_load(path, map_location)
    if url.startswith('mmcls://'):
        from mmengine.runner.checkpoint import _process_mmcls_checkpoint
        ckpt = _process_mmcls_checkpoint(ckpt)
    return ckpt


def _load_url(url, model_dir=None, map_location=None, *args, **kwargs):
    """Stands for torch.hub's ``load_state_dict_from_url`` in mmengine's module."""
    if model_dir is not None:
        from urllib.parse import urlparse
        path = osp.join(model_dir, osp.basename(urlparse(url).path))
        if not osp.isfile(path):
            raise _offline(url, path)
        return safe_load(path, map_location)
    return load_from_url(url, map_location)


URL_SCHEMES = ('http://', 'https://', 'modelzoo://', 'torchvision://', 'open-mmlab://',
               'openmmlab://', 'mmcls://', 'pavi://', r'(\S+\:)?s3://', r'(\S+\:)?petrel://')
"""Every scheme mmengine's ``CheckpointLoader`` registers besides local files."""


# ---- save ----------------------------------------------------------------------
def _safe_saver(save):
    def save_checkpoint(checkpoint, filename, *args, **kwargs):
        return save(to_plain(checkpoint), filename, *args, **kwargs)
    save_checkpoint.__wrapped__ = save
    save_checkpoint.__doc__ = save.__doc__
    return save_checkpoint


PATCH_ENV = 'NAS_DET_PATCH_CHECKPOINT'
"""Environment variable: ``0`` leaves mmengine's checkpoint save and load unpatched."""


def patch_enabled() -> bool:
    """Whether :func:`install` patches mmengine: ``NAS_DET_PATCH_CHECKPOINT`` unset or
    ``1``: yes; ``0``: no; anything else raises a one-line ``ValueError``."""
    value = os.environ.get(PATCH_ENV, '1').strip()
    if value not in ('0', '1'):
        raise ValueError(f'{PATCH_ENV}: {value!r} is not allowed; allowed values: '
                         "'0' (leave mmengine's checkpoint loading as shipped), "
                         "'1' (the default: safe loading)")
    return value == '1'


_installed = False


def install() -> None:
    """Patch mmengine's checkpoint save and load (idempotent; called by ``import nas_det``),
    unless ``NAS_DET_PATCH_CHECKPOINT=0`` (:func:`patch_enabled`)."""
    global _installed
    if _installed or not patch_enabled():
        return
    from mmengine.runner import checkpoint as ckpt_mod
    from mmengine.runner import runner as runner_mod
    CheckpointLoader = ckpt_mod.CheckpointLoader
    CheckpointLoader.register_scheme(list(URL_SCHEMES), load_from_url, force=True)
    CheckpointLoader.register_scheme('', _load_from_local, force=True)
    # the stock loaders call each other (and torch.hub's loader) by module-level name
    for attr in ('load_from_http', 'load_from_torchvision', 'load_from_openmmlab',
                 'load_from_mmcls', 'load_from_pavi', 'load_from_ceph'):
        setattr(ckpt_mod, attr, load_from_url)
    ckpt_mod.load_url = _load_url
    ckpt_mod.load_from_local = _load_from_local
    saver = _safe_saver(ckpt_mod.save_checkpoint)
    ckpt_mod.save_checkpoint = saver
    runner_mod.save_checkpoint = saver
    _installed = True
