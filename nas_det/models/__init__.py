"""Torch modules built from genotypes, registered in mmengine's root MODELS."""
from . import flops, shufflenet  # noqa: F401,E402
from . import nasfpn  # noqa: F401,E402
from . import cells  # noqa: F401,E402
