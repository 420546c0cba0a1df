# DetNAS on COCO 2017 under Faster R-CNN + FPN (the paper's "FPN" detector), with the
# paper's settings (needs GPUs): supernet fine-tuning
# (faster-rcnn_detnas-shufflenet-300M-supernet_fpn_coco.py), evolutionary search of paths
# with at most 300M backbone FLOPs at 224x224 (configs/_base_/detnas_search_coco.py), export.
#   torchrun --nproc_per_node 8 tools/search.py configs/detnas/faster-rcnn_detnas-shufflenet-300M_search_coco.py --launcher pytorch [--resume]
# Cost: 66.1 s per training iteration of batch 2 per GPU at 800x1333 on 1 CPU thread of a shared
# 2-core machine, load 4.3 (CPU figure, measured by bench/config_cost.py; no GPU run yet) x 90,000
# iterations x 8 GPUs = 13,212 CPU-hours; search: 1,000 candidates x (200 BN batches + 5,000
# images) of no-grad forward at 17.6 s per batch = 13,237 CPU-hours; total 26,449 CPU-hours. GPU
# hours not yet measured.
_base_ = [
    './faster-rcnn_detnas-shufflenet-300M-supernet_fpn_coco.py',
    '../_base_/detnas_search_coco.py',
]
