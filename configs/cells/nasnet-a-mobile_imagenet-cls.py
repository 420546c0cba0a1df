# NASNet-A Mobile 4@1056 on ImageNet with mmpretrain (8 GPUs): the mobile layout (conv stem
# stride 2, two stem cells, N=4 cells per stage, F=44: 5.3M parameters, 564M mult-adds at
# 224), any genotype at model.backbone.genotype (a search's cell_export phase writes this
# file with the searched cells inline).
# From NASNet's TF mobile_imagenet_config: auxiliary head (weight 0.4) on the stage before
# the last reduction (14x14 at 224), dropout 0.5 before the classifier, label smoothing
# 0.1, no drop-path (keep probability 1.0). Ours, not TF's (which uses RMSProp and
# exponential decay): SGD lr 0.4 for 8 x 128 images, momentum 0.9, weight decay 4e-5
# off norms and biases, 5 warm-up epochs then cosine over 300 epochs.
#   bash tools/dist_train.sh ... or torchrun --nproc_per_node 8 tools/search.py \
#       configs/cells/nasnet-a-mobile_imagenet-cls.py --launcher pytorch
# Nothing is downloaded: set data_root in configs/_base_/datasets/imagenet.py.
# Cost: 68.3 s per training iteration of batch 128 (timed at 32, scaled linearly) per GPU at
# 224x224 on 1 CPU thread of a shared 2-core machine, load 4.1 (CPU figure, measured by
# bench/config_cost.py; no GPU run yet) x 375,300 iterations x 8 GPUs = 56,957 CPU-hours. GPU
# hours not yet measured.
_base_ = [
    '../_base_/datasets/imagenet.py',
    '../_base_/default_runtime_cls.py',
]
model = dict(
    type='CellImageClassifier',
    backbone=dict(
        type='CellNetBackbone',
        genotype='nasnet_a',
        layout='mobile',
        cells_per_stage=4,
        filters=44,
        out_indices=(2, 3),
        drop_path_rate=0.0,
        init_cfg=None),
    head=dict(
        type='CellClsHead',
        num_classes=1000,
        in_channels=None,
        aux_in_channels='auto',
        aux_feat_size=14,
        aux_weight=0.4,
        dropout=0.5,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, loss_weight=1.0),
        topk=(1, 5)))

epoch_iters = 1251  # 1,281,167 images / (8 x 128)
max_iters = 300 * epoch_iters
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=5 * epoch_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.4, momentum=0.9, weight_decay=4e-5, nesterov=True),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=5 * epoch_iters),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=5 * epoch_iters, end=max_iters,
         T_max=max_iters - 5 * epoch_iters),
]
default_hooks = dict(logger=dict(interval=100),
                     checkpoint=dict(interval=5 * epoch_iters, max_keep_ckpts=3))
# drop_path_rate is 0 here; with a rate > 0 add dict(type='DropPathScheduleHook')
custom_hooks = []
auto_scale_lr = dict(base_batch_size=1024)
