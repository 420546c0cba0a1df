# MorphNet on a detector: RetinaNet with mmdet's own ResNet-18 (from scratch, BN scales
# trainable) and the CPU-sized FPN/head, on the embedded digits at 256x256.
#   python tools/search.py configs/morphnet/retinanet_r18_morphnet_fpn_digits.py
# phase 'train': the FLOP-weighted regularizer on the backbone's BN scales (the neck's
#   input convs count too: scope 'detector'), live FLOPs logged as morphnet_flops;
# phase 'morphnet': shrink, expand by one multiplier until the whole detector's FLOPs
#   (backbone + FPN + head, 1x3x256x256) are back at the original's, export shrunk/ and
#   expanded/ configs (WidthResNet backbone, widths as data, FPN in_channels to match)
#   with checkpoints sliced to the kept channels (the FPN's input convs sliced too).
# The exported configs train with mmdet's tools/train.py as well.
_base_ = [
    '../_base_/models/retinanet_r18_lite_fpn.py',
    '../_base_/datasets/digits_det_256.py',
    '../_base_/schedules/iter_sgd.py',
    '../_base_/default_runtime.py',
]
optim_wrapper = dict(
    type='MorphNetOptimWrapper',
    constructor='MorphNetOptimWrapperConstructor',
    morphnet=dict(input_shape=(3, 256, 256), cost='flops', threshold=0.1,
                  strength_factor=1.0, warmup_iters=50, scope='detector'))
phases = ['train', 'morphnet']
morphnet_export = dict(budget=None, budget_ratio=1.0, budget_scope='detector', divisor=8,
                       mode='under')
