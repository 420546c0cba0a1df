# MorphNet on a ResNet-18 classifier (mmpretrain ImageClassifier over WidthResNet, the
# stock ResNet-18 widths, CIFAR stem) on the embedded digits, CPU-sized: 32x32 input,
# 300 iterations.
#   python tools/search.py configs/morphnet/resnet18-width_morphnet_digits-cls.py
# phase 'train': trains with the FLOP-weighted regularizer on the BN scales (logged:
#   morphnet_flops = live backbone multiply-adds, morphnet_loss, morphnet_strength);
# phase 'morphnet': shrinks (|gamma| <= 0.1 dropped), expands all widths by one
#   multiplier back to the original backbone FLOPs, writes shrunk/ and expanded/
#   (config.py with the widths as data, model.pth sliced to the kept channels),
#   morphnet_summary.json and morphnet.png.
_base_ = [
    '../_base_/datasets/digits_cls.py',
    '../_base_/schedules/iter_sgd.py',
    '../_base_/default_runtime_cls.py',
]
img_size = 32
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='WidthResNet', depth=18, widths=None, out_indices=(3, ), frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False, init_cfg=None,
        # 32x32 input: the CIFAR stem (3x3 stride 1, no max-pool) instead of ImageNet's,
        # which leaves 8x8 maps before the first stage; residual branches start at unit BN
        # scale (zero-init stalled our 200-iteration runs near chance level)
        stem='cifar', zero_init_residual=False),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead', num_classes=10, in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, )))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.6, 1.0)),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 300
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=30, end=max_iters,
         T_max=max_iters - 30),
]
# SGD (the base schedule's: lr 0.05, momentum 0.9): the penalty moves a scale by
# lr * strength * (what its channel costs), so the strength sets the pruning speed; with
# Adam every scale would move by about lr per step whatever its cost.
# strength_factor 5: the paper's 1 / initial cost times 5, for a run of a few hundred
# iterations (the paper trains for tens of thousands).
optim_wrapper = dict(
    type='MorphNetOptimWrapper',
    constructor='MorphNetOptimWrapperConstructor',
    optimizer=dict(lr=0.05),
    morphnet=dict(input_shape=(3, img_size, img_size), cost='flops', threshold=0.1,
                  strength_factor=5.0, warmup_iters=20, scope='backbone'))
default_hooks = dict(checkpoint=dict(interval=max_iters))
phases = ['train', 'morphnet']
morphnet_export = dict(budget=None, budget_ratio=1.0, budget_scope='backbone', divisor=8,
                       mode='under')
