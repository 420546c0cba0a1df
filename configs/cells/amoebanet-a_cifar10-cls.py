# AmoebaNet-A N=6, F=36 on CIFAR-10 (the paper's CIFAR network: 3.2M parameters, 3.34%
# error, shared/ANCHORS.md): nasnet-a_cifar10-cls.py's training recipe (600 epochs, batch
# 32, auxiliary head 0.4, drop path, cutout) with the AmoebaNet-A cells.
#   python tools/search.py configs/cells/amoebanet-a_cifar10-cls.py
# Cost: 14.4 s per training iteration of batch 32 at 32x32 on 1 CPU thread of a shared 2-core
# machine, load 4.8 (CPU figure, measured by bench/config_cost.py; no GPU run yet) x 937,500
# iterations = 3,762 CPU-hours. GPU hours not yet measured.
_base_ = './nasnet-a_cifar10-cls.py'
model = dict(backbone=dict(genotype='amoebanet_a', cells_per_stage=6, filters=36))
