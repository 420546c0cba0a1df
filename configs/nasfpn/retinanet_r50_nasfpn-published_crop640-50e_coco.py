# RetinaNet R-50 NAS-FPN on COCO, the published 7-cell pyramid built from our genotype
# (nas_det.space.published.NASFPN_7CELL) by NASFPNNeck: mmdet's
# nas_fpn/retinanet_r50_nasfpn_crop640-50e_coco.py (640x640 crops, pad_size_divisor=128,
# BN in neck and head, 50 epochs) with the neck replaced; mmdet reports 40.5 box AP.
# The R-50 starts from torchvision's ImageNet weights as in mmdet: download them first
# (nas_det never downloads at run time). Trains with mmdet's tools/train.py:
#   python $MMDET/.mim/tools/train.py configs/nasfpn/retinanet_r50_nasfpn-published_crop640-50e_coco.py
# The export phase of the NAS-FPN searches writes this config with the searched pyramid.
# Cost: 74.7 s per training iteration of batch 8 per GPU at 640x640 on 1 CPU thread of a shared
# 2-core machine, load 4.2 (CPU figure, measured by bench/config_cost.py; no GPU run yet) x 91,650
# iterations (50 epochs x 1,833 iterations of 117,266 images) x 8 GPUs = 15,207 CPU-hours. GPU
# hours not yet measured.
_base_ = 'mmdet::nas_fpn/retinanet_r50_fpn_crop640-50e_coco.py'
custom_imports = dict(imports=['nas_det'], allow_failed_imports=False)
model = dict(
    data_preprocessor=dict(pad_size_divisor=128),
    neck=dict(
        _delete_=True,
        type='NASFPNNeck',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        num_outs=5,
        stack_times=7,
        start_level=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        genotype='nasfpn_7cell'))
