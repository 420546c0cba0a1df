"""``python -m nas_det.engine.launch CONFIG [...]``: as ``tools/search.py``."""
import sys

from .entry import cli

sys.argv[0] = 'python -m nas_det.engine.launch'  # for the usage line and one-line errors
sys.exit(cli())
