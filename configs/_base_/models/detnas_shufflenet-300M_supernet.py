# The DetNAS supernet backbone (Chen et al. 2019, https://arxiv.org/abs/1903.10979): the
# 20-block ShuffleNetV2 supernet of the paper's 300M space (stem 16, stages 64/160/320/640
# with 4/4/8/4 blocks, each block any of shuffle3x3 / shuffle5x5 / shuffle7x7 /
# xception3x3), its four stage outputs, no stage frozen, BN trained, from scratch.
# A config that inherits this file takes it as its backbone and changes what differs:
#   model = dict(backbone=dict(_base_.supernet_backbone, _delete_=True,
#                              norm_cfg=dict(type='SyncBN', requires_grad=True)))
# (`_delete_` drops the keys of the detector base's own backbone; arch='1.3G' is the
# 40-block space). A searched path is a fixed ShuffleNetV2Subnet, not this supernet.
supernet_backbone = dict(
    type='ShuffleNetV2Supernet',
    arch='300M',
    widen_factor=1.0,
    out_indices=(0, 1, 2, 3),
    frozen_stages=-1,
    norm_cfg=dict(type='BN', requires_grad=True),
    norm_eval=False,
    init_cfg=None)
