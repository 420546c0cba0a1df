# DetNAS supernet training: RetinaNet with the 20-block ShuffleNetV2 supernet backbone
# (the paper's 300M space), one uniformly random path per iteration (single-path one-shot),
# from scratch, on the embedded digits.
_base_ = [
    '../_base_/models/retinanet_r18_lite_fpn.py',
    '../_base_/models/detnas_shufflenet-300M_supernet.py',
    '../_base_/datasets/digits_det_256.py',
    '../_base_/schedules/iter_sgd.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(
        _base_.supernet_backbone,
        _delete_=True,
        # NHWC layout for the depthwise convs: ~1.14x faster training steps on CPU
        # (bench/detnas.py), the same results up to float rounding
        channels_last=True),
    neck=dict(in_channels=[64, 160, 320, 640], start_level=1))
# Warm-start recipe (docs/experiments/detnas_supernet.md): the all-shuffle3x3 path alone for
# the first quarter of the 300 iterations, its weights copied into every other choice, then
# the other ops ramp into the sampling over half of the schedule.
# The paper's recipe: custom_hooks = [dict(type='UniformSamplingHook', seed=0)]
# ChannelsLastHook: the neck and head in NHWC too, 1-4% less per step on CPU
# (docs/experiments/supernet_training_speed.md), the same results up to float rounding.
custom_hooks = [
    dict(type='UniformSamplingHook', seed=0, warmup_path='shuffle3x3', warmup_iters=75,
         op_curriculum=dict(shuffle5x5=75, shuffle7x7=75, xception3x3=75), ramp_iters=150),
    dict(type='ChannelsLastHook'),
]
# three of four choices of every block are idle at each step (also for the CPU DDP wrapper)
find_unused_parameters = True
