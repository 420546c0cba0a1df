"""Distributed set-up that also works without a GPU.

On CUDA machines mmengine's stock path (nccl, ``init_dist``) is kept. Without CUDA,
mmengine's ``init_dist`` for the ``pytorch`` launcher calls ``torch.cuda.set_device`` and
its default wrapper passes ``device_ids=[LOCAL_RANK]`` to DDP, both of which fail on CPU
modules. So without CUDA we initialise a gloo process group ourselves, before the Runner is
built (mmengine then skips its own init), and ask for a DDP wrapper with
``device_ids=None``. ``find_unused_parameters`` has to live inside that wrapper config
(mmengine ignores the top-level key once a wrapper config is given): a supernet leaves
most choices unused at every step.
"""
from __future__ import annotations

import os
import subprocess

import torch
import torch.distributed as dist

LAUNCHERS = ('none', 'pytorch', 'slurm')


def _slurm_env(port: int | None = None) -> None:
    """Fill torch.distributed's environment from SLURM's, as mmengine does."""
    rank = int(os.environ['SLURM_PROCID'])
    world = int(os.environ['SLURM_NTASKS'])
    nodes = os.environ['SLURM_NODELIST']
    addr = subprocess.getoutput(f'scontrol show hostname {nodes} | head -n1')
    os.environ.setdefault('MASTER_ADDR', addr)
    os.environ.setdefault('MASTER_PORT', str(port or 29500))
    os.environ['WORLD_SIZE'] = str(world)
    os.environ['RANK'] = str(rank)
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')


def setup_distributed(cfg, launcher: str) -> None:
    """Prepare ``cfg`` (an mmengine ``Config``) for ``launcher``, in place.

    With CUDA, or with ``launcher='none'``, only ``cfg.launcher`` is set and mmengine does
    the rest. Without CUDA the gloo group is started here and the model wrapper config is
    set for CPU modules.
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f'launcher: {launcher!r} is not allowed; allowed values: {list(LAUNCHERS)}')
    cfg.launcher = launcher
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher == 'slurm':
        _slurm_env(cfg.get('env_cfg', {}).get('dist_cfg', {}).get('port'))
    if not dist.is_initialized():
        for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
            if key not in os.environ:
                raise RuntimeError(f'launcher {launcher!r}: environment variable {key} is not '
                                   'set; start with torchrun (pytorch) or srun (slurm)')
        dist.init_process_group('gloo', init_method='env://')
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    wrapper.setdefault('find_unused_parameters', bool(cfg.get('find_unused_parameters', False)))
    cfg.model_wrapper_cfg = wrapper
    env = cfg.setdefault('env_cfg', {})
    env.setdefault('dist_cfg', {})['backend'] = 'gloo'
