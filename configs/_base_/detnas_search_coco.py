# The DetNAS search phases with the paper's settings, for a COCO supernet config (listed
# beside this file in `_base_`): train (fine-tune the supernet), search, export.
#   - evolutionary search: population 50, top-k 10, 20 mutations (each block resampled
#     with probability 0.1), 20 crossovers, the rest random, 20 generations, only paths
#     with at most `max_flops` backbone FLOPs (multiply-adds at 1x3x224x224: 300M for the
#     300M space, 1.3G for the 1.3G space);
#   - per candidate, BN statistics re-estimated on `bn_batches` training batches, then
#     reward = COCO bbox mAP on the held-out training images (`num_val_images`).
# Candidates are split across the ranks. Search settings from the command line go through
# `search_cfg`, which the search phase reads by name, e.g.
#   --cfg-options search_cfg.evaluator.bn_batches=50
# As the official DetNAS code, candidates are scored on 5,000 images held out of COCO
# train2017, and the supernet is fine-tuned on the other 112,266 (the split and the data
# dicts the phases name: coco_heldout_search.py beside this file). val2017 is never seen
# by the search: only the exported config (the whole of train2017, val2017) trains and
# reports on it. No held-out split at all: phases=[...] without `split`.
_base_ = './coco_heldout_search.py'
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
    dict(type='split'),
    dict(type='train', train_dataloader='on_train_rest', val_dataloader='on_heldout',
         val_evaluator='heldout_evaluator'),
    # by name: a config inheriting this one changes the search by overriding `search_cfg`
    dict(type='search', load_from='previous', model='search_model', train_cfg='search_cfg',
         train_dataloader='on_train_rest', val_dataloader='on_heldout',
         val_evaluator='heldout_evaluator'),
    dict(type='export', export=dict(module='backbone', init_from_supernet=True)),
]
