# DetNAS on COCO 2017 under RetinaNet, with the paper's settings (needs GPUs):
#   1. fine-tune the ImageNet-pre-trained supernet on COCO with uniform path sampling
#      (retinanet_detnas-shufflenet-300M-supernet_fpn_coco.py: 90k iterations x 16 images),
#   2. evolutionary search of paths with at most 300M backbone FLOPs at 224x224
#      (settings in configs/_base_/detnas_search_coco.py),
#   3. export of the best path as a config initialised from the supernet (then retrain it).
#   torchrun --nproc_per_node 8 tools/search.py configs/detnas/retinanet_detnas-shufflenet-300M_search_coco.py --launcher pytorch [--resume]
_base_ = [
    './retinanet_detnas-shufflenet-300M-supernet_fpn_coco.py',
    '../_base_/detnas_search_coco.py',
]
