# The embedded digit classification set (32x32 RGB crops of real MNIST digits, 10 classes),
# built by `python tools/make_data.py cls --out data/digits_cls`, read by mmpretrain's
# CustomDataset from its annotation files (meta/{train,val}.txt).
# Input 64x64: the supernet has stride 32, so 32x32 inputs would end on a 1x1 map; upscaled
# x2 the last stage sees 2x2 and the digits are about the size they have in the detection
# set. Normalisation as the detection configs' (ImageNet mean/std, BGR -> RGB), so the
# pre-trained backbone sees the same input statistics after the switch to detection.
dataset_type = 'CustomDataset'
data_root = 'data/digits_cls'
metainfo = dict(classes=('0', '1', '2', '3', '4', '5', '6', '7', '8', '9'))
img_size = 64
data_preprocessor = dict(
    num_classes=10,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    # scale jitter and slight crops; no flips (a mirrored digit is another shape)
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.6, 1.0)),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='meta/train.txt',
        data_prefix='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=50,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='meta/val.txt',
        data_prefix='val',
        test_mode=True,
        pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
