# The DetNAS pipeline on the embedded digits, end to end (the README's main command):
#   0. hold 100 of the 400 training images out for the search (`heldout_split`; written
#      beside the training annotations on the first run, skipped when up to date),
#   1. train the supernet (uniform single-path sampling) on the other 300,
#   2. evolutionary search of paths under a 300M FLOPs limit (backbone at 1x3x224x224),
#      BN statistics re-estimated per candidate on batches of those 300, COCO bbox mAP on
#      the held-out images as reward (val is never seen by the search),
#   3. export the best path as a ready-to-train config initialised from the supernet
#      (its data: the whole training set, val for evaluation).
# Reduced settings so it runs in minutes on 2 CPU cores (the paper's are in the _coco
# configs): 240 supernet iterations of batch 8 at 256x256 under a light RetinaNet head,
# population 10 x 4 generations, 4 recalibration batches, 48 held-out images per candidate.
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

# The search's data, as the official DetNAS code: images held out of the training set
# score the candidates; the supernet trains on the rest. The top-level dataloaders stay
# the whole training set and val: what the exported config retrains and reports on. The
# phases name these dicts, merged over the config's loaders and metric when they run, so
# a child config or --cfg-options changes them here (e.g. heldout_split.num_images=50).
search_data_root = 'data/digits_det/'
heldout_split = dict(
    data_root=search_data_root,
    ann_file='annotations/instances_train.json',
    heldout='annotations/instances_train_search-heldout.json',
    rest='annotations/instances_train_search-rest.json',
    num_images=100, seed=0)
on_train_rest = dict(dataset=dict(ann_file=heldout_split['rest']))
on_heldout = dict(dataset=dict(ann_file=heldout_split['heldout'], data_prefix=dict(img='train/')))
heldout_evaluator = dict(ann_file=search_data_root + heldout_split['heldout'])

phases = [
    dict(type='split'),
    dict(type='train', train_dataloader='on_train_rest', val_dataloader='on_heldout',
         val_evaluator='heldout_evaluator'),
    # score threshold of COCO evaluation practice (mmdet's RetinaNet default, 0.05, keeps
    # no box of a young supernet, and every path would tie at an mAP of 0)
    dict(type='search', load_from='previous', train_cfg='search_cfg',
         model=dict(test_cfg=dict(score_thr=0.001)), train_dataloader='on_train_rest',
         val_dataloader='on_heldout', val_evaluator='heldout_evaluator'),
    dict(type='export', export=dict(module='backbone', init_from_supernet=True)),
]
