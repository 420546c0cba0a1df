"""Cell networks: sizes and mult-adds of the published models, and CPU throughput.

Usage::

    python bench/cells.py                  # sizes, mult-adds, NASNet-A Mobile throughput
    python bench/cells.py --runs 3 --analyzer
    python bench/cells.py --tiny           # CI size: 1 timed run of batch 1

Parameters (1000 classes for ImageNet models, 10 for CIFAR) and mult-adds (conv + linear
multiply-adds of one image at the paper's input size, groups-aware: the convention of
``mmengine.analysis.FlopAnalyzer``'s ``by_operator()['conv'] + ['linear']``) are counted on
the ``meta`` device, so even the large models take well under a second each. With
``--analyzer``, NASNet-A Mobile's mult-adds are also measured by FlopAnalyzer itself (a real
forward at 224) to show the two counts agree. Throughput: NASNet-A Mobile forward (eval,
no grad) on CPU at 224x224, batch 8, median of ``--runs`` timed runs after one warm-up,
with ``--threads`` torch threads (default 1: on a shared 2-core machine two threads were
20x slower, 0.5 vs 10 images/s, as each waits for the other's core).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from nas_det.models.cells import (PUBLISHED_MODELS, build_published,  # noqa: E402
                                  conv_linear_flops)

REFERENCE = {  # (params, mult-adds, source) from /work/shared/ANCHORS.md
    'nasnet_a_large': (88_753_150, 23.8e9, 'timm nasnetalarge (params); paper'),
    'nasnet_a_mobile': (5.3e6, 564e6, 'paper, 4@1056'),
    'nasnet_a_cifar': (3.3e6, None, 'paper, 6@768'),
    'pnasnet_5_large': (86_057_668, 25.0e9, 'timm pnasnet5large (params); paper'),
    'pnasnet_5_mobile': (5.1e6, 588e6, 'paper'),
    'amoebanet_a_cifar': (3.2e6, None, 'paper, N=6 F=36'),
    'amoebanet_a_large': (86.7e6, 23.1e9, 'paper, N=6 F=190'),
}


def _fmt(v):
    if v is None:
        return '-'
    return f'{v / 1e9:.2f}B' if v >= 1e9 else f'{v / 1e6:.1f}M'


def sizes() -> None:
    print(f'{"model":<18} {"N@F":>7} {"input":>5} {"params":>12} {"paper":>11} '
          f'{"mult-adds":>10} {"paper":>7}  reference')
    for name in PUBLISHED_MODELS:
        kw = dict(num_classes=10 if 'cifar' in name else 1000)
        with torch.device('meta'):
            net = build_published(name, **kw)
        size = net.layout['image_size']
        params = sum(p.numel() for p in net.parameters())
        flops = conv_linear_flops(net, (3, size, size))
        ref_p, ref_f, src = REFERENCE[name]
        ref_params = f'{ref_p:,}' if isinstance(ref_p, int) else _fmt(ref_p)
        nf = f'{net.layout["cells_per_stage"]}@{net.layout["filters"]}'
        print(f'{name:<18} {nf:>7} {size:>5} {params:>12,} {ref_params:>11} {_fmt(flops):>10} '
              f'{_fmt(ref_f):>7}  {src}')


def analyzer_check() -> None:
    from nas_det.models.flops import model_flops
    torch.manual_seed(0)
    net = build_published('nasnet_a_mobile')
    x = torch.zeros(1, 3, 224, 224)
    got = model_flops(net, x)['flops']
    print(f'NASNet-A Mobile mult-adds: FlopAnalyzer {got:,}, meta counter '
          f'{conv_linear_flops(net, (3, 224, 224), device="cpu"):,}')


def throughput(runs: int, batch: int = 8) -> None:
    torch.manual_seed(0)
    net = build_published('nasnet_a_mobile').eval()
    x = torch.randn(batch, 3, 224, 224)
    times = []
    with torch.no_grad():
        net(x)  # warm-up (oneDNN primitives, allocator)
        for _ in range(runs):
            t = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - t)
    med = statistics.median(times)
    print(f'NASNet-A Mobile, CPU ({torch.get_num_threads()} threads), batch {batch} at 224: '
          f'{batch / med:.1f} images/s (median of {runs}: {med:.3f} s/batch; '
          f'min {min(times):.3f}, max {max(times):.3f})')


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', type=int, default=5, help='timed forward passes')
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    parser.add_argument('--batch', type=int, default=8, help='images per timed forward')
    parser.add_argument('--analyzer', action='store_true',
                        help="also count NASNet-A Mobile's mult-adds with FlopAnalyzer")
    parser.add_argument('--tiny', action='store_true',
                        help='CI size: 1 timed run of batch 1 (sizes as always)')
    args = parser.parse_args(argv)
    if args.tiny:
        args.runs, args.batch = 1, 1
    if args.runs < 1 or args.batch < 1:
        parser.error('--runs and --batch: positive integers are expected')
    torch.set_num_threads(args.threads)
    sizes()
    if args.analyzer:
        analyzer_check()
    throughput(args.runs, args.batch)


if __name__ == '__main__':
    main()
