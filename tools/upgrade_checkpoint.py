#!/usr/bin/env python
"""Rewrite a checkpoint you made yourself in the safe format (plain data and tensors).

    python tools/upgrade_checkpoint.py IN.pth [OUT.pth] [--trust-checkpoint IN.pth]

A file that already loads safely (``weights_only=True``, with the globals of a stock
mmengine checkpoint allowed) is rewritten without asking. A file with any other Python
global can run code when unpickled: it is refused unless you vouch for it, by naming it
with ``--trust-checkpoint`` or by listing its folder in ``NAS_DET_TRUSTED_DIRS``, exactly
as for ``tools/search.py``. The output loads with plain ``torch.load(weights_only=True)``.
Without OUT the input is replaced (the original is kept as IN.pth.bak).
"""
import argparse
import os
import os.path as osp
import pickle
import shutil
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('src')
    p.add_argument('dst', nargs='?')
    p.add_argument('--trust-checkpoint', action='append', default=[], metavar='FILE',
                   help='unpickle this file in full (only a file you made yourself)')
    args = p.parse_args(argv)
    import torch

    from nas_det.engine.runner.checkpoint import safe_load, to_plain, trust_file
    for f in args.trust_checkpoint:
        trust_file(f)
    ckpt = safe_load(args.src, map_location='cpu')  # refuses an unvouched unsafe file
    dst = args.dst or args.src
    if dst == args.src:
        shutil.copy2(args.src, args.src + '.bak')
    tmp = dst + '.tmp'
    torch.save(to_plain(ckpt), tmp)
    try:
        torch.load(tmp, weights_only=True)  # proves the new file is safe
    except pickle.UnpicklingError:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(tmp)
        os.remove(tmp)
        raise ValueError(f'{args.src}: holds objects that the safe format cannot carry '
                         f'({", ".join(names)}); only tensors, plain data, HistoryBuffers and '
                         'numpy arrays convert') from None
    os.replace(tmp, dst)
    print(f'wrote {dst} (loads with weights_only=True)')


if __name__ == '__main__':
    from nas_det.engine.launch import one_line_errors
    sys.exit(one_line_errors(main))
