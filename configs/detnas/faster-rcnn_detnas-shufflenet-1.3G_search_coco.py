# DetNAS on COCO 2017 in the 40-block 1.3G space (stem 48, stages 96/240/480/960 with
# 8/8/16/8 blocks) under Faster R-CNN + FPN (the paper's FPN-1.3G):
# supernet fine-tuning from the 1.3G ImageNet supernet
# (shufflenet-1.3G-supernet_imagenet-cls.py), evolutionary search of paths with at most
# 1.3G backbone FLOPs at 224x224 (configs/_base_/detnas_search_coco.py), export.
#   torchrun --nproc_per_node 8 tools/search.py configs/detnas/faster-rcnn_detnas-shufflenet-1.3G_search_coco.py --launcher pytorch [--resume]
# Cost: 63.8 s per training iteration of batch 2 per GPU at 800x1333 on 1 CPU thread of a shared
# 2-core machine, load 4.5 (CPU figure, measured by bench/config_cost.py; no GPU run yet) x 90,000
# iterations x 8 GPUs = 12,755 CPU-hours; search: 1,000 candidates x (200 BN batches + 5,000
# images) of no-grad forward at 39.7 s per batch = 29,751 CPU-hours; total 42,507 CPU-hours. GPU
# hours not yet measured.
_base_ = [
    './faster-rcnn_detnas-shufflenet-300M-supernet_fpn_coco.py',
    '../_base_/detnas_search_coco.py',
]
model = dict(
    backbone=dict(
        arch='1.3G',
        init_cfg=dict(
            # the 1.3G ImageNet supernet checkpoint: fill in yours
            checkpoint='work_dirs/shufflenet-1.3G-supernet_imagenet-cls/iter_300000.pth')),
    neck=dict(in_channels=[96, 240, 480, 960]))

search_cfg = dict(max_flops=1.3e9)   # the phases read search_cfg by name
