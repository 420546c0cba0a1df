# AmoebaNet-A N=6, F=36 on CIFAR-10 (the paper's CIFAR network: 3.2M parameters, 3.34%
# error, shared/ANCHORS.md): nasnet-a_cifar10-cls.py's training recipe (600 epochs, batch
# 32, auxiliary head 0.4, drop path, cutout) with the AmoebaNet-A cells.
#   python tools/search.py configs/cells/amoebanet-a_cifar10-cls.py
_base_ = './nasnet-a_cifar10-cls.py'
model = dict(backbone=dict(genotype='amoebanet_a', cells_per_stage=6, filters=36))
