# Runtime of nas_det's classification configs (supernet pre-training, mmpretrain models):
# mmpretrain's defaults (default_scope='mmpretrain'), our plugin imported, offline-safe,
# iteration-based logging and checkpoints (work_dir/iter_<N>.pth).
_base_ = 'mmpretrain::_base_/default_runtime.py'
custom_imports = dict(imports=['nas_det'], allow_failed_imports=False)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100, max_keep_ckpts=2))
log_processor = dict(type='LogProcessor', window_size=10, by_epoch=False)
env_cfg = dict(mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0))
randomness = dict(seed=0)
