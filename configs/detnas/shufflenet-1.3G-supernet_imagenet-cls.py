# DetNAS supernet pre-training on ImageNet-1k for the 40-block 1.3G space (stem 48, stages
# 96/240/480/960 with 8/8/16/8 blocks); otherwise as the 300M config. Writes
# work_dirs/shufflenet-1.3G-supernet_imagenet-cls/iter_300000.pth, which
# *_detnas-shufflenet-1.3G_search_coco.py start their backbone from.
_base_ = './shufflenet-300M-supernet_imagenet-cls.py'
model = dict(backbone=dict(arch='1.3G'))
