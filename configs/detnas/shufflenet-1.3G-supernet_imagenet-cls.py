# DetNAS supernet pre-training on ImageNet-1k for the 40-block 1.3G space (stem 48, stages
# 96/240/480/960 with 8/8/16/8 blocks); otherwise as the 300M config. Writes
# work_dirs/shufflenet-1.3G-supernet_imagenet-cls/iter_300000.pth, which
# *_detnas-shufflenet-1.3G_search_coco.py start their backbone from.
# Cost: 125.6 s per training iteration of batch 128 (timed at 32, scaled linearly) per GPU at
# 224x224 on 1 CPU thread of a shared 2-core machine, load 4.2 (CPU figure, measured by
# bench/config_cost.py; no GPU run yet) x 300,000 iterations x 8 GPUs = 83,731 CPU-hours. GPU
# hours not yet measured.
_base_ = './shufflenet-300M-supernet_imagenet-cls.py'
model = dict(backbone=dict(arch='1.3G'))
