#!/usr/bin/env python
"""Run a nas_det config: python tools/search.py CONFIG [--work-dir D] [--resume] ...

See ``python tools/search.py --help``; the phases a config names are listed in the README.
"""
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
try:
    from nas_det.engine.launch import cli  # noqa: E402
except ValueError as e:  # found by `import nas_det`: a bad NAS_DET_PATCH_CHECKPOINT
    if os.environ.get('NAS_DET_DEBUG'):
        raise
    print(f'{osp.basename(sys.argv[0])}: error: {e}', file=sys.stderr)
    sys.exit(2)

if __name__ == '__main__':
    sys.exit(cli())
