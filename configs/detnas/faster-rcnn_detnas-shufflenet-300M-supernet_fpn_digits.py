# DetNAS supernet training under Faster R-CNN + FPN (the paper's "FPN" detector).
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py',
    '../_base_/datasets/digits_det_256.py',
    '../_base_/schedules/iter_sgd.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(
        _delete_=True,
        type='ShuffleNetV2Supernet',
        arch='300M',
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[64, 160, 320, 640]),
    roi_head=dict(bbox_head=dict(num_classes=10)))
optim_wrapper = dict(optimizer=dict(lr=0.02))
custom_hooks = [dict(type='UniformSamplingHook', seed=0)]
find_unused_parameters = True
