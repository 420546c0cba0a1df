# DetNAS on COCO 2017 under Faster R-CNN + FPN (the paper's "FPN" detector), with the
# paper's settings (needs GPUs): supernet fine-tuning
# (faster-rcnn_detnas-shufflenet-300M-supernet_fpn_coco.py), evolutionary search of paths
# with at most 300M backbone FLOPs at 224x224 (configs/_base_/detnas_search_coco.py), export.
#   torchrun --nproc_per_node 8 tools/search.py configs/detnas/faster-rcnn_detnas-shufflenet-300M_search_coco.py --launcher pytorch [--resume]
_base_ = [
    './faster-rcnn_detnas-shufflenet-300M-supernet_fpn_coco.py',
    '../_base_/detnas_search_coco.py',
]
