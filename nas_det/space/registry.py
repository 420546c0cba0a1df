"""Build spaces from config dicts and genotypes from their JSON dicts.

Example::

    space = build_space(dict(type='DetNASSpace', stage_blocks='300M'))
    cfg = space_config(space)                  # {'type': 'DetNASSpace', ...}: rebuilds it
    g = genotype_from_dict(json.loads(line))   # dispatches on d['space']
"""
from __future__ import annotations

from typing import Mapping

from .base import Assignment, ChoiceSpace, SearchSpace, bad_value
from .cells import CellGenotype, CellSpace
from .detnas import DetNASPath, DetNASSpace
from .nasfpn import NASFPNSpace, Pyramid
from .width import Widths, WidthSpace

SPACES: dict = {}
"""Space classes by class name (``build_space(dict(type=NAME, ...))``)."""
GENOTYPES: dict = {}
"""Genotype classes by space name (the ``"space"`` field of a genotype dict)."""


def register_space(cls, genotype=None):
    """Make a space class buildable by name and, with ``genotype`` (a class with a
    ``from_dict`` classmethod), its genotype dicts loadable by ``cls.name``."""
    SPACES[cls.__name__] = cls
    if genotype is not None:
        GENOTYPES[cls.name] = genotype
    return cls


for _cls, _gen in ((DetNASSpace, DetNASPath), (CellSpace, CellGenotype),
                   (NASFPNSpace, Pyramid), (WidthSpace, Widths), (ChoiceSpace, None)):
    register_space(_cls, _gen)


def build_space(cfg) -> SearchSpace:
    """A space from ``dict(type=CLASS_NAME, **kwargs)`` (a space is returned as is)."""
    if isinstance(cfg, SearchSpace):
        return cfg
    if not isinstance(cfg, Mapping) or 'type' not in cfg:
        raise ValueError(f'search_space: a dict with a "type" key is expected, got {cfg!r}')
    cfg = dict(cfg)
    name = cfg.pop('type')
    if name not in SPACES:
        raise bad_value('search_space.type', name, sorted(SPACES))
    try:
        return SPACES[name](**cfg)
    except TypeError as e:  # unknown or missing keyword: name it
        raise ValueError(f'search_space {name}: {e}') from None


def space_config(space: SearchSpace) -> dict:
    """``dict(type=..., **space.config())``: what :func:`build_space` rebuilds it from."""
    return {'type': type(space).__name__, **space.config()}


def genotype_from_dict(d: Mapping, space: SearchSpace | None = None):
    """The genotype of a JSON dict ``{"space": NAME, "version": 1, ...}``.

    With ``space`` given, ``space.from_dict(d)`` (checked against that space). Without,
    dispatch on ``d["space"]``; a dict with a ``"choices"`` mapping from an unregistered
    space (a :class:`ChoiceSpace`) gives an :class:`Assignment` in the dict's key order.
    """
    if space is not None:
        return space.from_dict(d)
    if not isinstance(d, Mapping):
        raise ValueError(f'genotype: a dict is expected, got {type(d).__name__}')
    name = d.get('space')
    if name in GENOTYPES:
        return GENOTYPES[name].from_dict(d)
    if isinstance(d.get('choices'), Mapping):
        if d.get('version') != ChoiceSpace.version:
            raise bad_value('version', d.get('version'), [ChoiceSpace.version])
        return Assignment(tuple(d['choices'].items()))
    raise bad_value('space', name, sorted(GENOTYPES))
