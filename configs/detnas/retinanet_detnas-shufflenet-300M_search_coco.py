# DetNAS on COCO 2017 under RetinaNet, with the paper's settings (needs GPUs):
#   1. fine-tune the ImageNet-pre-trained supernet on COCO with uniform path sampling
#      (retinanet_detnas-shufflenet-300M-supernet_fpn_coco.py: 90k iterations x 16 images),
#   2. evolutionary search of paths with at most 300M backbone FLOPs at 224x224
#      (settings in configs/_base_/detnas_search_coco.py),
#   3. export of the best path as a config initialised from the supernet (then retrain it).
#   torchrun --nproc_per_node 8 tools/search.py configs/detnas/retinanet_detnas-shufflenet-300M_search_coco.py --launcher pytorch [--resume]
# Cost: 54.8 s per training iteration of batch 2 per GPU at 800x1333 on 1 CPU thread of a shared
# 2-core machine, load 4.9 (CPU figure, measured by bench/config_cost.py; no GPU run yet) x 90,000
# iterations x 8 GPUs = 10,963 CPU-hours; search: 1,000 candidates x (200 BN batches + 5,000
# images) of no-grad forward at 19.8 s per batch = 14,877 CPU-hours; total 25,839 CPU-hours. GPU
# hours not yet measured.
_base_ = [
    './retinanet_detnas-shufflenet-300M-supernet_fpn_coco.py',
    '../_base_/detnas_search_coco.py',
]
