"""One loader for every form a genotype arrives in (standard library only).

Example::

    g = load_genotype('work_dirs/x/best_genotype.json', 'detnas')   # a DetNASPath
    g = load_genotype({'cells': [...]}, 'nasfpn')                    # header optional
    g = load_genotype('nasnet_a', 'cells')                           # a published name
    d = canonical_dict(g)     # the only dict form that is ever written into a config

A genotype that reaches a config (an exported subnet, a filled template) is always
rebuilt here: the dict that is written comes from the genotype object, never from the
input, and a key the genotype does not know is refused with the allowed keys named.
"""
from __future__ import annotations

import json
import os
from typing import Mapping

from .base import Assignment, bad_value
from .published import PUBLISHED
from .registry import GENOTYPES, SPACES, genotype_from_dict

__all__ = ['canonical_dict', 'genotype_dict', 'load_genotype', 'read_json']


def read_json(path, what: str = 'genotype file'):
    """``json.load`` of ``path`` with one-line errors that name the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{what} {path} does not exist')
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except UnicodeDecodeError:
        raise ValueError(f'{what} {path}: not a JSON text file (not UTF-8)') from None
    except json.JSONDecodeError as e:
        raise ValueError(f'{what} {path}: not valid JSON (line {e.lineno}, column {e.colno}: '
                         f'{e.msg})') from None


def _version(kind: str) -> int:
    for cls in SPACES.values():
        if getattr(cls, 'name', None) == kind:
            return cls.version
    return 1


def canonical_dict(genotype, space_name: str | None = None) -> dict:
    """The JSON dict of a genotype object, made by the object itself."""
    if isinstance(genotype, Assignment):
        return {'space': space_name or 'choices', 'version': 1,
                'choices': dict(genotype.as_dict())}
    return genotype.to_dict()


def _unknown_keys(given, canonical, path: str = ''):
    """Keys of ``given`` (nested dicts and lists) that ``canonical`` does not have."""
    if isinstance(given, Mapping) and isinstance(canonical, Mapping):
        for k, v in given.items():
            key = f'{path}/{k}' if path else str(k)
            if k not in canonical:
                yield k, path, sorted(canonical)
            else:
                yield from _unknown_keys(v, canonical[k], key)
    elif isinstance(given, (list, tuple)) and isinstance(canonical, (list, tuple)) \
            and len(given) == len(canonical):
        for i, (a, b) in enumerate(zip(given, canonical)):
            yield from _unknown_keys(a, b, f'{path}[{i}]' if path else f'[{i}]')


def load_genotype(x, kind: str | None = None, field: str = 'genotype'):
    """A genotype object from itself, its JSON dict, a JSON file or a published name.

    Args:
        x (genotype | Mapping | str | os.PathLike): a genotype object; its JSON dict
            (``{"space": ..., "version": ..., ...}``, the header optional when ``kind`` is
            given, also wrapped as ``{"genotype": {...}}`` as in ``best_genotype.json``);
            the name of a published genotype (``'nasnet_a'``); or a JSON file of one.
        kind (str, optional): the space name the genotype must belong to (``'detnas'``,
            ``'cells'``, ``'nasfpn'``, ``'widths'``, ...). None accepts any registered
            space. Defaults to None.
        field (str): the name used in error messages. Defaults to 'genotype'.

    Raises:
        ValueError: one line naming the file (if any) and the bad field, e.g. an
            unknown key with the allowed keys, a wrong ``space`` or a file that is not
            JSON. ``FileNotFoundError`` for a missing file.
    """
    return _load(x, kind, field)[0]


def genotype_dict(x, kind: str | None = None, field: str = 'genotype') -> dict:
    """:func:`load_genotype`, then :func:`canonical_dict`: the dict to write anywhere."""
    g, name = _load(x, kind, field)
    return canonical_dict(g, name)


def _load(x, kind, field):
    if kind is not None and kind not in GENOTYPES:
        raise bad_value(f'{field}: kind', kind, sorted(GENOTYPES))
    source = field
    if isinstance(x, (str, os.PathLike)):
        name = os.fspath(x)
        if name in PUBLISHED and not os.path.isfile(name):
            x = PUBLISHED[name]
        elif os.path.isfile(name) or name.endswith('.json') or os.sep in name:
            x = read_json(name)
            source = f'genotype file {name}'
        else:
            allowed = [k for k, v in PUBLISHED.items()
                       if kind is None or isinstance(v, GENOTYPES[kind])]
            raise ValueError(f'{field}: {name!r} is neither a published genotype '
                             f'({", ".join(allowed)}) nor a JSON file')
    if kind is not None and isinstance(x, GENOTYPES[kind]):
        return x, kind
    if kind is None and isinstance(x, tuple(GENOTYPES.values())):
        return x, x.to_dict()['space']
    if isinstance(x, Assignment):
        raise ValueError(f'{field}: an Assignment has no space name; give its JSON dict')
    if not isinstance(x, Mapping):
        want = GENOTYPES[kind].__name__ if kind else 'genotype'
        raise ValueError(f'{source}: a {want}, its JSON dict, a published name or a JSON '
                         f'file name is expected, got {type(x).__name__}')
    d = x
    if 'space' not in d and isinstance(d.get('genotype'), Mapping):
        d = d['genotype']
    if kind is not None and 'space' not in d:
        d = {'space': kind, 'version': _version(kind), **d}
    if kind is not None and d.get('space') != kind:
        raise ValueError(f'{source}: ' + str(bad_value('space', d.get('space'), [kind])))
    try:
        g = genotype_from_dict(d)
    except ValueError as e:
        raise ValueError(f'{source}: {e}' if source != field else str(e)) from None
    canonical = canonical_dict(g, d.get('space'))
    for key, parent, allowed in _unknown_keys(d, canonical):
        where = f' in {parent!r}' if parent else ''
        raise ValueError(f'{source}: unknown key {key!r}{where}; allowed keys: {allowed}')
    return g, d.get('space')
