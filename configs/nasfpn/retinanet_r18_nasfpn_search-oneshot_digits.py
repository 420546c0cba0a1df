# NAS-FPN one-shot, side by side with retinanet_r18_nasfpn_search-controller_digits.py
# (the same space, data, proxy detector, metric and export; choose one of the two files):
#   1. train the supernet neck (retinanet_r18_nasfpn-supernet_digits.py) with a uniformly
#      random pyramid per iteration,
#   2. search it with the DetNAS genetic algorithm; each candidate pyramid is set on the
#      supernet, its BN statistics re-estimated, its COCO bbox mAP on val images the reward
#      (no child is trained: a candidate costs one validation),
#   3. export the best pyramid into the RetinaNet R-50 NAS-FPN COCO config.
#   python tools/search.py configs/nasfpn/retinanet_r18_nasfpn_search-oneshot_digits.py [--resume]
_base_ = './retinanet_r18_nasfpn-supernet_digits.py'

max_iters = 300
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)

search_cfg = dict(
    type='SearchLoop',
    strategy=dict(
        type='GeneticAlgorithm', population=10, top_k=4, num_mutation=4,
        mutation_prob=0.1, num_crossover=4, generations=4),
    evaluator=dict(
        type='SupernetEvaluator', metric='coco/bbox_mAP', bn_mode='recalibrate',
        bn_batches=4, num_val_images=32),
    # FLOPs of the neck (plots, Pareto front) on the backbone maps of a 256x256 image
    cost_input_shape=[(32, 64, 64), (64, 32, 32), (128, 16, 16), (256, 8, 8)])

phases = [
    dict(type='train'),
    dict(type='search', load_from='previous', train_cfg=dict(_delete_=True, **search_cfg)),
    dict(type='export_genotype',
         export=dict(template='{{ fileDirname }}/retinanet_r50_nasfpn-published_crop640-50e_coco.py',
                     genotype_key='model.neck.genotype',
                     name='retinanet_r50_nasfpn-searched_crop640-50e_coco')),
]
