"""Torch modules built from genotypes, registered in mmengine's root MODELS."""
from . import flops, shufflenet  # noqa: F401,E402
from . import nasfpn, resnet10  # noqa: F401,E402
from . import cells  # noqa: F401,E402
try:  # the mmpretrain head of cell networks (the optional 'cls' extra)
    from . import cell_heads  # noqa: F401,E402
except ModuleNotFoundError as e:
    if not (e.name or '').startswith('mmpretrain'):
        raise
from . import width_resnet, morphnet  # noqa: F401,E402
