"""Torch modules built from genotypes, registered in mmengine's root MODELS."""
