# NASNet-A 6@768 on CIFAR-10 with mmpretrain, one GPU: the paper's CIFAR network (N=6 cells
# per stage, F=32, stem x3: 3.3M parameters), any genotype at model.backbone.genotype (the
# cell_export phase of a search writes this file with the searched cells inline).
# From NASNet's TF cifar_config: auxiliary head (weight 0.4) on the stage before the second
# reduction, ScheduledDropPath with keep probability 0.6 at the last cell (drop_path_rate
# 0.4, ramped linearly over training by DropPathScheduleHook), 937,500 steps of batch 32
# (600 epochs), no dropout before the classifier. Ours, not TF's: SGD (lr 0.025, momentum
# 0.9, weight decay 5e-4 off norms and biases) with cosine decay, Cutout 16 as the paper's
# "with cutout" figure (2.65% error; 3.41% without).
#   python tools/search.py configs/cells/nasnet-a_cifar10-cls.py
# Nothing is downloaded: set data_root in configs/_base_/datasets/cifar10.py.
# Cost: 17.2 s per training iteration of batch 32 at 32x32 on 1 CPU thread of a shared 2-core
# machine, load 4.9 (CPU figure, measured by bench/config_cost.py; no GPU run yet) x 937,500
# iterations = 4,472 CPU-hours. GPU hours not yet measured.
_base_ = [
    '../_base_/datasets/cifar10.py',
    '../_base_/default_runtime_cls.py',
]
model = dict(
    type='CellImageClassifier',
    backbone=dict(
        type='CellNetBackbone',
        genotype='nasnet_a',
        layout='cifar',        # conv3x3 stem, stages at strides 1, 2, 4
        cells_per_stage=6,
        filters=32,
        out_indices=(1, 2),    # auxiliary classifier on stage 1 (16x16), classifier on 2
        drop_path_rate=0.4,
        init_cfg=None),
    head=dict(
        type='CellClsHead',
        num_classes=10,
        in_channels=None,
        aux_in_channels='auto',
        aux_feat_size=16,
        aux_weight=0.4,
        dropout=0.0,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))

# the paper trains on 32x32 (the base dataset config upscales to 64 for DetNAS)
train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='Cutout', shape=16, pad_val=0, prob=1.0),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]
train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 937500
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=15625)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.025, momentum=0.9, weight_decay=5e-4, nesterov=True),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=5, norm_type=2))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=max_iters, T_max=max_iters),
]
default_hooks = dict(logger=dict(interval=500), checkpoint=dict(interval=15625, max_keep_ckpts=3))
custom_hooks = [dict(type='DropPathScheduleHook')]
