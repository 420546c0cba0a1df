"""Optimizer wrappers (registered in mmengine's root OPTIM_WRAPPERS and
OPTIM_WRAPPER_CONSTRUCTORS registries): MorphNet's, which adds its regularizer to the loss."""
from .morphnet_optim_wrapper import (SCOPES, MorphNetOptimWrapper, MorphNetOptimWrapperConstructor,
                                     build_regularizer, check_settings, find_consumers)

__all__ = ['MorphNetOptimWrapper', 'MorphNetOptimWrapperConstructor', 'SCOPES',
           'build_regularizer', 'check_settings', 'find_consumers']
