"""Hooks of nas_det (registered in mmengine's root HOOKS registry)."""
from __future__ import annotations

import json
import os.path as osp
import random

from mmengine.dist import broadcast_object_list, get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from ..strategies.base import rng_state, set_rng_state


def searchable_modules(model) -> list:
    """``[(name, module)]`` of every module of ``model`` that has ``set_choices`` and a
    ``search_space`` (a one-shot supernet backbone or neck), in module order."""
    if is_model_wrapper(model):
        model = model.module
    return [(n, m) for n, m in model.named_modules()
            if callable(getattr(m, 'set_choices', None)) and hasattr(m, 'search_space')]


@HOOKS.register_module()
class UniformSamplingHook(Hook):
    """Single-path one-shot training: a uniformly random path every iteration.

    Before each training iteration, every module of the model that has ``set_choices``
    and a ``search_space`` gets a path sampled uniformly from its space. Rank 0 samples
    with the hook's own seeded RNG and broadcasts, so every rank trains the same path.
    The RNG state is saved in checkpoints, so a resumed run samples exactly what an
    uninterrupted one would.

    `Single Path One-Shot Neural Architecture Search with Uniform Sampling
    <https://arxiv.org/abs/1904.00420>`_, as used by DetNAS.

    Args:
        seed (int): seed of the sampling RNG. Defaults to 0.
        log_paths (bool): append every sampled path to
            ``<work_dir>/sampled_paths.rank<r>.jsonl``. Defaults to False.
    """

    priority = 'HIGH'
    CKPT_KEY = 'nas_det_uniform_sampling'

    def __init__(self, seed: int = 0, log_paths: bool = False):
        self.rng = random.Random(seed)
        self.log_paths = log_paths
        self._modules = None

    def before_train(self, runner) -> None:
        self._modules = searchable_modules(runner.model)
        if not self._modules:
            raise ValueError('UniformSamplingHook: the model has no module with set_choices() '
                             'and search_space (is the backbone a supernet, e.g. '
                             'ShuffleNetV2Supernet?)')

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        paths = [m.search_space.sample(self.rng) for _, m in self._modules] \
            if get_rank() == 0 else [None] * len(self._modules)
        broadcast_object_list(paths, src=0)
        for (name, m), g in zip(self._modules, paths):
            m.set_choices(g)
        if self.log_paths:
            with open(osp.join(runner.work_dir, f'sampled_paths.rank{get_rank()}.jsonl'), 'a') as f:
                f.write(json.dumps({'iter': runner.iter, 'paths': {
                    n or 'model': str(g) for (n, _), g in zip(self._modules, paths)}}) + '\n')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[self.CKPT_KEY] = rng_state(self.rng)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.CKPT_KEY in checkpoint:
            set_rng_state(self.rng, checkpoint[self.CKPT_KEY])
