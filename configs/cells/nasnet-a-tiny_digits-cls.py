# Pretraining a cell network on classification with mmpretrain: NASNet-A cells (any
# genotype: set model.backbone.genotype, e.g. a search's best_genotype.json dict) in the
# mobile (ImageNet) layout at tiny width (N=1 cell per stage, F=16), on the embedded
# digits at 64x64 (configs/_base_/datasets/digits_cls.py). NASNet's training tricks are on:
# the auxiliary classifier (weight 0.4) on the stage before the last reduction, and
# ScheduledDropPath (DropPathScheduleHook: the drop-path probability grows linearly from 0
# to drop_path_rate over the run). CPU-sized: 300 iterations of batch 32 (about 2.5
# minutes on 2 CPU cores; 55.4% top-1 on the 1,000 val digits, 2026-11-28).
#   python tools/search.py configs/cells/nasnet-a-tiny_digits-cls.py
# writes work_dirs/nasnet-a-tiny_digits-cls/iter_300.pth; its 'backbone.*' weights start the
# detector of retinanet_nasnet-a-tiny_fpn_digits-from-cls.py (same layout, N and F).
_base_ = [
    '../_base_/datasets/digits_cls.py',
    '../_base_/default_runtime_cls.py',
]
backbone = dict(
    type='CellNetBackbone',
    genotype='nasnet_a',
    layout='mobile',       # conv stem + 2 stem cells: stages at strides 4, 8, 16, 32
    cells_per_stage=1,
    filters=16,
    out_indices=(2, 3),    # the auxiliary classifier reads stage 2, the classifier stage 3
    drop_path_rate=0.1,
    frozen_stages=-1,
    norm_eval=False,
    init_cfg=None)
model = dict(
    type='CellImageClassifier',  # an ImageClassifier whose head widths follow the genotype
    backbone=backbone,
    head=dict(
        type='CellClsHead',
        num_classes=10,
        in_channels=None,        # from the backbone
        aux_in_channels='auto',  # from the backbone
        aux_feat_size=4,         # stage 2 at 64x64 input (stride 16)
        aux_weight=0.4,
        dropout=0.0,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))

max_iters = 300
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=5, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=30, end=max_iters,
         T_max=max_iters - 30),
]
default_hooks = dict(checkpoint=dict(interval=max_iters))
custom_hooks = [dict(type='DropPathScheduleHook')]
