"""Refuse an mmcv whose compiled ops do not match the device torch will use.

A CPU-only mmcv (built with ``FORCE_CUDA=0``) imports fine on a GPU machine and fails only
when RetinaNet's focal loss or NMS first sees a CUDA tensor, deep inside a training run.
``python -m nas_det.utils.check_mmcv`` (run by ``tools/setup_env.sh``) and
:func:`check_mmcv_ops` catch that at set-up time with one line naming the fix.
"""
from __future__ import annotations

import sys
from typing import Optional

FIX = 'rebuild it with CUDA ops: bash tools/setup_env.sh --cuda'


def mmcv_cuda_version() -> str:
    """The CUDA version mmcv's ops were compiled with, or ``'not available'`` (CPU build)."""
    from mmcv.ops import get_compiling_cuda_version
    return str(get_compiling_cuda_version())


def check_mmcv_ops(cuda_available: Optional[bool] = None,
                   compiled_cuda: Optional[str] = None) -> str:
    """Return a one-line description; raise ``RuntimeError`` for a CPU-only mmcv where
    torch sees CUDA. The arguments default to the real values (given for tests)."""
    if cuda_available is None:
        import torch
        cuda_available = torch.cuda.is_available()
    if compiled_cuda is None:
        compiled_cuda = mmcv_cuda_version()
    cpu_only = compiled_cuda.strip().lower() in ('', 'not available', 'none')
    if cuda_available and cpu_only:
        raise RuntimeError('mmcv was built without CUDA ops (compiled CUDA version: '
                           f'{compiled_cuda!r}) but torch sees a GPU; {FIX}')
    return (f'mmcv ops compiled with CUDA {compiled_cuda}' if not cpu_only
            else 'mmcv ops compiled for CPU only') + \
        f"; torch {'sees' if cuda_available else 'sees no'} GPU"


def main() -> int:
    try:
        msg = check_mmcv_ops()
    except RuntimeError as e:
        print(f'[check_mmcv] error: {e}', file=sys.stderr)
        return 1
    print(f'[check_mmcv] ok: {msg}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
