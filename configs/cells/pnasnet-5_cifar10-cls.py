# PNASNet-5 on CIFAR-10: nasnet-a_cifar10-cls.py's training recipe (600 epochs, batch 32,
# auxiliary head 0.4, drop path, cutout) with the PNASNet-5 cell (one cell, stride 2 for
# the reductions), N=3 cells per stage, F=48 (the paper's CIFAR network, about 3.2M
# parameters: recalled, not in ANCHORS.md; verify with the parameter count the run logs).
#   python tools/search.py configs/cells/pnasnet-5_cifar10-cls.py
# Cost: 18.8 s per training iteration of batch 32 at 32x32 on 1 CPU thread of a shared 2-core
# machine, load 4.4 (CPU figure, measured by bench/config_cost.py; no GPU run yet) x 937,500
# iterations = 4,892 CPU-hours. GPU hours not yet measured.
_base_ = './nasnet-a_cifar10-cls.py'
model = dict(backbone=dict(genotype='pnasnet_5', cells_per_stage=3, filters=48))
