# mmpretrain ImageClassifier over the DetNAS 20-block ShuffleNetV2 supernet (300M space):
# the 1024-channel last conv (out index 4), global average pooling, a linear head. Its
# 'backbone.*' weights are the detection supernet's plus 'backbone.last_conv.*', so a
# detector initialises its backbone from this classifier's checkpoint with
# init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.').
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ShuffleNetV2Supernet',
        arch='300M',
        widen_factor=1.0,
        out_indices=(4, ),
        with_last_conv=True,
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1024,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
