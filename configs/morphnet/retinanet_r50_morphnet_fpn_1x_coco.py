# MorphNet (Gordon et al. 2018, https://arxiv.org/abs/1711.06798) on COCO: mmdet's
# RetinaNet R-50 FPN 1x with a FLOP-weighted group-lasso on the backbone's BN scales,
# then shrink and expand back to the original detector's FLOPs.
#   torchrun --nproc_per_node 8 tools/search.py configs/morphnet/retinanet_r50_morphnet_fpn_1x_coco.py --launcher pytorch [--resume]
# phase 'train': mmdet's 1x schedule (12 epochs of train2017, batch 2 x 8 GPUs, SGD 0.01)
#   with the regularizer (cost of a conv = H_out*W_out*kh*kw*alive_in*alive_out at the
#   input 1x3x800x1344; strength_factor 1 = strength about 1/initial cost; alive
#   threshold 0.1 on |gamma|; the FPN's input convs count: scope 'detector'); BN scales
#   train (norm_eval=False: MorphNet reads them; the R-50 starts from torchvision's
#   ImageNet weights as in mmdet: download them first, nothing is downloaded at run time);
# phase 'morphnet': shrink to the alive channels, expand every width by one multiplier
#   until the whole detector's FLOPs equal the original's (budget_ratio=1.0, scope
#   'detector'), export shrunk/ and expanded/ configs (WidthResNet backbone, widths as
#   data, FPN in_channels to match) with sliced checkpoints, and the uniformly
#   width-scaled R-50 at the same cost (the paper's baseline); retrain both with the 1x
#   schedule and compare box AP on val2017.
# The paper's settings kept: FLOP cost, threshold 0.1, one shrink/expand round
# (the paper iterates it optionally); its own experiments are classification (ImageNet,
# JFT), so the detection schedule is mmdet's 1x, not a paper figure.
#
# The cost below is the regularized training only: retraining the expanded network costs
# about as much again.
# Cost: 81.6 s per training iteration of batch 2 per GPU at 800x1333 on 1 CPU thread of a shared
# 2-core machine, load 4.8 (CPU figure, measured by bench/config_cost.py; no GPU run yet) x 87,960
# iterations (12 epochs x 7,330 iterations of 117,266 images) x 8 GPUs = 15,949 CPU-hours. GPU
# hours not yet measured.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['nas_det'], allow_failed_imports=False)
model = dict(backbone=dict(frozen_stages=-1, norm_eval=False))
optim_wrapper = dict(
    type='MorphNetOptimWrapper',
    constructor='MorphNetOptimWrapperConstructor',
    morphnet=dict(input_shape=(3, 800, 1344), cost='flops', threshold=0.1,
                  strength_factor=1.0, warmup_iters=500, scope='detector'))
phases = ['train', 'morphnet']
morphnet_export = dict(budget=None, budget_ratio=1.0, budget_scope='detector', divisor=8,
                       mode='under')
