# The NAS-FPN proxy child (Ghiasi et al. 2019, sec. 3/4): RetinaNet with a ResNet-10
# backbone (ResNet10: mmdet's ResNet with one basic block per stage), 512x512 inputs, a
# NASFPNNeck pyramid at 256 channels (the genotype the search fills in; the published
# 7-cell pyramid by default), BN in neck and head as mmdet's NAS-FPN RetinaNet. One child
# is trained by ProxyTrainEvaluator for `proxy_iters` iterations (see the search config).
# The backbone starts from scratch here (init_cfg=None): mmdet has no ResNet-10 ImageNet
# checkpoint; set model.backbone.init_cfg to one if you have it (the first block of each
# stage of a ResNet-18 checkpoint loads by name).
#   python tools/search.py configs/nasfpn/retinanet_r10_nasfpn_proxy-512_coco.py  # trains the published pyramid
# Cost: 102.1 s per training iteration of batch 8 per GPU at 512x512 on 1 CPU thread of a shared
# 2-core machine, load 4.2 (CPU figure, measured by bench/config_cost.py; no GPU run yet) x 91,650
# iterations (50 epochs x 1,833 iterations of 117,266 images) x 8 GPUs = 20,790 CPU-hours. GPU
# hours not yet measured.
_base_ = './retinanet_r50_nasfpn-published_crop640-50e_coco.py'
img_size = 512
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(
        batch_augments=[dict(type='BatchFixedSizePad', size=(img_size, img_size))]),
    backbone=dict(
        _delete_=True,
        type='ResNet10',
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], stack_times=1))

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomResize', scale=(img_size, img_size), ratio_range=(0.8, 1.2),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=(img_size, img_size)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
