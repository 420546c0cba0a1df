"""mmengine glue: the only code that sees a Runner (hooks, loops, phases, checkpoints)."""
from . import checkpoint, evaluators, export, hooks, phases, search_loop  # noqa: F401
from . import cell_hooks, split_phase  # noqa: F401

checkpoint.install()
from . import morphnet  # noqa: F401,E402
