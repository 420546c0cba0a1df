# The detection "1x" schedule by iterations, as DetNAS fine-tunes its supernet on COCO
# (and as the official DetNAS configs retrain): 90k iterations of 16 images (8 GPUs x 2),
# SGD momentum 0.9, weight decay 1e-4, lr divided by 10 at 60k and 80k, 500-iteration
# linear warm-up. lr 0.02 is Faster R-CNN's; RetinaNet configs set 0.01.
max_iters = 90000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=10000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[60000, 80000], gamma=0.1),
]
# lr is set for 16 images per iteration; `--cfg-options auto_scale_lr.enable=True`
# scales it to another total batch
auto_scale_lr = dict(enable=False, base_batch_size=16)
