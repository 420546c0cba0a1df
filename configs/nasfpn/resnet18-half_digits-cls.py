# Pretraining of the NAS-FPN proxy backbone (mmdet's ResNet-18 at half width, the one of
# retinanet_r18_nasfpn_digits.py, same stem) on the embedded classification digits, so that
# the proxy children start from a backbone that already sees digits (the paper's proxy task
# also starts from a pretrained backbone). 300 iterations of batch 32 at 64x64: ~2 min on
# 2 CPU cores. Its checkpoint feeds retinanet_r18_nasfpn_search_digits-easy.py (and its one-shot
# child retinanet_r18_nasfpn-supernet_search_digits-easy.py):
#   python tools/search.py configs/nasfpn/resnet18-half_digits-cls.py
_base_ = [
    '../_base_/datasets/digits_cls.py',
    '../_base_/schedules/iter_sgd.py',
    '../_base_/default_runtime_cls.py',
]
model = dict(
    type='ImageClassifier',
    # mmdet's ResNet (the `mmdet.` scope), so the keys under `backbone.` are the detector's
    backbone=dict(
        type='mmdet.ResNet', depth=18, base_channels=32, num_stages=4, out_indices=(3, ),
        frozen_stages=-1, norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False,
        style='pytorch', init_cfg=None),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead', num_classes=10, in_channels=256,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, )))

max_iters = 300
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=30, end=max_iters,
         T_max=max_iters - 30),
]
optim_wrapper = dict(optimizer=dict(lr=0.05))
default_hooks = dict(checkpoint=dict(interval=max_iters))
