"""nas_det: neural architecture search for object detection, as an mmdetection plugin.

``import nas_det`` (or ``custom_imports=dict(imports=['nas_det'])`` in a config) registers
our models, hooks and loops in mmengine's root registries, so mmdet and mmpretrain configs
both find them, and makes checkpoints load safely on current torch. The pure layers
(:mod:`nas_det.space`, the non-neural :mod:`nas_det.strategies`) need neither torch nor
mmengine: without them, only the torch-side registration is skipped.
"""
__version__ = '0.1.0'

from . import space, strategies  # noqa: F401,E402

try:
    import mmengine  # noqa: F401
    import torch  # noqa: F401
except ModuleNotFoundError as e:  # the pure layers still work
    if e.name not in ('torch', 'mmengine'):
        raise
    HAS_TORCH = False
else:
    HAS_TORCH = True
    from . import engine, models  # noqa: F401  (register modules, patch checkpoints)
