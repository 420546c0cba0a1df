#!/usr/bin/env python
"""Build a latency table of the DetNAS ShuffleNetV2 space on this device, and check it.

    python tools/latency_table.py --out lat.json [--arch 300M] [--widen-factor 1.0]
        [--input-shape 3 224 224] [--batch 1] [--device cpu|cuda] [--threads N]
        [--channels-last] [--with-last-conv] [--repeats 10] [--rounds 3] [--check N]

Times (eval mode, no gradients) the stem, each of the 4 candidate units at every distinct
block position and the optional last conv, and writes the medians in milliseconds as JSON,
with the device's measured conv MAC rate and copy bandwidth (for MorphNet's
``cost='latency'``). Use it in a search with ``train_cfg.latency_table='lat.json'`` and
``train_cfg.max_latency=<ms>`` (configs/detnas/README.md).

``--check N`` then times N random whole backbones (``ShuffleNetV2Subnet``) and prints each
one's predicted and measured latency and the relative error; ``--max-error E`` makes the
command fail when a path's error exceeds E (for example 0.15). ``--table FILE`` checks an
existing table instead of building one.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument('--out', help='JSON file to write')
    p.add_argument('--table', help='check this existing table instead of building one')
    p.add_argument('--arch', default='300M', choices=('300M', '1.3G', '3.8G'))
    p.add_argument('--widen-factor', type=float, default=1.0)
    p.add_argument('--input-shape', type=int, nargs=3, default=[3, 224, 224],
                   metavar=('C', 'H', 'W'))
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=None,
                   help='torch.set_num_threads (default: torch\'s own)')
    p.add_argument('--channels-last', action='store_true')
    p.add_argument('--with-last-conv', action='store_true')
    p.add_argument('--repeats', type=int, default=10, help='timed calls per entry per round')
    p.add_argument('--rounds', type=int, default=3, help='round-robin rounds over all entries')
    p.add_argument('--stat', default='min', choices=('min', 'median'),
                   help='per entry: the fastest timed call (default; robust to other load) '
                   'or the median')
    p.add_argument('--calibrate', type=int, default=4, metavar='K',
                   help='whole random backbones timed with the entries to fit the scale that '
                   'isolated timing misses (default 4; 0: none)')
    p.add_argument('--check', type=int, default=0, metavar='N',
                   help='time N random whole backbones against the prediction')
    p.add_argument('--max-error', type=float, default=None,
                   help='fail when a checked path is off by more than this fraction')
    p.add_argument('--seed', type=int, default=0,
                   help='seed of the checked paths (the calibration paths use seed 1000)')
    args = p.parse_args(argv)
    if not args.out and not args.table:
        raise ValueError('--out: give the file to write (or --table FILE to check one)')
    if args.calibrate < 0:
        raise ValueError(f'--calibrate: an integer >= 0 is expected, got {args.calibrate}')
    for name in ('batch', 'repeats', 'rounds'):
        if getattr(args, name) < 1:
            raise ValueError(f'--{name}: an integer >= 1 is expected, got {getattr(args, name)}')
    if args.check < 0:
        raise ValueError(f'--check: an integer >= 0 is expected, got {args.check}')
    if args.widen_factor <= 0 or any(v < 1 for v in args.input_shape):
        raise ValueError('--widen-factor / --input-shape: positive values are expected')
    import torch
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f'--threads: an integer >= 1 is expected, got {args.threads}')
        torch.set_num_threads(args.threads)
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise ValueError(f'--device: {args.device!r} asked for and torch sees no GPU; use cpu')
    if not (args.device == 'cpu' or args.device.startswith('cuda')):
        raise ValueError(f"--device: 'cpu' or 'cuda[:N]' is expected, got {args.device!r}")
    from nas_det.models.latency import LatencyTable, build_latency_table, measure_paths
    if args.table:
        table = LatencyTable.load(args.table, '--table')
        if table.meta['device'] != str(torch.device(args.device)):
            print(f'[latency] note: the table was built on {table.meta["device"]}', flush=True)
        torch.set_num_threads(table.meta['threads'])
    else:
        def progress(msg):
            print(msg, flush=True)
        table = build_latency_table(args.arch, args.widen_factor, args.input_shape, args.batch,
                                    args.device, args.channels_last, args.with_last_conv,
                                    args.repeats, args.rounds, stat=args.stat,
                                    calibrate=args.calibrate, progress=progress)
        table.save(args.out)
        pf = table.meta['platform']
        cal = table.meta['calibration']
        print(f'[latency] {len(table.blocks)} block entries, stem {table.fixed["stem"]:.3f} ms, '
              f'scale {cal["scale"]:.3f} from {cal["paths"]} whole paths ({cal["stat"]}); '
              f'{table.describe()}; conv rate {pf["peak_compute"] / 1e9:.1f} GMAC/s, copy '
              f'bandwidth {pf["memory_bandwidth"] / 1e9:.1f} GB/s; written to {args.out}',
              flush=True)
    if not args.check:
        return 0
    from nas_det.models.latency import _block_plan, _sample_paths
    space = _block_plan(table.meta['arch'], table.meta['widen_factor'],
                        table.meta['input_shape'])[3]
    paths = _sample_paths(space, args.check, args.seed)
    measured = measure_paths(table, paths, args.repeats, args.rounds)
    errors, plain = [], []
    for g, ms in zip(paths, measured):
        pred = table.predict(g)
        errors.append((pred - ms) / ms)
        plain.append(abs(table.predict(g, calibrated=False) - ms) / ms)
        print(f'[latency] {g}: predicted {pred:.3f} ms, measured {ms:.3f} ms, error '
              f'{100 * errors[-1]:+.1f}%', flush=True)
    worst = max(abs(e) for e in errors)
    mean = sum(abs(e) for e in errors) / len(errors)
    print(f'[latency] {len(paths)} paths: mean |error| {100 * mean:.1f}%, largest '
          f'{100 * worst:.1f}% (the plain sum, without the scale: mean '
          f'{100 * sum(plain) / len(plain):.1f}%, '
          f'largest {100 * max(plain):.1f}%)', flush=True)
    if args.max_error is not None and worst > args.max_error:
        print(f'[latency] FAILED: largest error {100 * worst:.1f}% > '
              f'{100 * args.max_error:.1f}%', flush=True)
        return 1
    return 0


if __name__ == '__main__':
    from nas_det.engine.launch import one_line_errors
    sys.exit(one_line_errors(main))
