# mmdet's RetinaNet with a ResNet-18 trained from scratch (no download): the small
# baseline detector and NAS-FPN's proxy-task model.
_base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'
model = dict(
    backbone=dict(depth=18, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512]),
    bbox_head=dict(num_classes=10))
