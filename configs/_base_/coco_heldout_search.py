# Searches on COCO score their candidates on 5,000 images held out of train2017, never on
# val2017 (as the official DetNAS code and NAS-FPN's proxy task: "AP on 5,000 held-out
# training images"). The phase `split` writes both annotation files beside
# instances_train2017.json (once; skipped when up to date; `python tools/split_coco.py`
# writes the same files by hand): the search trains on the rest (112,266 images) and scores
# on the held-out part. Phases name these dicts by name (`on_train_rest`, `on_heldout`,
# `heldout_evaluator`, merged over the config's loaders and metric), so a child config or
# --cfg-options changes them there; another data root, e.g.:
#   --cfg-options heldout_split.data_root=/data/coco/ \
#                 heldout_evaluator.ann_file=/data/coco/annotations/instances_train2017_search-heldout.json
# (with the dataloaders' data_root).
search_data_root = 'data/coco/'
heldout_split = dict(
    data_root=search_data_root,
    ann_file='annotations/instances_train2017.json',
    heldout='annotations/instances_train2017_search-heldout.json',
    rest='annotations/instances_train2017_search-rest.json',
    num_images=5000, seed=0)
on_train_rest = dict(dataset=dict(ann_file=heldout_split['rest']))
on_heldout = dict(dataset=dict(ann_file=heldout_split['heldout'],
                               data_prefix=dict(img='train2017/')))
heldout_evaluator = dict(ann_file=search_data_root + heldout_split['heldout'])
