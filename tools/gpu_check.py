#!/usr/bin/env python
"""The prepared GPU check: mmcv's CUDA ops, and the DetNAS supernet trained on CUDA.

Run by ``tools/gpu_check.sh`` on a GPU machine (and at tiny size on CPU by the tests, so that
it cannot rot). It

1. refuses a CPU-only mmcv where torch sees CUDA (``nas_det.utils.check_mmcv``);
2. runs ``mmcv.ops.nms`` and ``mmcv.ops.sigmoid_focal_loss`` on CUDA tensors and compares
   them with the CPU / pure-torch results;
3. trains RetinaNet with the DetNAS supernet backbone (one random path per step) for
   ``--iters`` steps on the embedded digits, printing the loss curve and img/s;
4. trains the standalone subnet of the published 300M path the same way, and prints
   img/s of both and their ratio.

Example::

    python tools/gpu_check.py --iters 300 --work-dir /tmp/gpu_check
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SUPERNET_CFG = osp.join(ROOT, 'configs', 'detnas',
                        'retinanet_detnas-shufflenet-300M-supernet_fpn_digits.py')


def check_ops(device: str) -> None:
    import torch
    from mmcv.ops import nms, sigmoid_focal_loss
    from mmdet.models.losses.focal_loss import py_sigmoid_focal_loss
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(200, 2, generator=g) * 200
    wh = torch.rand(200, 2, generator=g) * 60 + 4
    boxes = torch.cat([xy, xy + wh], 1)
    scores = torch.rand(200, generator=g)
    keep_cpu = nms(boxes, scores, 0.5)[1]
    dets, keep = nms(boxes.to(device), scores.to(device), 0.5)
    assert dets.device.type == device, dets.device
    assert torch.equal(keep.cpu(), keep_cpu), 'NMS on %s differs from CPU' % device
    if device == 'cpu':  # mmcv's sigmoid_focal_loss kernel exists for CUDA only
        print(f'[gpu_check] mmcv ops on cpu: nms kept {len(keep)} boxes (= CPU); '
              'sigmoid_focal_loss has no CPU kernel, checked on CUDA only', flush=True)
        return
    logits = torch.randn(64, 9, generator=g)
    target = torch.randint(0, 9, (64,), generator=g)
    loss = sigmoid_focal_loss(logits.to(device), target.to(device), 2.0, 0.25, None, 'mean')
    ref = py_sigmoid_focal_loss(logits, torch.nn.functional.one_hot(target, 10)[:, :9].float(),
                                gamma=2.0, alpha=0.25, reduction='mean')
    assert loss.device.type == device
    assert abs(loss.item() - ref.item()) <= 1e-5 * max(1.0, abs(ref.item())), (loss, ref)
    print(f'[gpu_check] mmcv ops on {device}: nms kept {len(keep)} boxes (= CPU), '
          f'sigmoid_focal_loss {loss.item():.6f} (pure torch {ref.item():.6f})', flush=True)


def train(cfg_path: str, work_dir: str, iters: int, device: str, subnet: str | None,
          batch: int, data_root: str, pillow: bool = False) -> tuple[float, list]:
    """Train ``iters`` steps; return img/s after warm-up and the (iter, loss) curve."""
    import torch
    from mmengine.config import Config
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    cfg = Config.fromfile(cfg_path)
    cfg.work_dir = work_dir
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters + 1)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
                                end=min(50, iters))]
    cfg.train_dataloader.batch_size = batch
    cfg.train_dataloader.dataset.data_root = osp.join(data_root, 'digits_det') + os.sep
    if pillow:  # decode and resize with Pillow (no OpenCV on the machine)
        for t in cfg.train_dataloader.dataset.pipeline:
            if t['type'] == 'LoadImageFromFile':
                t['imdecode_backend'] = 'pillow'
            elif t['type'] in ('Resize', 'RandomResize'):
                t['backend'] = 'pillow'
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=iters + 1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=max(1, iters // 10))
    if subnet is not None:
        bb = cfg.model.backbone
        bb.type = 'ShuffleNetV2Subnet'
        bb.genotype = subnet
        cfg.custom_hooks = []
        cfg.find_unused_parameters = False
    warm = min(20, max(1, iters // 5))
    curve, stamps = [], {}

    class Probe(Hook):
        priority = 'LOWEST'

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            i = runner.iter + 1
            if device == 'cuda':
                torch.cuda.synchronize()
            if i in (warm, iters):
                stamps[i] = time.perf_counter()
            if i % max(1, iters // 12) == 0 or i == iters:
                curve.append((i, float(outputs['loss'].detach())))

    runner = Runner.from_cfg(cfg)
    runner.register_hook(Probe())
    model_device = next(runner.model.parameters()).device.type
    assert model_device == device, f'the model is on {model_device}, not {device}'
    runner.train()
    steps = iters - warm
    ips = steps * batch / (stamps[iters] - stamps[warm]) if steps > 0 else float('nan')
    return ips, curve


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--iters', type=int, default=300, help='supernet training steps (default 300)')
    p.add_argument('--subnet-iters', type=int, default=None,
                   help='standalone subnet steps (default: a third of --iters, at least 2)')
    p.add_argument('--batch', type=int, default=16, help='images per step (default 16)')
    p.add_argument('--device', choices=['cuda', 'cpu'], default='cuda',
                   help="'cpu' only to test this script where no GPU is present")
    p.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'gpu_check'))
    p.add_argument('--data-root', default=osp.join(ROOT, 'data'))
    p.add_argument('--pillow', action='store_true',
                   help="decode and resize images with Pillow (where OpenCV is absent)")
    args = p.parse_args(argv)
    import torch
    if args.device == 'cuda' and not torch.cuda.is_available():
        print('[gpu_check] error: --device cuda but torch sees no GPU', file=sys.stderr)
        return 1
    from nas_det.utils.check_mmcv import check_mmcv_ops
    try:
        print('[gpu_check]', check_mmcv_ops(), flush=True)
    except RuntimeError as e:
        print(f'[gpu_check] error: {e}', file=sys.stderr)
        return 1
    print(f'[gpu_check] torch {torch.__version__}, device {args.device}'
          + (f' ({torch.cuda.get_device_name(0)})' if args.device == 'cuda' else ''), flush=True)
    subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'make_data.py'), 'det',
                    '--out', osp.join(args.data_root, 'digits_det')], check=True)
    check_ops(args.device)
    if args.pillow:
        import mmcv
        mmcv.use_backend('pillow')
    import nas_det  # noqa: F401  (registers the backbones and hooks)
    from nas_det.space.published import DETNAS_300M_RETINANET
    sub_iters = args.subnet_iters or max(2, args.iters // 3)
    t0 = time.perf_counter()
    ips_super, curve = train(SUPERNET_CFG, osp.join(args.work_dir, 'supernet'), args.iters,
                             args.device, None, args.batch, args.data_root, args.pillow)
    t1 = time.perf_counter()
    ips_sub, _ = train(SUPERNET_CFG, osp.join(args.work_dir, 'subnet'), sub_iters,
                       args.device, DETNAS_300M_RETINANET.to_dict(), args.batch, args.data_root,
                       args.pillow)
    print('[gpu_check] supernet loss curve: '
          + ', '.join(f'{i}:{loss:.3f}' for i, loss in curve), flush=True)
    print(f'[gpu_check] supernet {args.iters} steps in {t1 - t0:.1f} s; '
          f'img/s supernet {ips_super:.1f}, subnet {ips_sub:.1f}, '
          f'ratio subnet/supernet {ips_sub / ips_super:.3f}', flush=True)
    first, last = curve[0][1], curve[-1][1]
    print(f'[gpu_check] ok: loss {first:.3f} -> {last:.3f}', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
