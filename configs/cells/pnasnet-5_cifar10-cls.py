# PNASNet-5 on CIFAR-10: nasnet-a_cifar10-cls.py's training recipe (600 epochs, batch 32,
# auxiliary head 0.4, drop path, cutout) with the PNASNet-5 cell (one cell, stride 2 for
# the reductions), N=3 cells per stage, F=48 (the paper's CIFAR network, about 3.2M
# parameters: recalled, not in ANCHORS.md; verify with the parameter count the run logs).
#   python tools/search.py configs/cells/pnasnet-5_cifar10-cls.py
_base_ = './nasnet-a_cifar10-cls.py'
model = dict(backbone=dict(genotype='pnasnet_5', cells_per_stage=3, filters=48))
