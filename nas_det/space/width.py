"""MorphNet width vectors (standard library only).

`MorphNet: Fast & Simple Resource-Constrained Structure Learning of Deep Networks
<https://arxiv.org/abs/1711.06798>`_.
A genotype is an ordered list of named channel groups (semantic names such as ``'stem'``
or ``'stage1/block1/mid'``, chosen by the model) with one width each. MorphNet itself
learns widths with a regularizer and then rescales them (:meth:`Widths.scaled`); as a
search space each group picks its width from a list of candidates.

A width of 0 means the group was pruned away. The model says where that is allowed:
only the groups of a removable *branch* (the inner layers of a residual block, whose
block then becomes the identity or its shortcut projection), and then all of the
branch's groups together (:func:`removed_branches` checks it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from .base import Decision, SearchSpace, bad_value, check_header


def _pairs(value, field: str) -> list:
    """``[(name, value), ...]`` from a mapping or a list of pairs; names checked."""
    items = list(value.items()) if isinstance(value, Mapping) else value
    if isinstance(items, str) or not isinstance(items, Sequence) or not items:
        raise ValueError(f'{field}: a non-empty mapping or list of (name, value) pairs is '
                         f'expected, got {value!r}')
    out = []
    for item in items:
        if not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 2 \
                or not isinstance(item[0], str) or not item[0]:
            raise ValueError(f'{field}: each entry must be a (name, value) pair, got {item!r}')
        out.append(tuple(item))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f'{field}: group names must be distinct, got {names}')
    return out


def _width(value, field: str, allow_zero: bool = False) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < (0 if allow_zero else 1):
        what = 'an integer width >= 0 (0: pruned away)' if allow_zero else \
            'a positive integer width'
        raise ValueError(f'{field}: {what} is expected, got {value!r}')
    return value


def round_width(width: float, divisor: int = 8) -> int:
    """``width`` rounded (half up) to a multiple of ``divisor``, at least ``divisor``."""
    return max(divisor, int(width / divisor + 0.5) * divisor)


@dataclass(frozen=True)
class Widths:
    """A width per named channel group, in order.

    Args:
        groups (Mapping[str, int] | Sequence[tuple[str, int]]): the groups and widths;
            0 marks a group pruned away (see :func:`removed_branches`).
    """
    groups: tuple

    def __post_init__(self):
        pairs = _pairs(self.groups, 'groups')
        object.__setattr__(self, 'groups', tuple((n, _width(w, n, allow_zero=True))
                                                 for n, w in pairs))

    @property
    def names(self) -> tuple:
        return tuple(n for n, _ in self.groups)

    @property
    def values(self) -> tuple:
        return tuple(w for _, w in self.groups)

    def __getitem__(self, name: str) -> int:
        for n, w in self.groups:
            if n == name:
                return w
        raise KeyError(name)

    def as_dict(self) -> dict:
        return dict(self.groups)

    def scaled(self, multiplier: float, divisor: int = 8) -> 'Widths':
        """Every width times ``multiplier``, rounded to a multiple of ``divisor`` (at
        least ``divisor``; a pruned group stays at 0): MorphNet's uniform expansion step.

        Args:
            multiplier (float): the factor, > 0.
            divisor (int): the widths become multiples of it. Defaults to 8.
        """
        if not isinstance(multiplier, (int, float)) or isinstance(multiplier, bool) \
                or not multiplier > 0:
            raise ValueError(f'multiplier: a positive number is expected, got {multiplier!r}')
        _width(divisor, 'divisor')
        return Widths(tuple((n, round_width(w * multiplier, divisor) if w else 0)
                            for n, w in self.groups))

    def __str__(self) -> str:
        return ' '.join(f'{n}={w}' for n, w in self.groups)

    def to_dict(self) -> dict:
        return {'space': WidthSpace.name, 'version': WidthSpace.version,
                'groups': [[n, w] for n, w in self.groups]}

    @classmethod
    def from_dict(cls, d: Mapping) -> 'Widths':
        check_header(d, WidthSpace.name, WidthSpace.version)
        if 'groups' not in d:
            raise ValueError(f'{WidthSpace.name}: field "groups" is missing')
        return cls(d['groups'])


def removed_branches(widths: Widths, branches: Mapping) -> tuple:
    """The branches a genotype prunes away, checked: a width may be 0 only in a branch's
    groups, and then in all of them.

    Args:
        widths (Widths): the genotype.
        branches (Mapping[str, Sequence[str]]): ``{branch name: its group names}``, the
            parts of the network that may go (a residual block's inner layers).

    Returns:
        tuple: the names of the removed branches, in ``branches`` order.

    Raises:
        ValueError: a 0 outside every branch (no valid network remains), or a branch
            only partly pruned; the message names the group.
    """
    in_branch = {n: b for b, names in branches.items() for n in names}
    for n, w in widths.groups:
        if w == 0 and n not in in_branch:
            raise ValueError(f'{n}: 0 channels leave no valid network; only the inner '
                             f'groups of a residual block may be 0 (the block is then '
                             f'skipped), got {n}=0')
    removed = []
    for b, names in branches.items():
        vals = {n: widths[n] for n in names if n in widths.names}
        if any(v == 0 for v in vals.values()):
            if any(vals.values()):
                zero = [n for n, v in vals.items() if v == 0]
                raise ValueError(f'{b}: the branch is removed ({zero[0]} = 0), so all of '
                                 f'{list(vals)} must be 0, got {vals}')
            removed.append(b)
    return tuple(removed)


class WidthSpace(SearchSpace):
    """Each named channel group picks its width from its own candidates.

    Decisions: one per group, keyed by the group name, kind ``'width'``. Give either
    ``groups`` or ``max_widths``. Example::

        space = WidthSpace(max_widths={'stem': 32, 'stage1/block1/mid': 64})
        space.decisions[1].options   # (16, 32, 48, 64)

    Args:
        groups (Mapping[str, Sequence[int]], optional): candidate widths per group.
            Defaults to None.
        max_widths (Mapping[str, int], optional): maximal width per group; the candidates
            are ``fractions`` of it, rounded to multiples of ``divisor``. Defaults to None.
        fractions (Sequence[float]): used with ``max_widths``.
            Defaults to ``(0.25, 0.5, 0.75, 1.0)``.
        divisor (int): used with ``max_widths``. Defaults to 8.
    """

    name = 'widths'
    version = 1

    def __init__(self, groups=None, max_widths=None, fractions=(0.25, 0.5, 0.75, 1.0),
                 divisor: int = 8):
        if (groups is None) == (max_widths is None):
            raise ValueError('groups / max_widths: give exactly one of them')
        if groups is not None:
            options = []
            for n, opts in _pairs(groups, 'groups'):
                if isinstance(opts, str) or not isinstance(opts, Sequence) or not opts:
                    raise ValueError(f'groups[{n!r}]: a non-empty list of widths is expected, '
                                     f'got {opts!r}')
                options.append((n, tuple(_width(w, f'groups[{n!r}]') for w in opts)))
            self._cfg = {'groups': [[n, list(o)] for n, o in options]}
        else:
            _width(divisor, 'divisor')
            if isinstance(fractions, str) or not isinstance(fractions, Sequence) or not fractions \
                    or not all(isinstance(f, (int, float)) and not isinstance(f, bool)
                               and 0 < f <= 1 for f in fractions):
                raise ValueError(f'fractions: a non-empty list of numbers in (0, 1] is expected, '
                                 f'got {fractions!r}')
            pairs = [(n, _width(w, f'max_widths[{n!r}]'))
                     for n, w in _pairs(max_widths, 'max_widths')]
            self._cfg = {'max_widths': [[n, w] for n, w in pairs], 'fractions': list(fractions),
                         'divisor': divisor}
            options = [(n, tuple(sorted({round_width(w * f, divisor) for f in fractions})))
                       for n, w in pairs]
        self.decisions = tuple(Decision(n, opts, 'width') for n, opts in options)
        self._names = tuple(n for n, _ in options)

    def config(self) -> dict:
        return dict(self._cfg)

    def to_tokens(self, genotype) -> tuple:
        if not isinstance(genotype, Widths):
            raise ValueError(f'{self.name}: a Widths is expected, got {type(genotype).__name__}')
        if genotype.names != self._names:
            extra = [n for n in genotype.names if n not in self._names]
            if extra:
                raise bad_value('groups', extra[0], self._names)
            raise ValueError(f'groups: expected the groups {list(self._names)} in order, '
                             f'got {list(genotype.names)}')
        return tuple(d.index(w) for d, w in zip(self.decisions, genotype.values))

    def from_tokens(self, tokens) -> Widths:
        tokens = self.check_tokens(tokens)
        return Widths(tuple((d.key, d.options[t]) for d, t in zip(self.decisions, tokens)))

    def genotype_to_dict(self, genotype) -> dict:
        return {'groups': genotype.to_dict()['groups']}

    def genotype_from_dict(self, d: Mapping) -> Widths:
        return Widths.from_dict({'space': self.name, 'version': self.version, **d})
