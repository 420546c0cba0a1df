# Real COCO 2017 on your disk, in the standard layout:
#   <data_root>/annotations/instances_{train,val}2017.json, <data_root>/{train,val}2017/
# Set data_root (here or with --cfg-options) to where it lives.
_base_ = 'mmdet::_base_/datasets/coco_detection.py'
