"""Train and evaluate a whole model (backbone, neck and head) in the channels_last layout."""
from __future__ import annotations

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


def to_channels_last(model: nn.Module) -> nn.Module:
    """Put every 4-D parameter and buffer of ``model`` in the channels_last (NHWC) layout,
    in place, and let a DetNAS ShuffleNetV2 backbone hand NHWC maps to the neck (it
    converts them back to NCHW otherwise). A conv with NHWC weights writes NHWC output
    whatever its input's layout, so the images and every later activation follow.
    Returns ``model``."""
    model.to(memory_format=torch.channels_last)
    for m in model.modules():
        if hasattr(m, 'nhwc_outputs'):
            m.nhwc_outputs = True
    return model


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """The whole model in channels_last before training, validation and testing
    (:func:`to_channels_last`)::

        custom_hooks = [dict(type='ChannelsLastHook')]

    On CPUs (oneDNN) NHWC convolutions and their backward passes are faster; with a DetNAS
    supernet whose backbone already runs NHWC (``channels_last=True``) a RetinaNet training
    step took 1-4% less (``bench/detnas.py --peer-dir``, docs/experiments/
    supernet_training_speed.md). The arithmetic is the same but summed in another order,
    so losses and gradients agree with the NCHW model to float rounding, not bit for bit.
    Parameters keep their names and shapes, so checkpoints load either way; optimizer
    state built after the conversion follows the parameters' layout.
    """

    priority = 'VERY_HIGH'

    def _convert(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if getattr(model, '_nas_det_channels_last', False):
            return
        to_channels_last(model)
        model._nas_det_channels_last = True
        print_log('ChannelsLastHook: the model runs in the channels_last (NHWC) layout',
                  logger='current')

    def before_train(self, runner) -> None:
        self._convert(runner)

    def before_val(self, runner) -> None:
        self._convert(runner)

    def before_test(self, runner) -> None:
        self._convert(runner)
