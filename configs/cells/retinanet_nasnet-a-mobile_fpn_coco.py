# RetinaNet + FPN on COCO with a NASNet-A Mobile backbone (4@1056, stages at strides 8,
# 16, 32 into FPN P3-P7), the 1x schedule by iterations (90k x 16 images, 8 GPUs). Any genotype at
# model.backbone.genotype (a search's cell_export phase writes this file with the searched
# cells inline and neck.in_channels recomputed). Start the backbone from an ImageNet
# classifier of nasnet-a-mobile_imagenet-cls.py:
#   --cfg-options model.backbone.init_cfg.type=Pretrained \
#       model.backbone.init_cfg.prefix=backbone. model.backbone.init_cfg.checkpoint=PATH
# (a cell network's BN statistics are those of small ImageNet batches: keep norm_eval on).
# Cost: 68.2 s per training iteration of batch 2 per GPU at 800x1333 on 1 CPU thread of a shared
# 2-core machine, load 4.3 (CPU figure, measured by bench/config_cost.py; no GPU run yet) x 90,000
# iterations x 8 GPUs = 13,648 CPU-hours. GPU hours not yet measured.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/iter_90k_coco.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(
        _delete_=True,
        type='CellNetBackbone',
        genotype='nasnet_a',
        layout='mobile',
        cells_per_stage=4,
        filters=44,
        out_indices=(1, 2, 3),
        drop_path_rate=0.0,
        frozen_stages=0,
        norm_eval=True,
        init_cfg=None),
    # CellNetBackbone('nasnet_a', layout='mobile', cells_per_stage=4, filters=44).out_channels
    neck=dict(in_channels=[264, 528, 1056], start_level=0, add_extra_convs='on_input'),
    bbox_head=dict(num_classes=80))
optim_wrapper = dict(optimizer=dict(lr=0.01), clip_grad=dict(max_norm=35, norm_type=2))
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=10000, max_keep_ckpts=3))
