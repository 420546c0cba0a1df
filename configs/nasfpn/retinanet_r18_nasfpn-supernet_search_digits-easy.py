# The one-shot NAS-FPN search of retinanet_r18_nasfpn-supernet_search_digits.py on the
# proxy task of retinanet_r18_nasfpn_search_digits-easy.py (the easy digits, the frozen
# digits-pretrained ResNet-18), for the comparison of the two modes
# (bench/nasfpn_compare.py). The lines below are the one-shot child's, over the easy config.
#   python tools/search.py configs/nasfpn/retinanet_r18_nasfpn-supernet_search_digits-easy.py
_base_ = './retinanet_r18_nasfpn_search_digits-easy.py'

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
