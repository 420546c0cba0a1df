# DetNAS supernet pre-training on ImageNet-1k (the paper's first step): mmpretrain's
# ImageClassifier over the 20-block ShuffleNetV2 supernet (300M space), one uniformly
# random path per iteration. Settings of the official DetNAS supernet training: 300k
# iterations of 1024 images (8 GPUs x 128), SGD lr 0.5 decayed linearly to 0, momentum
# 0.9, weight decay 4e-5 (none on norm layers and biases), label smoothing 0.1, 224 input.
# (The official code draws each path uniformly within a FLOPs bin between 290M and 360M;
# UniformSamplingHook draws it uniformly from the whole space.)
#   torchrun --nproc_per_node 8 tools/search.py configs/detnas/shufflenet-300M-supernet_imagenet-cls.py --launcher pytorch
# writes work_dirs/shufflenet-300M-supernet_imagenet-cls/iter_300000.pth, which the
# *_coco.py detection configs start their backbone from. Nothing is downloaded: set
# data_root (configs/_base_/datasets/imagenet.py) to your copy.
# Validation accuracy is that of the last sampled path with BN statistics shared by all
# paths: a progress signal, not a path's accuracy.
# Cost: 35.3 s per training iteration of batch 128 (timed at 32, scaled linearly) per GPU at
# 224x224 on 1 CPU thread of a shared 2-core machine, load 4.4 (CPU figure, measured by
# bench/config_cost.py; no GPU run yet) x 300,000 iterations x 8 GPUs = 23,541 CPU-hours. GPU
# hours not yet measured.
_base_ = [
    '../_base_/models/shufflenet-300M-supernet_cls.py',
    '../_base_/datasets/imagenet.py',
    '../_base_/default_runtime_cls.py',
]
model = dict(head=dict(loss=dict(
    _delete_=True, type='LabelSmoothLoss', label_smooth_val=0.1, mode='original',
    loss_weight=1.0)))

max_iters = 300000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=10000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.5, momentum=0.9, weight_decay=4e-5),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=0, end=max_iters),
]
# lr is set for 1024 images per iteration; `--cfg-options auto_scale_lr.enable=True`
# scales it to another total batch
auto_scale_lr = dict(enable=False, base_batch_size=1024)
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=10000, max_keep_ckpts=3))

# The paper's recipe (uniform from the first iteration). For a supernet trained from scratch
# on little data, the warm-start recipe (docs/experiments/detnas_supernet.md) with N the
# schedule's iterations:
# custom_hooks = [dict(type='UniformSamplingHook', seed=0, warmup_path='shuffle3x3',
#     warmup_iters=N // 4, op_curriculum=dict(shuffle5x5=N // 4, shuffle7x7=N // 4,
#     xception3x3=N // 4), ramp_iters=N // 2)]
custom_hooks = [dict(type='UniformSamplingHook', seed=0)]
# three of four choices of every block are idle at each step
find_unused_parameters = True
