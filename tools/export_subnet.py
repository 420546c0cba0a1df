#!/usr/bin/env python
"""Turn a searched genotype into a ready-to-train config (and an initial checkpoint).

    python tools/export_subnet.py CONFIG GENOTYPE_JSON [--checkpoint SUPERNET.pth]
                                  [--out-dir DIR] [--name NAME] [--module backbone]

CONFIG is the supernet (or search) config, GENOTYPE_JSON a ``best_genotype.json`` (or a
genotype JSON). The written ``DIR/NAME.py`` builds the fixed network (for DetNAS,
``ShuffleNetV2Subnet`` with the genotype inline) and trains with ``tools/search.py`` or
mmdet's own ``tools/train.py``; with ``--checkpoint`` it starts from the supernet's weights
of that path (``DIR/NAME_init.pth``, sliced by name).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument('config')
    p.add_argument('genotype', help='best_genotype.json or a genotype JSON file')
    p.add_argument('--checkpoint', help='supernet checkpoint to initialise from')
    p.add_argument('--out-dir', default='.', help='where to write (default: .)')
    p.add_argument('--name', default='subnet', help='file stem (default: subnet)')
    p.add_argument('--module', default='backbone',
                   help='dotted path of the searchable module in model (default: backbone)')
    p.add_argument('--subnet-type', help='registered type of the fixed module (default: the '
                   'supernet type with Supernet -> Subnet)')
    args = p.parse_args(argv)
    import nas_det  # noqa: F401
    from nas_det.engine.export import export_config
    from nas_det.engine.launch import read_config
    cfg = read_config(args.config)
    out = export_config(cfg, args.genotype, module=args.module, subnet_type=args.subnet_type,
                        checkpoint=args.checkpoint, out_dir=args.out_dir, name=args.name)
    for k, v in out.items():
        print(f'{k}: {v}')
    print(f'train it with: python tools/search.py {out["config"]}')


if __name__ == '__main__':
    from nas_det.engine.launch import one_line_errors
    sys.exit(one_line_errors(main))
