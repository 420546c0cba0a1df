# NAS-FPN searched one-shot on the embedded digits: the space of
# retinanet_r18_nasfpn_search_digits.py as a weight-sharing supernet neck (NASFPNSupernet:
# every merging cell can run any op at any level), trained once with a uniformly random
# pyramid per iteration (`supernet_iters`), then searched with the DetNAS genetic algorithm
# (`oneshot_search` in the base); each candidate pyramid is set on the supernet, its BN
# statistics re-estimated, its COCO bbox mAP on val images the reward. Export as the base.
#   python tools/search.py configs/nasfpn/retinanet_r18_nasfpn-supernet_search_digits.py [--resume]
_base_ = './retinanet_r18_nasfpn_search_digits.py'

model = dict(
    neck=dict(
        _delete_=True,
        type='NASFPNSupernet',
        in_channels=[32, 64, 128, 256],
        out_channels=_base_.channels,
        num_outs=5,
        stack_times=1,
        start_level=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        num_cells=_base_.num_cells))
custom_hooks = [dict(type='UniformSamplingHook', seed=0)]
# the levels a pyramid does not use are idle at each step (also for the CPU DDP wrapper)
find_unused_parameters = True
train_cfg = dict(max_iters=_base_.supernet_iters, val_interval=_base_.supernet_iters)
phases = [
    dict(type='train'),
    dict(type='search', load_from='previous', train_cfg='oneshot_search'),
    _base_.export_phase,
]
