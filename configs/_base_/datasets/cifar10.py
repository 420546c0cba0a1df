# CIFAR-10 on your disk, in its standard python layout, which mmpretrain's CIFAR10 dataset
# reads: <data_root>/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}.
# download=False: a missing or incomplete copy fails with mmpretrain's error naming the
# folder instead of being downloaded. Set data_root to where it lives.
# Input 64x64: the 32x32 images are upscaled x2 (after padding-crop jitter), so the
# stride-32 supernet ends on a 2x2 map instead of 1x1. The images are decoded as RGB;
# normalisation as our detection configs' (ImageNet mean/std on RGB), so a detector
# initialised from this backbone sees the input statistics it was pre-trained on.
dataset_type = 'CIFAR10'
data_root = 'data/cifar10'
img_size = 64
data_preprocessor = dict(
    num_classes=10,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=False)

train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=128,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', download=False,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=256,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='test', download=False,
                 pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
