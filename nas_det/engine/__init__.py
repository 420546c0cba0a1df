"""mmengine glue: the only code that sees a Runner (hooks, loops, phases, checkpoints)."""
from . import checkpoint, phases  # noqa: F401

checkpoint.install()
