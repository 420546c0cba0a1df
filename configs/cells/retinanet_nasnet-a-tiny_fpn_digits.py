# RetinaNet with a cell network as its backbone, on the embedded digits at 256x256 (CPU):
# NASNet-A cells (any genotype) in the mobile layout at tiny width (N=1, F=16), stages at
# strides 8, 16, 32 into the CPU-sized FPN / head of retinanet_r18_lite_fpn.py. Trained from
# scratch; retinanet_nasnet-a-tiny_fpn_digits-from-cls.py starts from the classifier of
# nasnet-a-tiny_digits-cls.py. 300 iterations of batch 4 (~2 s each on 2 busy CPU cores).
#   python tools/search.py configs/cells/retinanet_nasnet-a-tiny_fpn_digits.py
# Another genotype changes the stage widths: neck.in_channels must follow the backbone's
# out_channels (the cell_export phase rewrites them).
_base_ = [
    '../_base_/models/retinanet_r18_lite_fpn.py',
    '../_base_/datasets/digits_det_256.py',
    '../_base_/schedules/iter_sgd.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(
        _delete_=True,
        type='CellNetBackbone',
        genotype='nasnet_a',
        layout='mobile',
        cells_per_stage=1,
        filters=16,
        out_indices=(1, 2, 3),  # strides 8, 16, 32
        drop_path_rate=0.0,
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=None),
    # CellNetBackbone('nasnet_a', layout='mobile', cells_per_stage=1, filters=16).out_channels
    neck=dict(in_channels=[96, 192, 384], start_level=0, add_extra_convs='on_input'))
train_dataloader = dict(batch_size=4)
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-3, weight_decay=1e-4),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
