# NAS-FPN searched on the embedded digits, the paper's way (scaled to 2 CPU cores):
#
#   python tools/search.py configs/nasfpn/retinanet_r18_nasfpn_search_digits.py [--resume]
#
# An LSTM controller trained with REINFORCE samples pyramids of 7 merging cells; each child
# (the RetinaNet ResNet-18 of retinanet_r18_nasfpn_digits.py with the pyramid in
# model.neck.genotype) is trained from scratch for `proxy_iters` iterations on the embedded
# digits and scored by its COCO bbox mAP on `num_val_images` val images: the reward.
# The one-shot search of the same space (what the paper could not afford) is the child
# config retinanet_r18_nasfpn-supernet_search_digits.py: a weight-sharing supernet neck
# (NASFPNSupernet: every merging cell can run any op at any level) trained once with a
# uniformly random pyramid per iteration, then searched with the DetNAS genetic algorithm
# (`oneshot_search` below); each candidate pyramid is set on the supernet, its BN
# statistics re-estimated, its COCO bbox mAP on val images the reward (a candidate costs
# one validation, no training).
# Both export the best pyramid into the RetinaNet R-50 NAS-FPN COCO config (640 crop,
# pad_size_divisor=128). Paper scale (thousands of children, ~10 epochs each at 512x512 on
# COCO): raise controller_search.max_trials and .evaluator.train_iters (the phases read
# controller_search / oneshot_search by name, so an inheriting config or --cfg-options
# changes them) and the data to a COCO subset; run ranks in parallel with
# torchrun ... --launcher pytorch (each rank trains its share of a controller batch).
_base_ = './retinanet_r18_nasfpn_digits.py'

num_cells = 7
proxy_iters = 30
export_phase = dict(
    type='export_genotype',
    export=dict(template='{{ fileDirname }}/retinanet_r50_nasfpn-published_crop640-50e_coco.py',
                genotype_key='model.neck.genotype',
                name='retinanet_r50_nasfpn-searched_crop640-50e_coco'))

controller_search = dict(
    type='SearchLoop',
    search_space=dict(type='NASFPNSpace', num_cells=num_cells),
    strategy=dict(type='ReinforceController', batch_size=3, lr=0.01,
                  baseline_decay=0.9, entropy_weight=1e-4),
    evaluator=dict(
        type='ProxyTrainEvaluator',
        genotype_key='model.neck.genotype',
        metric='coco/bbox_mAP',
        train_iters=proxy_iters,
        warmup_iters=10,
        lr_schedule='cosine',
        batch_size=4,
        num_train_images=None,
        num_val_images=32,
        val_batch_size=8),
    max_trials=6)

# the one-shot search's settings, here so that a config inheriting this one (the easy
# digits) changes both searches; its phases: retinanet_r18_nasfpn-supernet_search_digits.py
supernet_iters = 300
oneshot_search = dict(
    type='SearchLoop',
    strategy=dict(
        type='GeneticAlgorithm', population=10, top_k=4, num_mutation=4,
        mutation_prob=0.1, num_crossover=4, generations=4),
    evaluator=dict(
        type='SupernetEvaluator', metric='coco/bbox_mAP', bn_mode='recalibrate',
        bn_batches=4, num_val_images=32),
    # FLOPs of the neck (plots, Pareto front) on the backbone maps of a 256x256 image
    cost_input_shape=[(32, 64, 64), (64, 32, 32), (128, 16, 16), (256, 8, 8)])

phases = [dict(type='search', train_cfg='controller_search'), export_phase]
