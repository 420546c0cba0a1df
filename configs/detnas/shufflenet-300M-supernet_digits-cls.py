# DetNAS supernet pre-training on classification (the paper pre-trains on ImageNet, then
# fine-tunes on detection): mmpretrain's ImageClassifier over the 20-block ShuffleNetV2
# supernet, one uniformly random path per iteration, on the embedded digits (64x64 input).
# CPU-sized: 600 iterations of batch 32 (~5 epochs of the 4,000 train digits).
#   python tools/search.py configs/detnas/shufflenet-300M-supernet_digits-cls.py
# writes work_dirs/shufflenet-300M-supernet_digits-cls/iter_600.pth, which
# retinanet_detnas-shufflenet-300M-supernet_fpn_digits-from-cls.py fine-tunes on detection.
# Validation accuracy is that of the last sampled path with BN statistics shared by all
# paths: a progress signal, not a path's accuracy.
_base_ = [
    '../_base_/models/shufflenet-300M-supernet_cls.py',
    '../_base_/datasets/digits_cls.py',
    '../_base_/schedules/iter_sgd.py',
    '../_base_/default_runtime_cls.py',
]
model = dict(head=dict(num_classes=10, topk=(1, )))

max_iters = 600
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=0.1, weight_decay=4e-5),
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters,
         T_max=max_iters - 50),
]
default_hooks = dict(checkpoint=dict(interval=max_iters))

# The warm-start recipe (docs/experiments/detnas_supernet.md): uniform sampling from the
# first iteration (the paper's recipe) stays at chance on a schedule this short. Instead the
# all-shuffle3x3 path trains alone for 150 iterations, its weights are copied into every
# other choice (kernels zero-padded), then the other ops enter the sampling with weights
# ramping from 0 to uniform over 300 iterations; every choice keeps its own weights.
# The paper's recipe: custom_hooks = [dict(type='UniformSamplingHook', seed=0)]
custom_hooks = [
    dict(type='UniformSamplingHook', seed=0, warmup_path='shuffle3x3', warmup_iters=150,
         op_curriculum=dict(shuffle5x5=150, shuffle7x7=150, xception3x3=150), ramp_iters=300)
]
# three of four choices of every block are idle at each step
find_unused_parameters = True
