# RetinaNet ResNet-18 with a CPU-sized neck and head for the embedded digits: 96 FPN/head channels and 2
# stacked head convs (mmdet's default head, 256 channels x 4 convs, costs ~10x more than
# a 300M backbone at 256x256), and anchors from 16 px at P3 (octave_base_scale 2) since
# the digits are 8-128 px. Replace the backbone to put another one under this head.
_base_ = './retinanet_r18_fpn.py'
model = dict(
    neck=dict(out_channels=96),
    bbox_head=dict(
        in_channels=96,
        feat_channels=96,
        stacked_convs=2,
        anchor_generator=dict(octave_base_scale=2)))
