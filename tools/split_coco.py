#!/usr/bin/env python
"""Hold images out of a COCO annotation file: a held-out part for the search, the rest to train.

Examples::

    # the official DetNAS split: 5,000 images of COCO train for the search
    python tools/split_coco.py data/coco/annotations/instances_train2017.json \\
        --heldout data/coco/annotations/instances_train2017_search-heldout.json \\
        --rest data/coco/annotations/instances_train2017_search-rest.json
    python tools/split_coco.py data/digits_det/annotations/instances_train.json -n 100

By image and deterministic (an image's side depends only on its id and ``--seed``);
annotations follow their images; categories, licenses and info are kept. Skipped when
both outputs already hold this split of this source. Only the standard library is used
(``nas_det/data/split.py`` is loaded by path, without ``import nas_det``).
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_splitter():
    """The module ``nas_det/data/split.py``, imported without the ``nas_det`` package."""
    if 'nas_det.data.split' in sys.modules:
        return sys.modules['nas_det.data.split']
    spec = importlib.util.spec_from_file_location('_nas_det_split',
                                                  ROOT / 'nas_det' / 'data' / 'split.py')
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def default_outputs(src: str) -> tuple[str, str]:
    """``<stem>_search-heldout.json`` and ``<stem>_search-rest.json`` beside ``src``."""
    p = Path(src)
    return (str(p.with_name(f'{p.stem}_search-heldout.json')),
            str(p.with_name(f'{p.stem}_search-rest.json')))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('ann_file', help='the COCO annotation file to split')
    parser.add_argument('-n', '--num-images', type=int, default=5000,
                        help='images held out (default 5000, as the official DetNAS code)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the choice (default 0)')
    parser.add_argument('--heldout', default=None,
                        help='held-out output (default <ann_file stem>_search-heldout.json)')
    parser.add_argument('--rest', default=None,
                        help='output of the other images (default <stem>_search-rest.json)')
    parser.add_argument('--force', action='store_true',
                        help='rewrite the outputs, even files this tool did not write')
    args = parser.parse_args(argv)
    heldout, rest = default_outputs(args.ann_file)
    split = load_splitter()
    try:
        s = split.split_coco_file(args.ann_file, args.heldout or heldout, args.rest or rest,
                                  num_images=args.num_images, seed=args.seed, force=args.force)
    except (ValueError, FileNotFoundError) as e:
        parser.exit(2, f'{parser.prog}: error: {e}\n')
    state = 'up to date, checked' if s['skipped'] else 'written'
    for part in split.PARTS:
        print(f"{part}: {s[part]['path']}: {s[part]['images']} images, "
              f"{s[part]['annotations']} annotations ({state})")
    print(f"source: {s['source']}: {s['source_images']} images, seed {args.seed}")


if __name__ == '__main__':
    main()
