"""ResNet-10: the proxy backbone of the NAS-FPN search (https://arxiv.org/abs/1904.07392).

The paper trains its child pyramids on a RetinaNet with a ResNet-10 backbone. ResNet-10 is
ResNet-18 with one basic block per stage instead of two (stem, then 64/128/256/512
channels at strides 4/8/16/32, output channels 64/128/256/512 as ResNet-18's). mmdet's
``ResNet`` takes its depth from a class table, so this subclass only adds depth 10 to it:
every other argument, the forward pass and the checkpoint keys are mmdet's (``conv1``,
``layer{s}.0.conv1``, ...), so the first block of each stage of a ResNet-18 checkpoint
loads by name.
"""
from mmdet.models.backbones.resnet import BasicBlock, ResNet
from mmengine.registry import MODELS


@MODELS.register_module()
class ResNet10(ResNet):
    """mmdet's ``ResNet`` with ``depth=10``: one ``BasicBlock`` per stage.

    Args:
        depth (int): only 10. Defaults to 10.
        **kwargs: any other argument of mmdet's ``ResNet`` (``out_indices``,
            ``frozen_stages``, ``norm_cfg``, ``norm_eval``, ``init_cfg``, ...).
    """

    arch_settings = {10: (BasicBlock, (1, 1, 1, 1))}

    def __init__(self, depth: int = 10, **kwargs):
        if depth not in self.arch_settings:
            raise ValueError(f'depth: {depth!r} is not allowed; allowed values: [10] '
                             '(use mmdet\'s ResNet for 18, 34, 50, 101, 152)')
        super().__init__(depth=depth, **kwargs)
