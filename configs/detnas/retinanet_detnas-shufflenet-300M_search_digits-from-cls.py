# The whole DetNAS pipeline on the embedded digits: classification pre-training, then
# (this config) detection fine-tuning of the pre-trained supernet, evolutionary search and
# export, as retinanet_detnas-shufflenet-300M_search_digits.py (which trains from scratch).
#   python tools/search.py configs/detnas/shufflenet-300M-supernet_digits-cls.py
#   python tools/search.py configs/detnas/retinanet_detnas-shufflenet-300M_search_digits-from-cls.py
# The backbone starts from the classifier's 'backbone.*' weights (its last conv is
# skipped); the search starts from the fine-tuned supernet, the export drops init_cfg.
_base_ = './retinanet_detnas-shufflenet-300M_search_digits.py'
model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True,  # the base's init_cfg is None
            type='Pretrained',
            prefix='backbone.',
            checkpoint='work_dirs/shufflenet-300M-supernet_digits-cls/iter_600.pth')))
