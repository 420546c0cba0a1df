# The DetNAS pipeline on the embedded digits, end to end (the README's main command):
#   1. train the supernet (uniform single-path sampling),
#   2. evolutionary search of paths under a 300M FLOPs limit (backbone at 1x3x224x224),
#      BN statistics re-estimated per candidate, COCO bbox mAP on val images as reward,
#   3. export the best path as a ready-to-train config initialised from the supernet.
# Reduced settings so it runs in minutes on 2 CPU cores (the paper's are in the _coco
# configs): 240 supernet iterations of batch 8 at 256x256 under a light RetinaNet head,
# population 10 x 4 generations, 4 recalibration batches, 48 val images per candidate.
_base_ = './retinanet_detnas-shufflenet-300M-supernet_fpn_digits.py'

max_iters = 240
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=40),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=40, end=max_iters, T_max=max_iters - 40),
]

search_cfg = dict(
    type='SearchLoop',
    strategy=dict(
        type='GeneticAlgorithm', population=10, top_k=4, num_mutation=4,
        mutation_prob=0.1, num_crossover=4, generations=4),
    evaluator=dict(
        type='SupernetEvaluator', metric='coco/bbox_mAP', bn_mode='recalibrate',
        bn_batches=4, num_val_images=48),
    max_flops=300e6,
    cost_input_shape=(3, 224, 224),
    compare_random=4)

phases = [
    dict(type='train'),
    # score threshold of COCO evaluation practice (mmdet's RetinaNet default, 0.05, keeps
    # no box of a young supernet, and every path would tie at an mAP of 0)
    dict(type='search', load_from='previous', train_cfg='search_cfg',
         model=dict(test_cfg=dict(score_thr=0.001))),
    dict(type='export', export=dict(module='backbone', init_from_supernet=True)),
]
