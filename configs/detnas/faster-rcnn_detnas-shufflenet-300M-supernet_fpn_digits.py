# DetNAS supernet training under Faster R-CNN + FPN (the paper's "FPN" detector).
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py',
    '../_base_/models/detnas_shufflenet-300M_supernet.py',
    '../_base_/datasets/digits_det_256.py',
    '../_base_/schedules/iter_sgd.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(_base_.supernet_backbone, _delete_=True),
    neck=dict(in_channels=[64, 160, 320, 640]),
    roi_head=dict(bbox_head=dict(num_classes=10)))
optim_wrapper = dict(optimizer=dict(lr=0.02))
# Warm-start recipe (docs/experiments/detnas_supernet.md): the all-shuffle3x3 path alone for
# the first quarter of the 300 iterations, its weights copied into every other choice, then
# the other ops ramp into the sampling over half of the schedule.
# The paper's recipe: custom_hooks = [dict(type='UniformSamplingHook', seed=0)]
custom_hooks = [
    dict(type='UniformSamplingHook', seed=0, warmup_path='shuffle3x3', warmup_iters=75,
         op_curriculum=dict(shuffle5x5=75, shuffle7x7=75, xception3x3=75), ramp_iters=150)
]
find_unused_parameters = True
