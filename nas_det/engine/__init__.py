"""mmengine glue, grouped by role: everything between the pure layers (genotypes,
strategies) and an mmengine Runner.

=================  ===========================================================================
``runner/``        what runs inside a Runner: ``SearchLoop``; the safe checkpoint save / load
``hooks/``         mmengine hooks (supernet path sampling, drop-path schedule)
``optimizers/``    optimizer wrappers (MorphNet's regularizer)
``evaluators/``    ``genotype -> Result``: supernet paths, proxy-trained children
``export/``        a searched genotype into a config (+ weights) that trains the network
``visualization/`` plots, search scalars, the Pareto front file (no torch)
``launch/``        ``tools/search.py``: command line, phases (each a Runner or an export),
                   distributed set-up, fail-fast checks
=================  ===========================================================================

Imports point down: ``launch`` -> ``export`` -> ``runner`` -> ``evaluators``, ``hooks``,
``visualization``; ``export`` -> ``optimizers`` (see ``docs/layout.md``). The search driver
(ask / evaluate / tell / resume, no Runner) is :mod:`nas_det.strategies.driver`. The old
flat module paths (``nas_det.engine.search_loop``, ...) still import, with a
``DeprecationWarning`` (:mod:`._moved`).
"""
from . import _moved

_moved.install()

from . import runner  # noqa: E402
from . import evaluators, hooks, optimizers, visualization  # noqa: E402,F401
from . import export, launch  # noqa: E402,F401

runner.checkpoint.install()
