"""Torch modules built from genotypes, registered in mmengine's root MODELS."""
from . import nasfpn  # noqa: F401,E402
