"""Architectures as data: genotypes and search spaces (standard library only)."""
from .base import Assignment, ChoiceSpace, Decision, SearchSpace, bad_value

__all__ = ['Assignment', 'ChoiceSpace', 'Decision', 'SearchSpace', 'bad_value']
