"""NAS-FPN neck built from the published genotype vs mmdet's hand-written ``NASFPN``.

Usage::

    python bench/nasfpn.py                      # 2 threads, 9 interleaved repeats
    python bench/nasfpn.py --threads 1 --repeats 15 --size 640 --batch 2
    python bench/nasfpn.py --device cuda        # on a GPU (synchronised timings)
    python bench/nasfpn.py --tiny               # CI size: 1 thread, 128 px, 1 repeat

Both necks are built with mmdet's RetinaNet NAS-FPN settings (``in_channels=[256, 512,
1024, 2048], out_channels=256, num_outs=5, stack_times=7, start_level=1, norm_cfg=BN``);
ours gets mmdet's weights through :func:`mmdet_to_nasfpn_state_dict`, and the outputs
are compared. The input is a ResNet-50-shaped pyramid (C2..C5, strides 4..32) for a
``size`` x ``size`` image. Forward passes (eval mode, no grad) of the two necks alternate
in one process, which of the two runs first alternating too; the report gives the median
time of each, the ratio ours / mmdet of the medians (target: <= 1.05) and the median of
the ratios of the back-to-back pairs (less sensitive to load drift on a shared machine).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from nas_det.models.nasfpn import NASFPNNeck, mmdet_to_nasfpn_state_dict  # noqa: E402

ARGS = dict(in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5, stack_times=7,
            start_level=1, norm_cfg=dict(type='BN'))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--threads', type=int, default=2, help='torch.set_num_threads (CPU)')
    p.add_argument('--repeats', type=int, default=9, help='timed forwards per neck')
    p.add_argument('--warmup', type=int, default=2, help='untimed forwards per neck')
    p.add_argument('--size', type=int, default=640, help='image side (pixels)')
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--device', default='cpu')
    p.add_argument('--tiny', action='store_true',
                   help='CI size: 1 thread, batch 1, 128x128, 1 repeat, no warm-up')
    args = p.parse_args(argv)
    if args.tiny:
        args.threads, args.batch, args.size, args.repeats, args.warmup = 1, 1, 128, 1, 0
    if args.repeats < 1 or args.batch < 1 or args.size < 32 or args.warmup < 0:
        p.error('--repeats, --batch: >= 1; --size: >= 32; --warmup: >= 0')

    from mmdet.models.necks.nas_fpn import NASFPN
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = torch.device(args.device)
    ref = NASFPN(**ARGS).to(dev).eval()
    ours = NASFPNNeck(**ARGS).to(dev).eval()
    ours.load_state_dict(mmdet_to_nasfpn_state_dict(ref.state_dict()))
    n_ours = sum(t.numel() for t in ours.parameters())
    n_ref = sum(t.numel() for t in ref.parameters())
    print(f'parameters: ours {n_ours:,}  mmdet {n_ref:,}')

    feats = [torch.randn(args.batch, c, args.size // s, args.size // s, device=dev)
             for c, s in zip(ARGS['in_channels'], (4, 8, 16, 32))]

    def run(model) -> float:
        if dev.type == 'cuda':
            torch.cuda.synchronize(dev)
        t = time.perf_counter()
        model(feats)
        if dev.type == 'cuda':
            torch.cuda.synchronize(dev)
        return time.perf_counter() - t

    times = {'ours': [], 'mmdet': []}
    models = {'ours': ours, 'mmdet': ref}
    with torch.no_grad():
        diff = max((a - b).abs().max().item() for a, b in zip(ours(feats), ref(feats)))
        print(f'max |ours - mmdet| over the 5 outputs: {diff:.3g}')
        for _ in range(args.warmup):
            run(ours), run(ref)
        for r in range(args.repeats):
            for name in (('ours', 'mmdet') if r % 2 == 0 else ('mmdet', 'ours')):
                times[name].append(run(models[name]))
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med['ours'] / med['mmdet']
    paired = statistics.median(a / b for a, b in zip(times['ours'], times['mmdet']))
    print(f'device {args.device}, threads {torch.get_num_threads()}, batch {args.batch}, '
          f'{args.size}x{args.size} image, {args.repeats} interleaved repeats')
    for k, v in times.items():
        print(f'  {k:5s}: median {med[k] * 1e3:8.1f} ms  (min {min(v) * 1e3:.1f}, '
              f'max {max(v) * 1e3:.1f})')
    print(f'forward time ratio ours / mmdet (medians): {ratio:.3f}  (target <= 1.05); '
          f'median of the per-repeat ratios: {paired:.3f}')
    return {'params': (n_ours, n_ref), 'median_s': med, 'ratio': ratio, 'paired_ratio': paired,
            'max_diff': diff}


if __name__ == '__main__':
    main()
