# The DetNAS pipeline as the paper runs it (classification pre-training, detection
# fine-tuning of the supernet, search, retraining of the found path), scaled to CPU minutes:
# what `bash tools/demo.sh` (bench/detnas_demo.py) runs.
#   - the supernet backbone at half width (the 300M space's 20 blocks and four ops; stage
#     widths 32/80/160/320), pre-trained on the plain digits by the demo with the
#     warm-start recipe and loaded from `supernet_pretrain` below;
#   - detection on the easy digits (128 px, 1-4 digits of 24-64 px, no clutter; the
#     demo builds data/digits_det_easy when missing): 400 supernet iterations with a
#     uniformly random path per step (every choice is already trained, so no warm start:
#     it would overwrite them);
#   - 200 of the 800 training images held out for the search, which scores candidates
#     with BN re-estimated on the rest and COCO bbox mAP on the held-out images;
#   - a FLOPs limit of 83M at 1x3x224x224: the 300M limit scaled to half width (it keeps
#     about the same share of the space, ~75% of random paths);
#   - the pre-training's input normalisation (mean 25.5, std 76.5 on 0-255 grey), and BN
#     in the head, which a short schedule needs.
# Without the demo: `python bench/detnas_demo.py --only-pretrain` writes the checkpoint
# (or point `supernet_pretrain` at your own with --cfg-options).
_base_ = './retinanet_detnas-shufflenet-300M_search_digits.py'
data_root = 'data/digits_det_easy/'
img_scale = (128, 128)
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
supernet_pretrain = 'work_dirs/retinanet_detnas-shufflenet-300M-half_search_digits-easy/pretrain/supernet.pth'
model = dict(
    data_preprocessor=dict(mean=[25.5, 25.5, 25.5], std=[76.5, 76.5, 76.5]),
    backbone=dict(
        widen_factor=0.5,
        init_cfg=dict(_delete_=True, type='Pretrained', prefix='backbone.',
                      checkpoint=supernet_pretrain)),
    neck=dict(in_channels=[32, 80, 160, 320], out_channels=64),
    bbox_head=dict(in_channels=64, feat_channels=64,
                   norm_cfg=dict(type='BN', requires_grad=True)))
optim_wrapper = dict(optimizer=dict(lr=0.02))
max_iters = 400
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=40),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=40, end=max_iters,
         T_max=max_iters - 40),
]
default_hooks = dict(checkpoint=dict(interval=max_iters), logger=dict(interval=50))
custom_hooks = [dict(type='UniformSamplingHook', seed=0)]

heldout_split = dict(data_root=data_root, num_images=200)
heldout_evaluator = dict(ann_file=data_root + 'annotations/instances_train_search-heldout.json')
search_cfg = dict(
    evaluator=dict(num_val_images=200, bn_batches=8),
    max_flops=83e6)
