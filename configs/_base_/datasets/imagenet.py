# ImageNet-1k on your disk, in the layout mmpretrain's ImageNet dataset reads:
#   <data_root>/train/<wnid>/*.JPEG, <data_root>/val/<wnid>/*.JPEG
# (or flat folders listed in <data_root>/meta/{train,val}.txt). Nothing is downloaded:
# set data_root (here or with --cfg-options) to where it lives.
# Augmentation of the official DetNAS supernet pre-training: random resized crop to 224,
# colour jitter 0.4, horizontal flip; test: short side 256, centre crop 224. Normalisation
# as our detection configs' (ImageNet mean/std, BGR -> RGB), so the detector sees the
# input statistics the backbone was pre-trained on.
dataset_type = 'ImageNet'
data_root = 'data/imagenet'
data_preprocessor = dict(
    num_classes=1000,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=128,  # per GPU: 8 GPUs x 128 = 1024
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val',
                 pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
