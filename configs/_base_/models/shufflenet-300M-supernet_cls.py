# mmpretrain ImageClassifier over the DetNAS 20-block ShuffleNetV2 supernet (300M space):
# the 1024-channel last conv (out index 4), global average pooling, a linear head. Its
# 'backbone.*' weights are the detection supernet's plus 'backbone.last_conv.*', so a
# detector initialises its backbone from this classifier's checkpoint with
# init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.').
_base_ = './detnas_shufflenet-300M_supernet.py'
model = dict(
    type='ImageClassifier',
    backbone=dict(_base_.supernet_backbone, out_indices=(4, ), with_last_conv=True),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1024,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
