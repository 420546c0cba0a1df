# DetNAS's two training steps on the embedded digits: detection fine-tuning of a supernet
# pre-trained on classification (RetinaNet, uniform path sampling as in
# retinanet_detnas-shufflenet-300M-supernet_fpn_digits.py, which trains from scratch).
#   python tools/search.py configs/detnas/shufflenet-300M-supernet_digits-cls.py
#   python tools/search.py configs/detnas/retinanet_detnas-shufflenet-300M-supernet_fpn_digits-from-cls.py
# The backbone starts from the classifier's 'backbone.*' weights (prefix stripped); the
# classifier's last conv ('backbone.last_conv.*') has no counterpart in the detector and is
# skipped (mmengine loads with strict=False and logs it as unexpected keys). Another
# checkpoint: --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = './retinanet_detnas-shufflenet-300M-supernet_fpn_digits.py'
model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True,  # the base's init_cfg is None
            type='Pretrained',
            prefix='backbone.',
            checkpoint='work_dirs/shufflenet-300M-supernet_digits-cls/iter_600.pth')))
# Every choice of the pre-trained supernet is trained: uniform sampling from the first
# iteration (a warm start would overwrite the other choices with copies of one).
custom_hooks = [dict(type='UniformSamplingHook', seed=0)]
