"""Runner set-up for ``tools/search.py``: the command line and the config it loads
(:mod:`.entry`), the phases a config names, each a Runner or an export (:mod:`.phases`,
:mod:`.split_phase`), distributed set-up without a GPU (:mod:`.dist`), and the checks that
fail fast before long work starts (:mod:`.checks`, :mod:`.offline`).

``nas-det-search`` and ``tools/search.py`` call :func:`cli`; ``python -m
nas_det.engine.launch`` does too.
"""
from .entry import (cli, load_config, main, one_line_errors, parse_args, parse_cfg_options,
                    read_config)

__all__ = ['cli', 'load_config', 'main', 'one_line_errors', 'parse_args', 'parse_cfg_options',
           'read_config']
