# NAS-FPN searched as in the paper, scaled to 2 CPU cores: an LSTM controller trained with
# REINFORCE samples pyramids of 7 merging cells; each child (the RetinaNet ResNet-18 of
# retinanet_r18_nasfpn_digits.py with the pyramid in model.neck.genotype) is trained from
# scratch for `proxy_iters` iterations on the embedded digits and scored by its COCO bbox
# mAP on `num_val_images` val images: the reward. Then the best pyramid is exported into
# the RetinaNet R-50 NAS-FPN COCO config (640 crop, pad_size_divisor=128).
#   python tools/search.py configs/nasfpn/retinanet_r18_nasfpn_search-controller_digits.py [--resume]
# The one-shot variant of the same search is retinanet_r18_nasfpn_search-oneshot_digits.py.
# Paper scale (thousands of children, ~10 epochs each at 512x512 on COCO): raise
# max_trials, proxy_iters and the data to a COCO subset; run ranks in parallel with
# torchrun ... --launcher pytorch (each rank trains its share of a controller batch).
_base_ = './retinanet_r18_nasfpn_digits.py'

num_cells = 7
proxy_iters = 30
search_cfg = dict(
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

phases = [
    dict(type='search', train_cfg=dict(_delete_=True, **search_cfg)),
    dict(type='export_genotype',
         export=dict(template='{{ fileDirname }}/retinanet_r50_nasfpn-published_crop640-50e_coco.py',
                     genotype_key='model.neck.genotype',
                     name='retinanet_r50_nasfpn-searched_crop640-50e_coco')),
]
