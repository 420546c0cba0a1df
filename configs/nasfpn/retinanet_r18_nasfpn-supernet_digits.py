# One-shot NAS-FPN: the proxy detector of retinanet_r18_nasfpn_digits.py with a
# weight-sharing supernet neck (every merging cell can run any op at any level), trained
# with a uniformly random pyramid per iteration (the DetNAS sampling hook).
_base_ = './retinanet_r18_nasfpn_digits.py'
model = dict(
    neck=dict(
        _delete_=True,
        type='NASFPNSupernet',
        in_channels=[32, 64, 128, 256],
        out_channels={{_base_.channels}},
        num_outs=5,
        stack_times=1,
        start_level=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        num_cells=7))
custom_hooks = [dict(type='UniformSamplingHook', seed=0)]
# the levels a pyramid does not use are idle at each step (also for the CPU DDP wrapper)
find_unused_parameters = True
