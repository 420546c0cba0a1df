# NASNet's cell search on CIFAR-10 (Zoph et al. 2018, https://arxiv.org/abs/1707.07012): the
# base's data, split and evaluator with the NASNet space and an RL controller.
#   torchrun --nproc_per_node 8 tools/search.py configs/cells/cells_search_cifar10-cls_nasnet.py --launcher pytorch [--resume]
# Paper settings: 13 ops, B=5 blocks, a normal and a reduction cell, combine by add
# (shared/ANCHORS.md); the controller RNN trained with PPO (update='ppo'; clip 0.2 and 4
# epochs per batch are PPO's common defaults, not the paper's), lr 0.00035 as NAS/ENAS;
# 20,000 children on 500 GPUs (450 workers), each trained 20 epochs with N=2 cells per
# stage (the last three figures recalled from the paper, not in ANCHORS.md: verify);
# F=32 as the final CIFAR network; controller batch 20 (not given: ours).
#
# Cost: 23.3 s per training iteration of batch 64 (timed at 32, scaled linearly) at 32x32 on 1 CPU
# thread of a shared 2-core machine, load 4.1 (CPU figure, measured by bench/config_cost.py; no
# GPU run yet) x 281,240,000 iterations (20,000 children x 14,062 iterations) = 1,819,717
# CPU-hours. GPU hours not yet measured.
_base_ = './cells_search_cifar10-cls.py'

cells_per_stage = 2
filters = 32
child_epochs = 20
model = dict(backbone=dict(genotype='nasnet_a', cells_per_stage=cells_per_stage,
                           filters=filters))
train_cfg = dict(
    search_space=dict(ops='nasnet'),
    strategy=dict(_delete_=True, type='ReinforceController', update='ppo', ppo_clip=0.2,
                  ppo_epochs=4, batch_size=20, lr=0.00035, entropy_weight=1e-4),
    evaluator=dict(train_iters=child_epochs * 45000 // 64),
    max_trials=20000)
