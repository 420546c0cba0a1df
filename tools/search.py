#!/usr/bin/env python
"""Run a nas_det config: python tools/search.py CONFIG [--work-dir D] [--resume] ...

See ``python tools/search.py --help``; the phases a config names are listed in the README.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from nas_det.engine.launch import cli  # noqa: E402

if __name__ == '__main__':
    sys.exit(cli())
