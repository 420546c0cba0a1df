# NAS-FPN controller search on COCO, the paper's way (Ghiasi et al. 2019):
#   1. split: 5,000 train2017 images held out (configs/_base_/coco_heldout_search.py);
#   2. search: an LSTM controller (ReinforceController, PPO update) asks batches of 7-cell
#      pyramids; each child, the RetinaNet ResNet-10 of
#      retinanet_r10_nasfpn_proxy-512_coco.py at 512x512, is trained from scratch for
#      about 10 epochs on the other 112,266 train2017 images and its COCO box AP on the
#      5,000 held-out images is the reward;
#   3. export: the best pyramid into the RetinaNet R-50 640 config
#      (retinanet_r50_nasfpn-published_crop640-50e_coco.py, 7 stacks at 256 channels).
#   torchrun --nproc_per_node 8 tools/search.py configs/nasfpn/retinanet_r10_nasfpn_search_coco.py --launcher pytorch [--resume]
# (the ranks split every controller batch: each trains its own children on one GPU).
#
# Paper settings and where ours come from:
#   - proxy task: ResNet-10, 512x512, 10 epochs instead of 50, reward = AP on 5,000 held-out
#     train images (shared/ANCHORS.md);
#   - controller: an RNN emitting 4 softmax decisions per merging cell, 7 cells, trained with
#     PPO as NASNet's (update='ppo'; clip 0.2 and 4 epochs per batch are PPO's common
#     defaults, not figures from the paper); lr 0.00035 and entropy 1e-4 are NASNet/ENAS's;
#   - budget: the paper reports the controller converging after roughly 8,000 sampled
#     architectures on 100 TPUs (a figure recalled from the paper, not in ANCHORS.md:
#     verify); batch_size=100 = one child per accelerator of that setup (the paper gives no
#     controller batch size);
#   - child training: batch 64 with mmdet's NAS-FPN SGD (lr 0.08, momentum 0.9, wd 1e-4),
#     10 epochs of 112,266 images = 17,542 iterations, cosine decay after 500 warm-up
#     iterations (the paper's proxy schedule is not given beyond "10 epochs"); stack_times=1
#     in the proxy (not stated in ANCHORS.md: verify against the paper).
#
# Cost: 757.4 s per training iteration of batch 64 (timed at 8, scaled linearly) at 512x512 on 1
# CPU thread of a shared 2-core machine, load 5.2 (CPU figure, measured by bench/config_cost.py;
# no GPU run yet) x 140,336,000 iterations (8,000 children x 17,542 iterations) = 29,526,093
# CPU-hours. GPU hours not yet measured.
_base_ = [
    './retinanet_r10_nasfpn_proxy-512_coco.py',
    '../_base_/coco_heldout_search.py',
]

num_cells = 7
proxy_batch = 64
proxy_iters = 17542   # 10 epochs of the 112,266 training images left after the split
controller_search = dict(
    type='SearchLoop',
    search_space=dict(type='NASFPNSpace', num_cells=num_cells),
    strategy=dict(type='ReinforceController', update='ppo', ppo_clip=0.2, ppo_epochs=4,
                  batch_size=100, lr=0.00035, baseline_decay=0.95, entropy_weight=1e-4),
    evaluator=dict(
        type='ProxyTrainEvaluator',
        genotype_key='model.neck.genotype',
        metric='coco/bbox_mAP',
        train_iters=proxy_iters,
        warmup_iters=500,
        lr_schedule='cosine',
        batch_size=proxy_batch,
        num_val_images=5000,
        val_batch_size=8,
        # 5,000 decoded images would not fit in memory: read them again for every child
        cache_val_batches=False,
        log_interval=500),
    max_trials=8000)
# every child trains on its own GPU (plain BN: a child is not split across ranks)
optim_wrapper = dict(optimizer=dict(lr=0.08))

export_phase = dict(
    type='export_genotype',
    export=dict(template='{{ fileDirname }}/retinanet_r50_nasfpn-published_crop640-50e_coco.py',
                genotype_key='model.neck.genotype',
                name='retinanet_r50_nasfpn-searched_crop640-50e_coco'))
phases = [
    dict(type='split'),
    dict(type='search', train_cfg='controller_search', train_dataloader='on_train_rest',
         val_dataloader='on_heldout', val_evaluator='heldout_evaluator'),
    export_phase,
]
