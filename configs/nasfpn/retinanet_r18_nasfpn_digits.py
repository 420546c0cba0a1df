# The NAS-FPN proxy-task detector on the embedded digits: RetinaNet with mmdet's ResNet-18
# at half width (base_channels=32, standing in for the paper's ResNet-10 proxy backbone)
# from scratch, a NAS-FPN neck of 7 merging cells (one stack, 64 channels) and a light
# head, 256x256 images padded to a multiple of 128 (P7 = stride 128). Trains alone with
# tools/search.py or mmdet's tools/train.py (the published pyramid by default); the
# searches beside it put each candidate pyramid into model.neck.genotype.
_base_ = [
    '../_base_/models/retinanet_r18_lite_fpn.py',
    '../_base_/datasets/digits_det_256.py',
    '../_base_/schedules/iter_sgd.py',
    '../_base_/default_runtime.py',
]
channels = 64
model = dict(
    data_preprocessor=dict(pad_size_divisor=128),
    backbone=dict(base_channels=32),
    neck=dict(
        _delete_=True,
        type='NASFPNNeck',
        in_channels=[32, 64, 128, 256],
        out_channels=channels,
        num_outs=5,
        stack_times=1,
        start_level=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        genotype='nasfpn_7cell'),
    bbox_head=dict(in_channels=channels, feat_channels=channels,
                   norm_cfg=dict(type='BN', requires_grad=True)))
