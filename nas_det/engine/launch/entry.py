"""The command line of ``tools/search.py`` (and of the other tools' config loading and
one-line errors): run the phases a config names (train, search, export, ...)."""
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
    p.add_argument('--trust-checkpoint', action='append', default=[], metavar='FILE',
                   help='unpickle this checkpoint in full although it holds Python globals '
                   'that a safe load refuses (only a file you made yourself; repeatable). '
                   'Nothing else is trusted, whatever folder it lies in')
    p.add_argument('--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    p.add_argument('--seed', type=int, default=None, help='random seed (overrides randomness.seed)')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def _config_files(path: str, seen=None):
    """``path`` and, recursively, the local files its ``_base_`` names."""
    from nas_det.utils.config_moves import local_bases
    seen = set() if seen is None else seen
    if path in seen or not osp.isfile(path):
        return
    seen.add(path)
    yield path
    for base in local_bases(path):
        yield from _config_files(base, seen)


def _syntax_error(path: str, e: SyntaxError) -> ValueError:
    """A one-line error naming the config file (``path`` or one of its bases) and line."""
    import ast
    for f in _config_files(path):
        try:
            with open(f, encoding='utf-8') as fh:
                ast.parse(fh.read(), filename=f)
        except SyntaxError as own:
            return ValueError(f'config {f}, line {own.lineno}: syntax error ({own.msg})')
    return ValueError(f'config {path} (or a file it reads), line {e.lineno}: syntax error '
                      f'({e.msg})')


def read_config(path: str):
    """``Config.fromfile`` with one-line errors: a missing file (a moved one: its new
    path), a syntax error (the file, a base of it, and the line)."""
    from mmengine.config import Config
    from nas_det.utils.config_moves import check_moved_config
    check_moved_config(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path} does not exist')
    try:
        return Config.fromfile(path)
    except SyntaxError as e:
        raise _syntax_error(path, e) from None


def parse_cfg_options(options) -> dict:
    """``--cfg-options KEY=VALUE ...`` as mmengine's ``DictAction`` reads them, with a
    one-line error for an item without ``=``."""
    from mmengine.config import DictAction
    bad = [o for o in options if '=' not in o]
    if bad:
        raise ValueError(f'--cfg-options: {bad[0]!r} has no "="; each item is KEY=VALUE, '
                         'e.g. train_cfg.max_iters=2')
    action = DictAction(option_strings=['--cfg-options'], dest='cfg_options')
    ns = argparse.Namespace()
    action(None, ns, options)
    return ns.cfg_options


def load_config(args):
    """The config of ``args.config`` with ``--cfg-options`` merged, its work dir and seed
    set. A moved config path, or a removed switch (``variants``, ``--cfg-options
    variant=NAME``, ``strategies``), is a one-line error naming what replaces it
    (:mod:`nas_det.utils.config_moves`)."""
    from nas_det.utils.config_moves import check_old_work_dir, check_removed_switches
    from .phases import check_reference_options
    cfg = read_config(args.config)
    opts = parse_cfg_options(args.cfg_options) if args.cfg_options else {}
    check_removed_switches(cfg, opts, args.config)
    if opts:
        check_reference_options(cfg, opts)
        cfg.merge_from_dict(opts)
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif not cfg.get('work_dir'):
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(args.config))[0])
        if getattr(args, 'resume', False):
            check_old_work_dir(args.config, cfg.work_dir)
    if args.seed is not None:
        cfg.setdefault('randomness', {})['seed'] = args.seed
    return cfg


def main(argv=None) -> int:
    args = parse_args(argv)
    import nas_det  # noqa: F401  registers modules, phases, checkpoint handling
    from nas_det.strategies.driver import WorkDirLock
    from ..runner import checkpoint
    from .checks import check_data
    from .dist import setup_distributed
    from .offline import check_offline
    from .phases import PhaseContext, run_phases
    for f in args.trust_checkpoint:
        checkpoint.trust_file(f)
    cfg = load_config(args)
    check_offline(cfg._cfg_dict.to_dict())
    check_data(cfg)
    setup_distributed(cfg, args.launcher)
    ctx = PhaseContext(work_dir=cfg.work_dir, resume=args.resume, args=args)
    from mmengine.dist import get_rank
    lock = WorkDirLock(cfg.work_dir)  # one run at a time per work dir (refusal names the pid)
    if get_rank() == 0:
        lock.acquire()
    try:
        outputs = run_phases(cfg, ctx)
    finally:
        lock.release()
    from mmengine.logging import print_log
    print_log(f'[nas_det] done; results under {osp.abspath(cfg.work_dir)}', logger='current')
    for name, out in outputs.items():
        for k, v in out.items():
            print_log(f'[nas_det]   {name}.{k}: {v}', logger='current')
    return 0


def one_line_errors(fn, *args, **kwargs) -> int:
    """Run ``fn`` (a tool's ``main``) so that a bad config or input (``ValueError``, raised
    with the bad field named, before long work where possible; a refused checkpoint; a
    missing file) ends with a one-line ``error:`` and exit status 2 instead of a
    traceback; ``NAS_DET_DEBUG=1`` keeps the traceback."""
    try:
        return fn(*args, **kwargs) or 0
    except (ValueError, FileNotFoundError) as e:
        if os.environ.get('NAS_DET_DEBUG'):
            raise
        msg = f'{osp.basename(sys.argv[0]) or "search.py"}: error: {e}'
        print(f'{msg}\n(NAS_DET_DEBUG=1 shows the traceback)', file=sys.stderr, flush=True)
        _log_to_run_file(msg)
        return 2


def _log_to_run_file(msg: str) -> None:
    """Write ``msg`` (an error already printed on stderr) to the log files of mmengine's
    current logger, i.e. the run's log once a Runner made one; not to the console again."""
    try:
        import logging

        from mmengine.logging import MMLogger
    except ModuleNotFoundError:
        return
    logger = MMLogger.get_current_instance()
    record = logger.makeRecord(logger.name, logging.ERROR, __file__, 0, msg, None, None)
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def cli(argv=None) -> int:
    """:func:`main` for the command line, through :func:`one_line_errors`."""
    return one_line_errors(main, argv)


if __name__ == '__main__':
    sys.exit(cli())
