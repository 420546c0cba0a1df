# Cell search (NASNet / AmoebaNet / PNAS) on the embedded digits, CPU-sized, then export.
# The space is the NASNet search space (B=5 blocks per cell, each: two inputs among h0, h1
# and earlier blocks, two of the 13 ops, combined by add; a normal and a reduction cell;
# the unused states are concatenated). Every candidate is a child network (the model
# below: CIFAR layout, N=1 cell per stage, F=8) trained briefly on the digits at 16x16
# by ProxyTrainEvaluator; its validation accuracy is the reward.
# The strategy here is aging evolution; the child configs
# cells_search_digits-cls_reinforce.py (the NAS / NASNet REINFORCE controller) and
# cells_search_digits-cls_pnas.py (progressive SMBO) are this file with another
# train_cfg.strategy.
# 10-12 children of 200 iterations, 30-45 s each on 2 CPU cores (6-9 minutes); 200 is
# about the fewest with which children leave chance level (30 iterations: 7-17% val
# accuracy, chance is 10%; 200: 13.5-45.5%, see README):
#   python tools/search.py configs/cells/cells_search_digits-cls.py
# writes work_dirs/cells_search_digits-cls/search/{trials.jsonl,search_state.json,
# best_genotype.json,search_progress.png} and, in export/, best_cells.png (the best normal
# and reduction cells) and configs that train the found cells at full size: CIFAR-10 and
# ImageNet (mobile) classifiers, a RetinaNet on the embedded digits and one on COCO.
# A killed run continues with --resume. Real work: CIFAR-10 (configs/_base_/datasets/
# cifar10.py) as the proxy set, F=16-32, N=2, hundreds of children across GPUs.
_base_ = ['../_base_/datasets/digits_cls.py', '../_base_/default_runtime_cls.py']

# the digits at 16x16, no augmentation (the children train for a few dozen iterations)
child_size = 16
pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(child_size, child_size)),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=16, dataset=dict(pipeline=pipeline))
val_dataloader = dict(dataset=dict(pipeline=pipeline))
test_dataloader = val_dataloader
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# the child network; its genotype is each candidate's (ProxyTrainEvaluator fills the slot)
model = dict(
    type='CellImageClassifier',
    data_preprocessor=dict(num_classes=10, mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True),
    backbone=dict(type='CellNetBackbone', genotype='nasnet_a', layout='cifar',
                  cells_per_stage=1, filters=8, out_indices=(2, ), init_cfg=None),
    head=dict(type='CellClsHead', num_classes=10, in_channels=None,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, )))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=5, norm_type=2))

search_space = dict(type='CellSpace', num_blocks=5, ops='nasnet', combine=['add'],
                    cells=['normal', 'reduce'], concat='unused')
train_cfg = dict(
    type='SearchLoop',
    search_space=search_space,
    # 6 random cells, then 6 children mutated from the best of 3 sampled
    strategy=dict(type='RegularizedEvolution', population=6, sample_size=3),
    evaluator=dict(
        type='ProxyTrainEvaluator',
        genotype_key='model.backbone.genotype',
        metric='accuracy/top1',
        train_iters=200,
        warmup_iters=10,
        lr_schedule='cosine',
        num_train_images=480,
        num_val_images=200),
    max_trials=12)

phases = ['search', 'cell_export']
export = dict(templates=dict(
    cellnet_cifar10_cls='configs/cells/nasnet-a_cifar10-cls.py',
    cellnet_mobile_imagenet_cls='configs/cells/nasnet-a-mobile_imagenet-cls.py',
    cellnet_tiny_digits_cls='configs/cells/nasnet-a-tiny_digits-cls.py',
    retinanet_cellnet_tiny_fpn_digits='configs/cells/retinanet_nasnet-a-tiny_fpn_digits.py',
    retinanet_cellnet_mobile_fpn_coco='configs/cells/retinanet_nasnet-a-mobile_fpn_coco.py'))
