#!/usr/bin/env python
"""Build the embedded digit data sets (deterministic; skipped when already up to date).

Examples::

    python tools/make_data.py all                       # data/digits_det + data/digits_cls
    python tools/make_data.py det --out data/digits_det --train 400 --val 100 --seed 0
    python tools/make_data.py cls --out data/digits_cls --train 2000 --force

The generator (``nas_det/data/digits.py``) is loaded by path, so building data needs only
numpy and PIL, not the torch-side registration that ``import nas_det`` performs.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_generator():
    """The module ``nas_det/data/digits.py``, imported without the ``nas_det`` package."""
    if 'nas_det.data.digits' in sys.modules:
        return sys.modules['nas_det.data.digits']
    spec = importlib.util.spec_from_file_location(
        '_nas_det_digits', ROOT / 'nas_det' / 'data' / 'digits.py')
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def report(kind: str, summary: dict) -> str:
    """One line saying what a builder wrote (or that it was up to date) and how long it took."""
    splits = summary['splits']
    what = ' + '.join(f"{s['images']} {name}" for name, s in splits.items()) + ' images'
    if kind == 'det':
        what += ', ' + ' + '.join(str(s['annotations']) for s in splits.values()) + ' boxes'
    state = 'up to date, checked' if summary['skipped'] else 'written'
    return (f"{kind}: {summary['out']}: {what} (seed {summary['params']['seed']}); "
            f"{state} in {summary['seconds']:.2f} s")


def parse_args(argv: list[str] | None = None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='kind', required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('--seed', type=int, default=0, help='generation seed (default 0)')
    common.add_argument('--force', action='store_true', help='regenerate even if up to date')
    common.add_argument('--polarity', choices=['light', 'mixed'], default='light',
                        help="ink lighter than its ground ('light', default), or both "
                        "polarities in one set ('mixed': much slower to learn)")

    det = sub.add_parser('det', parents=[common], help='COCO-format detection set')
    det.add_argument('--out', default='data/digits_det', help='output directory')
    det.add_argument('--train', type=int, default=400, help='train images (default 400)')
    det.add_argument('--val', type=int, default=100, help='val images (default 100)')
    det.add_argument('--size', type=int, nargs='+', default=[256, 320], metavar='PX',
                     help='image side, or MIN MAX for sizes drawn per image (default 256 320)')
    det.add_argument('--scale', type=int, nargs=2, default=[8, 128], metavar=('MIN', 'MAX'),
                     help='longer box side range, log-uniform (default 8 128)')
    det.add_argument('--objects', type=int, nargs=2, default=[2, 8], metavar=('MIN', 'MAX'),
                     help='digits per image (default 2 8)')
    det.add_argument('--max-overlap', type=float, default=0.2,
                     help='max intersection over the smaller box (default 0.2)')
    det.add_argument('--no-clutter', action='store_true',
                     help='plain backgrounds, no distractor strokes or digit fragments')

    cls = sub.add_parser('cls', parents=[common], help='classification set (mmpretrain)')
    cls.add_argument('--out', default='data/digits_cls', help='output directory')
    cls.add_argument('--train', type=int, default=None, help='train images (default 4000)')
    cls.add_argument('--val', type=int, default=None, help='val images (default 1000)')
    cls.add_argument('--size', type=int, default=32, help='image side in px (default 32)')

    both = sub.add_parser('all', parents=[common], help='both sets with default sizes')
    both.add_argument('--root', default='data',
                      help='parent directory of digits_det/ and digits_cls/ (default data)')
    return parser, parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    parser, args = parse_args(argv)
    gen = load_generator()
    t0 = time.perf_counter()
    try:
        if args.kind in ('det', 'all'):
            out = Path(args.root) / 'digits_det' if args.kind == 'all' else args.out
            kwargs = {} if args.kind == 'all' else dict(
                num_train=args.train, num_val=args.val, scale_range=tuple(args.scale),
                img_size=args.size[0] if len(args.size) == 1 else tuple(args.size),
                num_objects=tuple(args.objects), max_overlap=args.max_overlap,
                clutter=not args.no_clutter)
            print(report('det', gen.make_detection_set(out, seed=args.seed, force=args.force,
                                                       polarity=args.polarity, **kwargs)),
                  flush=True)
        if args.kind in ('cls', 'all'):
            out = Path(args.root) / 'digits_cls' if args.kind == 'all' else args.out
            kwargs = {} if args.kind == 'all' else dict(
                num_train=args.train, num_val=args.val, img_size=args.size)
            print(report('cls', gen.make_classification_set(out, seed=args.seed,
                                                            force=args.force,
                                                            polarity=args.polarity, **kwargs)))
    except (ValueError, FileNotFoundError) as e:
        parser.exit(2, f'{parser.prog}: error: {e}\n')
    if args.kind == 'all':
        print(f'all: done in {time.perf_counter() - t0:.2f} s')


if __name__ == '__main__':
    main()
