"""``tools/search.py``: run the phases a config names (train, search, export, ...)."""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

from .dist import LAUNCHERS


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Run a nas_det config: the phases it names (supernet training, search, '
                    'export, ...), or plain training when it names none.')
    p.add_argument('config', help='config file path')
    p.add_argument('--work-dir', help='where logs, checkpoints and search state go '
                   '(default: ./work_dirs/<config name>)')
    p.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                   help='override config settings, mmengine style: key=value, '
                   'nested keys with dots, lists as a=[1,2]')
    p.add_argument('--resume', action='store_true',
                   help='resume every unfinished phase from the work dir; finished phases '
                   'are skipped')
    p.add_argument('--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    p.add_argument('--seed', type=int, default=None, help='random seed (overrides randomness.seed)')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_config(args):
    from mmengine.config import Config, DictAction
    if not osp.isfile(args.config):
        raise SystemExit(f'config file {args.config} does not exist')
    from nas_det.engine.phases import apply_variant, check_reference_options
    cfg = Config.fromfile(args.config)
    opts = {}
    if args.cfg_options:
        action = DictAction(option_strings=['--cfg-options'], dest='cfg_options')
        ns = argparse.Namespace()
        action(None, ns, args.cfg_options)
        opts = ns.cfg_options
        recorded = cfg.get('variant', None)
        if 'variant' in opts and 'variants' not in cfg and opts['variant'] != recorded:
            raise ValueError(
                f"variant: {opts['variant']!r} is not a variant of this config: it has no "
                f"`variants`" + (f" (it records the variant {recorded!r} of the run that "
                                 f"wrote it)" if recorded is not None else ''))
        check_reference_options(cfg, opts)
        cfg.merge_from_dict(opts)
    variant = apply_variant(cfg, opts)
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif not cfg.get('work_dir'):
        name = osp.splitext(osp.basename(args.config))[0]
        cfg.work_dir = osp.join('work_dirs', f'{name}_{variant}' if variant else name)
    if args.seed is not None:
        cfg.setdefault('randomness', {})['seed'] = args.seed
    return cfg


def main(argv=None) -> int:
    args = parse_args(argv)
    import nas_det  # noqa: F401  registers modules, phases, checkpoint handling
    from nas_det.engine import checkpoint
    from nas_det.engine.checks import check_data
    from nas_det.engine.dist import setup_distributed
    from nas_det.engine.offline import check_offline
    from nas_det.engine.phases import PhaseContext, run_phases
    cfg = load_config(args)
    check_offline(cfg._cfg_dict.to_dict())
    check_data(cfg)
    setup_distributed(cfg, args.launcher)
    checkpoint.TRUSTED_DIRS.append(osp.abspath(cfg.work_dir))
    ctx = PhaseContext(work_dir=cfg.work_dir, resume=args.resume, args=args)
    outputs = run_phases(cfg, ctx)
    print(f'[nas_det] done; results under {osp.abspath(cfg.work_dir)}', flush=True)
    for name, out in outputs.items():
        for k, v in out.items():
            print(f'[nas_det]   {name}.{k}: {v}', flush=True)
    return 0


def cli(argv=None) -> int:
    """:func:`main` for the command line: a bad config or input (``ValueError``, raised
    with the bad field named, before long work where possible) ends with a one-line
    ``error:`` and exit status 2 instead of a traceback; ``NAS_DET_DEBUG=1`` keeps the
    traceback."""
    try:
        return main(argv)
    except ValueError as e:
        if os.environ.get('NAS_DET_DEBUG'):
            raise
        print(f'{osp.basename(sys.argv[0]) or "search.py"}: error: {e}\n'
              f'(NAS_DET_DEBUG=1 shows the traceback)', file=sys.stderr, flush=True)
        return 2


if __name__ == '__main__':
    sys.exit(cli())
