# Cell search on CIFAR-10 as the papers did it; this file is the AmoebaNet-A search (Real
# et al. 2019, https://arxiv.org/abs/1802.01548), and its children switch the strategy and
# the proxy network: cells_search_cifar10-cls_nasnet.py (NASNet: RL controller, PPO),
# cells_search_cifar10-cls_pnas.py (PNAS: progressive SMBO).
#   torchrun --nproc_per_node 8 tools/search.py configs/cells/cells_search_cifar10-cls.py --launcher pytorch [--resume]
# (each rank trains its own children on one GPU). Then cell_export writes the found cells
# into the final networks, trained as the papers did (nasnet-a_cifar10-cls.py and
# amoebanet-a_cifar10-cls.py / pnasnet-5_cifar10-cls.py beside this file, 600 epochs).
#
# All three papers hold 5,000 of the 50,000 CIFAR-10 training images out as the
# validation set that gives the reward, and train the children on the other 45,000; the
# test set is never seen by the search.
# AmoebaNet-A search, the paper's settings: aging evolution, population P=100, sample
# S=25, mutations of a hidden state (an input) or of an op, identity mutation with
# probability 0.05, the oldest dies each cycle (shared/ANCHORS.md); 8 ops (identity,
# sep 3/5/7, avg 3, max 3, dil-sep 3, 1x7-7x1); 20,000 children, each N=3 cells per stage,
# F=24 filters, 25 epochs (the last three figures recalled from the paper, not in
# ANCHORS.md: verify). Batch 64 and the SGD/cosine recipe below are ours.
#
# Cost: 12.5 s per training iteration of batch 64 (timed at 32, scaled linearly) at 32x32 on 1 CPU
# thread of a shared 2-core machine, load 4.2 (CPU figure, measured by bench/config_cost.py; no
# GPU run yet) x 351,560,000 iterations (20,000 children x 17,578 iterations) = 1,217,114
# CPU-hours. GPU hours not yet measured.
_base_ = ['../_base_/datasets/cifar10.py', '../_base_/default_runtime_cls.py']

# 32x32, the papers' child input (the base dataset config upscales to 64 for DetNAS)
train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]
num_search_train = 45000
# the children train on the first 45,000 training images and are scored on the last 5,000
train_dataloader = dict(batch_size=64, dataset=dict(
    pipeline=train_pipeline, indices=num_search_train))
val_dataloader = dict(dataset=dict(
    split='train', test_mode=True, pipeline=test_pipeline,
    indices=list(range(num_search_train, 50000))))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

cells_per_stage = 3
filters = 24
child_epochs = 25
# the child network; ProxyTrainEvaluator puts each candidate's genotype into the slot
model = dict(
    type='CellImageClassifier',
    backbone=dict(type='CellNetBackbone', genotype='amoebanet_a', layout='cifar',
                  cells_per_stage=cells_per_stage, filters=filters, out_indices=(2, ),
                  init_cfg=None),
    head=dict(type='CellClsHead', num_classes=10, in_channels=None,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, )))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4, nesterov=True),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=5, norm_type=2))

search_space = dict(type='CellSpace', num_blocks=5, ops='amoeba', combine=['add'],
                    cells=['normal', 'reduce'], concat='unused')
evaluator = dict(
    type='ProxyTrainEvaluator',
    genotype_key='model.backbone.genotype',
    metric='accuracy/top1',
    # child_epochs x 45,000 / 64 iterations
    train_iters=child_epochs * num_search_train // 64,
    warmup_iters=0,
    lr_schedule='cosine',
    val_batch_size=256,
    log_interval=1000)
train_cfg = dict(
    type='SearchLoop',
    search_space=search_space,
    # batch_size: children asked at once, one per GPU of the command above (the paper ran
    # 450 asynchronous workers)
    strategy=dict(type='RegularizedEvolution', population=100, sample_size=25,
                  identity_prob=0.05, batch_size=8),
    evaluator=evaluator,
    max_trials=20000)

phases = ['search', 'cell_export']
export = dict(templates=dict(
    cellnet_cifar10_cls='configs/cells/nasnet-a_cifar10-cls.py',
    cellnet_mobile_imagenet_cls='configs/cells/nasnet-a-mobile_imagenet-cls.py',
    retinanet_cellnet_mobile_fpn_coco='configs/cells/retinanet_nasnet-a-mobile_fpn_coco.py'))
