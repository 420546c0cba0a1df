# The DetNAS search phases with the paper's settings, for a COCO supernet config (listed
# beside this file in `_base_`): train (fine-tune the supernet), search, export.
#   - evolutionary search: population 50, top-k 10, 20 mutations (each block resampled
#     with probability 0.1), 20 crossovers, the rest random, 20 generations, only paths
#     with at most `max_flops` backbone FLOPs (multiply-adds at 1x3x224x224: 300M for the
#     300M space, 1.3G for the 1.3G space);
#   - per candidate, BN statistics re-estimated on `bn_batches` training batches, then
#     reward = COCO bbox mAP on the val images (`num_val_images`).
# Candidates are split across the ranks. Search settings from the command line go through
# `search_cfg`, which the search phase reads by name, e.g.
#   --cfg-options search_cfg.evaluator.bn_batches=50
# The paper scores candidates on 5k images held out of the training set (and fine-tunes
# on the rest); here they are scored on val2017 (5,000 images, the old minival). To hold
# images out instead, give the search phase your split:
#   --cfg-options phases.1.val_dataloader.dataset.ann_file=... \
#                 phases.1.val_dataloader.dataset.data_prefix.img=train2017/ \
#                 phases.1.val_evaluator.ann_file=<data_root>/...
search_cfg = dict(
    type='SearchLoop',
    strategy=dict(
        type='GeneticAlgorithm', population=50, top_k=10, num_mutation=20,
        mutation_prob=0.1, num_crossover=20, generations=20),
    evaluator=dict(
        type='SupernetEvaluator', metric='coco/bbox_mAP', bn_mode='recalibrate',
        # 200 batches of 2 training images; the val images are read again for every
        # candidate (cache_batches=False: 5,000 decoded images would not fit in memory)
        bn_batches=200, num_val_images=5000, cache_batches=False),
    max_flops=300e6,
    cost_input_shape=(3, 224, 224))
# plain BN while searching: every rank evaluates its own path, and SyncBN would mix the
# statistics of different paths (a SyncBN checkpoint loads into BN: same keys)
search_model = dict(backbone=dict(norm_cfg=dict(type='BN', requires_grad=True)))

phases = [
    dict(type='train'),
    # by name: a config inheriting this one changes the search by overriding `search_cfg`
    dict(type='search', load_from='previous', model='search_model', train_cfg='search_cfg'),
    dict(type='export', export=dict(module='backbone', init_from_supernet=True)),
]
