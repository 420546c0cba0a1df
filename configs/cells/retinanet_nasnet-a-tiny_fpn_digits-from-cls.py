# RetinaNet on the embedded digits whose cell-network backbone starts from the classifier
# pretrained by nasnet-a-tiny_digits-cls.py (the same genotype, layout, N and F):
#   python tools/search.py configs/cells/nasnet-a-tiny_digits-cls.py
#   python tools/search.py configs/cells/retinanet_nasnet-a-tiny_fpn_digits-from-cls.py
# The classifier's 'backbone.*' weights load with the prefix stripped; its head has no
# counterpart in the detector. Another checkpoint:
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = './retinanet_nasnet-a-tiny_fpn_digits.py'
model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            prefix='backbone.',
            checkpoint='work_dirs/nasnet-a-tiny_digits-cls/iter_300.pth')))
