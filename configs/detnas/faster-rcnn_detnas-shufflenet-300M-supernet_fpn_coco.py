# DetNAS supernet fine-tuning on COCO 2017 under Faster R-CNN + FPN (the paper's "FPN"
# detector): the 20-block ShuffleNetV2 supernet (300M space) initialised from the
# supernet pre-trained on ImageNet (shufflenet-300M-supernet_imagenet-cls.py), one
# uniformly random path per iteration, 90k iterations of 16 images (8 GPUs x 2), lr 0.02.
# As in the official DetNAS FPN configs, the FPN and a 4-conv + 1-fc box head use SyncBN.
#   torchrun --nproc_per_node 8 tools/search.py configs/detnas/faster-rcnn_detnas-shufflenet-300M-supernet_fpn_coco.py --launcher pytorch
# Nothing is downloaded: data_root names your COCO copy (configs/_base_/datasets/
# coco_detection.py), init_cfg.checkpoint your ImageNet supernet checkpoint (here or with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH; its 'backbone.' prefix is stripped
# and its last conv, unused by the detector, is skipped).
# Cost: 66.1 s per training iteration of batch 2 per GPU at 800x1333 on 1 CPU thread of a shared
# 2-core machine, load 4.3 (CPU figure, measured by bench/config_cost.py; no GPU run yet) x 90,000
# iterations x 8 GPUs = 13,212 CPU-hours. GPU hours not yet measured.
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py',
    '../_base_/models/detnas_shufflenet-300M_supernet.py',
    '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/iter_90k_coco.py',
    '../_base_/default_runtime.py',
]
# SyncBN: 2 images per GPU are too few for batch statistics. Every BN layer is fine-tuned
# (norm_eval=False) and no stage is frozen.
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        _base_.supernet_backbone,
        _delete_=True,
        norm_cfg=norm_cfg,
        init_cfg=dict(
            type='Pretrained',
            prefix='backbone.',
            # the ImageNet supernet checkpoint: fill in yours
            checkpoint='work_dirs/shufflenet-300M-supernet_imagenet-cls/iter_300000.pth')),
    neck=dict(in_channels=[64, 160, 320, 640], norm_cfg=norm_cfg),
    roi_head=dict(bbox_head=dict(
        type='Shared4Conv1FCBBoxHead', conv_out_channels=256, norm_cfg=norm_cfg)))
optim_wrapper = dict(optimizer=dict(lr=0.02))
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=10000, max_keep_ckpts=3))
# The paper's recipe (uniform from the first iteration). For a supernet trained from scratch
# on little data, the warm-start recipe (docs/experiments/detnas_supernet.md) with N the
# schedule's iterations:
# custom_hooks = [dict(type='UniformSamplingHook', seed=0, warmup_path='shuffle3x3',
#     warmup_iters=N // 4, op_curriculum=dict(shuffle5x5=N // 4, shuffle7x7=N // 4,
#     xception3x3=N // 4), ramp_iters=N // 2)]
custom_hooks = [dict(type='UniformSamplingHook', seed=0)]
# three of four choices of every block are idle at each step
find_unused_parameters = True
