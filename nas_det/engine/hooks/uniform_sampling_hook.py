"""``UniformSamplingHook``: single-path one-shot training of a supernet (registered in
mmengine's root HOOKS registry)."""
from __future__ import annotations

import json
import os.path as osp
import random

from mmengine.dist import broadcast_object_list, get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from ...strategies.base import rng_state, set_rng_state
from .sampling_recipe import SamplingRecipe, inherit_choice_weights


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

    Without the recipe options this is the paper's recipe. On small data and short
    schedules that recipe stalls at chance (``docs/experiments/detnas_supernet.md``);
    the options add a warm start and a curriculum (see :class:`SamplingRecipe`)::

        dict(type='UniformSamplingHook', warmup_path='shuffle3x3', warmup_iters=300,
             op_curriculum=dict(xception3x3=300), ramp_iters=600)

    trains the all-``shuffle3x3`` path alone for 300 iterations, copies its weights into
    every other choice (kernels zero-padded; ``inherit_choice_weights`` of the
    backbone), then samples the shuffle ops uniformly while ``xception3x3``'s sampling
    weight ramps from 0 to theirs over 600 iterations.

    Args:
        seed (int): seed of the sampling RNG. Defaults to 0.
        log_paths (bool): append every sampled path to
            ``<work_dir>/sampled_paths.rank<r>.jsonl``. Defaults to False.
        warmup_path (str | Sequence, optional): op name (or one option per block) of the
            path trained alone first. Defaults to None.
        warmup_iters (int): iterations of the warm-up path. Defaults to 0.
        inherit_weights (bool): at the end of the warm-up, initialise the other choices
            of every block from the warm-up op (modules with ``inherit_choice_weights``).
            Defaults to True.
        op_curriculum (dict, optional): ``{op: iteration}`` at which an op enters the
            sampling. Defaults to None (all at the end of the warm-up).
        ramp_iters (int): iterations over which an entering op's sampling weight grows
            to that of the others. Defaults to 0.
    """

    priority = 'HIGH'
    CKPT_KEY = 'nas_det_uniform_sampling'

    def __init__(self, seed: int = 0, log_paths: bool = False, warmup_path=None,
                 warmup_iters: int = 0, inherit_weights: bool = True,
                 op_curriculum: dict | None = None, ramp_iters: int = 0):
        self.rng = random.Random(seed)
        self.log_paths = log_paths
        self.recipe = SamplingRecipe(warmup_path, warmup_iters, inherit_weights, op_curriculum,
                                     ramp_iters)
        self._modules = None

    def before_train(self, runner) -> None:
        self._modules = searchable_modules(runner.model)
        if not self._modules:
            raise ValueError('UniformSamplingHook: the model has no module with set_choices() '
                             'and search_space (is the backbone a supernet, e.g. '
                             'ShuffleNetV2Supernet?)')
        for _, m in self._modules:
            self.recipe.check(m.search_space)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        it = runner.iter
        r = self.recipe
        if r.warmup_iters and it == r.warmup_iters and r.inherit_weights:
            inherit_choice_weights(self._modules, r)
        paths = [r.sample(m.search_space, it, self.rng) for _, m in self._modules] \
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
