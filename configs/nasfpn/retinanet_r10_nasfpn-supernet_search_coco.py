# The one-shot form of retinanet_r10_nasfpn_search_coco.py (a child config: only what
# differs): the same proxy detector, split and export, but the neck is a NASFPNSupernet
# (every merging cell can run any op at any level) trained once with a uniformly random
# pyramid per iteration on the 112,266 training images, then searched with the DetNAS
# genetic algorithm; each candidate pyramid is set on the supernet, its BN statistics
# re-estimated on training batches, its box AP on the 5,000 held-out images the reward.
#   torchrun --nproc_per_node 8 tools/search.py configs/nasfpn/retinanet_r10_nasfpn-supernet_search_coco.py --launcher pytorch [--resume]
#
# Settings (not the paper's: NAS-FPN trained every child; these follow DetNAS): supernet
# 50 epochs at batch 8 x 8 GPUs (87,708 iterations, the schedule of the 50-epoch R-50
# config), GA of population 50, 20 generations as DetNAS (1,000 candidates, each one
# validation on 5,000 images after BN re-estimation on 200 batches).
#
# Cost: 92.3 s per training iteration of batch 8 per GPU at 512x512 on 1 CPU thread of a shared
# 2-core machine, load 4.3 (CPU figure, measured by bench/config_cost.py; no GPU run yet) x 87,708
# iterations x 8 GPUs = 17,987 CPU-hours; search: 1,000 candidates x (200 BN batches + 5,000
# images) of no-grad forward at 15.2 s per batch = 3,493 CPU-hours; total 21,480 CPU-hours. GPU
# hours not yet measured.
_base_ = './retinanet_r10_nasfpn_search_coco.py'

supernet_epochs = 50
supernet_iters = 87708   # 50 epochs of 112,266 images at batch 64
model = dict(
    neck=dict(
        _delete_=True,
        type='NASFPNSupernet',
        in_channels=[64, 128, 256, 512],
        out_channels=256,
        num_outs=5,
        stack_times=1,
        start_level=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        num_cells={{_base_.num_cells}}))
custom_hooks = [dict(type='UniformSamplingHook', seed=0)]
# the levels a pyramid does not use are idle at each step
find_unused_parameters = True
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=supernet_iters,
                 val_interval=supernet_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=1000),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=supernet_iters,
         T_max=supernet_iters),
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=5000, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)

oneshot_search = dict(
    type='SearchLoop',
    search_space=dict(type='NASFPNSpace', num_cells={{_base_.num_cells}}),
    strategy=dict(
        type='GeneticAlgorithm', population=50, top_k=10, num_mutation=20,
        mutation_prob=0.1, num_crossover=20, generations=20),
    evaluator=dict(
        type='SupernetEvaluator', metric='coco/bbox_mAP', bn_mode='recalibrate',
        bn_batches=200, num_val_images=5000, cache_batches=False),
    # FLOPs of the neck (plots, Pareto front) on the ResNet-10 maps of a 512x512 image
    cost_input_shape=[(64, 128, 128), (128, 64, 64), (256, 32, 32), (512, 16, 16)])

phases = [
    dict(type='split'),
    dict(type='train', train_dataloader='on_train_rest', val_dataloader='on_heldout',
         val_evaluator='heldout_evaluator'),
    dict(type='search', load_from='previous', train_cfg='oneshot_search',
         train_dataloader='on_train_rest', val_dataloader='on_heldout',
         val_evaluator='heldout_evaluator'),
    {{_base_.export_phase}},
]
