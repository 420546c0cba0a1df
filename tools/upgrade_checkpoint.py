#!/usr/bin/env python
"""Rewrite a checkpoint you made yourself (e.g. by a plain mmengine run) in the safe format.

    python tools/upgrade_checkpoint.py IN.pth [OUT.pth]

The input is unpickled in full, so run this only on files you trust. The output holds plain
data and tensors only and loads with torch.load(weights_only=True). Without OUT the input
is replaced (the original is kept as IN.pth.bak).
"""
import argparse
import os
import os.path as osp
import shutil
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('src')
    p.add_argument('dst', nargs='?')
    args = p.parse_args(argv)
    import torch

    from nas_det.engine.checkpoint import safe_load, to_plain
    ckpt = safe_load(args.src, map_location='cpu', trust=True)
    dst = args.dst or args.src
    if dst == args.src:
        shutil.copy2(args.src, args.src + '.bak')
    tmp = dst + '.tmp'
    torch.save(to_plain(ckpt), tmp)
    os.replace(tmp, dst)
    torch.load(dst, weights_only=True)  # proves the new file is safe
    print(f'wrote {dst} (loads with weights_only=True)')


if __name__ == '__main__':
    main()
