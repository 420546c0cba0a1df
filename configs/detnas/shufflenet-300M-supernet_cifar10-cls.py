# DetNAS supernet pre-training on CIFAR-10 (a small stand-in for the paper's ImageNet
# pre-training, one GPU): mmpretrain's ImageClassifier over the 20-block ShuffleNetV2
# supernet (300M space), one uniformly random path per iteration, 64x64 input (CIFAR
# upscaled x2). 80k iterations of 128 images (~205 epochs), SGD lr 0.1 with cosine decay,
# momentum 0.9, weight decay 5e-4 (none on norm layers and biases).
#   python tools/search.py configs/detnas/shufflenet-300M-supernet_cifar10-cls.py
# Nothing is downloaded (download=False): set data_root
# (configs/_base_/datasets/cifar10.py) to the folder holding cifar-10-batches-py/.
# Validation accuracy is that of the last sampled path with BN statistics shared by all
# paths: a progress signal, not a path's accuracy.
# Cost: 3.6 s per training iteration of batch 128 (timed at 32, scaled linearly) at 64x64 on 1 CPU
# thread of a shared 2-core machine, load 4.9 (CPU figure, measured by bench/config_cost.py; no
# GPU run yet) x 80,000 iterations = 79 CPU-hours. GPU hours not yet measured.
_base_ = [
    '../_base_/models/shufflenet-300M-supernet_cls.py',
    '../_base_/datasets/cifar10.py',
    '../_base_/default_runtime_cls.py',
]
model = dict(head=dict(num_classes=10, topk=(1, )))

max_iters = 80000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=4000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=1000),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=1000, end=max_iters,
         T_max=max_iters - 1000),
]
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=4000, max_keep_ckpts=3))

# The paper's recipe (uniform from the first iteration). For a supernet trained from scratch
# on little data, the warm-start recipe (docs/experiments/detnas_supernet.md) with N the
# schedule's iterations:
# custom_hooks = [dict(type='UniformSamplingHook', seed=0, warmup_path='shuffle3x3',
#     warmup_iters=N // 4, op_curriculum=dict(shuffle5x5=N // 4, shuffle7x7=N // 4,
#     xception3x3=N // 4), ramp_iters=N // 2)]
custom_hooks = [dict(type='UniformSamplingHook', seed=0)]
# three of four choices of every block are idle at each step
find_unused_parameters = True
