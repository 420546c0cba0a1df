# RetinaNet ResNet-18 FPN, from scratch, on the embedded digits: the plain mmdet baseline
# that every searched detector is compared with. Runs with tools/search.py or mmdet's own
# tools/train.py (custom_imports in the runtime base is all nas_det adds).
_base_ = [
    '../_base_/models/retinanet_r18_lite_fpn.py',
    '../_base_/datasets/digits_det_256.py',
    '../_base_/schedules/iter_sgd.py',
    '../_base_/default_runtime.py',
]
