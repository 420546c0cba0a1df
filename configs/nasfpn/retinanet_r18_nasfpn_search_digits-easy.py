# The NAS-FPN controller search of retinanet_r18_nasfpn_search_digits.py on a proxy
# task that learns in CPU minutes, for the comparison of the two modes
# (bench/nasfpn_compare.py; the one-shot search on it:
# retinanet_r18_nasfpn-supernet_search_digits-easy.py):
# - the easy detection digits: 128x128 canvases, 1-4 digits of 24-64 px, no clutter, 800
#   train / 100 val images (data/digits_det_easy, built by
#   `python tools/make_data.py det --out data/digits_det_easy --size 128 --scale 24 64
#    --objects 1 4 --no-clutter --train 800 --val 100`);
# - every child's (and the supernet's) ResNet-18 loaded from its pretraining on the
#   classification digits and frozen, so only the searched neck and the head train
#   (`python tools/search.py configs/nasfpn/resnet18-half_digits-cls.py` first; another
#   checkpoint: --cfg-options model.backbone.init_cfg.checkpoint=<path>);
# - COCO mAP with boxes down to score 0.001 (mmdet's 0.05 keeps few boxes of a young child).
# A from-scratch RetinaNet on the full digits is still near mAP 0 after a child's training;
# this one reaches a few hundredths after 150 iterations.
_base_ = './retinanet_r18_nasfpn_search_digits.py'
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

model = dict(
    backbone=dict(
        frozen_stages=4,   # stem and all four stages: weights fixed, BN in eval mode
        norm_eval=True,
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            prefix='backbone.',
            checkpoint='work_dirs/resnet18-half_digits-cls/iter_300.pth')),
    test_cfg=dict(score_thr=0.001))
optim_wrapper = dict(optimizer=dict(lr=0.02))

# the searches, scaled to the comparison's budget (the base's phases read these by name)
controller_search = dict(
    evaluator=dict(train_iters=150, batch_size=8, num_val_images=100, val_batch_size=20),
    max_trials=6)
oneshot_search = dict(
    strategy=dict(population=6, top_k=3, num_mutation=3, num_crossover=3, generations=3),
    evaluator=dict(num_val_images=100),
    # FLOPs of the neck on the backbone maps of a 128x128 image
    cost_input_shape=[(32, 32, 32), (64, 16, 16), (128, 8, 8), (256, 4, 4)])
