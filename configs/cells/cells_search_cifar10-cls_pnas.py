# PNAS's progressive cell search on CIFAR-10 (Liu et al. 2018,
# https://arxiv.org/abs/1712.00559): the base's data, split and evaluator with PNAS's space
# (one cell, reused with stride 2 for reductions; 8 ops) and progressive SMBO.
#   torchrun --nproc_per_node 8 tools/search.py configs/cells/cells_search_cifar10-cls_pnas.py --launcher pytorch [--resume]
# Paper settings: B=5 blocks, beam K=256, surrogate LSTM (shared input embedding, op
# embedding, final hidden state -> FC -> sigmoid) or an MLP ensemble (shared/ANCHORS.md);
# all 136 one-block cells, then 256 per block: 136 + 4 x 256 = 1,160 children; each
# trained 20 epochs with N=2 cells per stage and F=24 (recalled from the paper, not in
# ANCHORS.md: verify). The exported PNASNet-5-style network: pnasnet-5_cifar10-cls.py.
#
# Cost: 13.4 s per training iteration of batch 64 (timed at 32, scaled linearly) at 32x32 on 1 CPU
# thread of a shared 2-core machine, load 4.4 (CPU figure, measured by bench/config_cost.py; no
# GPU run yet) x 16,311,920 iterations (1,160 children x 14,062 iterations) = 60,852 CPU-hours.
# GPU hours not yet measured.
_base_ = './cells_search_cifar10-cls.py'

cells_per_stage = 2
filters = 24
child_epochs = 20
model = dict(backbone=dict(genotype='pnasnet_5', cells_per_stage=cells_per_stage,
                           filters=filters))
train_cfg = dict(
    search_space=dict(_delete_=True, type='CellSpace', num_blocks=5, ops='pnas',
                      cells=['normal'], concat='all'),
    strategy=dict(_delete_=True, type='ProgressiveSMBO', beam=256, surrogate='lstm',
                  max_candidates=100000),
    evaluator=dict(train_iters=child_epochs * 45000 // 64),
    max_trials=1160)
