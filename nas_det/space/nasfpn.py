"""NAS-FPN: a feature pyramid as a list of merging cells (standard library only).

`NAS-FPN: Learning Scalable Feature Pyramid Architecture for Object Detection
<https://arxiv.org/abs/1904.07392>`_.
States 0..4 are the input features P3..P7 (also named ``n0``..``n4``); merging cell ``k``
(0-based, as in keys ``cell{k}/...``) reads two earlier states, resamples them to its
output level, merges them with its binary op and appends state ``5 + k`` (named
``n{5+k}``, the paper's n5, n6, ...). The last five cells produce the pyramid outputs,
one per level P3..P7.

String form (canonical): ``n5=gp(P4,P6)@P4 n6=sum(P4,n5)@P4 ...``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

from .base import Decision, SearchSpace, check_header

LEVELS = (3, 4, 5, 6, 7)
"""Pyramid levels P3..P7 (the input features are states 0..4, the outputs one per level)."""
NASFPN_OPS = ('sum', 'global_pool')
"""Binary ops of the merging cells, in token order."""
_OP_CODES = {'sum': 'sum', 'global_pool': 'gp'}
_STATE = re.compile(r'P([3-7])|n(0|[1-9][0-9]*)')


def state_name(i: int) -> str:
    """``'P3'``..``'P7'`` for the inputs (states 0..4), ``'n5'``, ``'n6'``, ... after."""
    return f'P{LEVELS[i]}' if i < len(LEVELS) else f'n{i}'


def parse_state(value, field: str = 'input') -> int:
    """State index of ``value`` (an index, or a name ``'P3'``..``'P7'``, ``'n5'``, ...)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        m = _STATE.fullmatch(value)
        if m:
            return LEVELS.index(int(m.group(1))) if m.group(1) else int(m.group(2))
    raise ValueError(f'{field}: {value!r} is not a state; expected an index >= 0 or a name '
                     "'P3'..'P7', 'n5', 'n6', ...")


@dataclass(frozen=True)
class MergeCell:
    """One merging cell: ``op(resample(state[input0]), resample(state[input1]))`` at
    pyramid level ``level``.

    Args:
        input0 (int | str): first input state (index or name such as ``'P4'``).
        input1 (int | str): second input state.
        level (int): output level (3..7).
        op (str): binary op, e.g. ``'sum'`` or ``'global_pool'``.
    """
    input0: int
    input1: int
    level: int
    op: str

    def __post_init__(self):
        for f in ('input0', 'input1'):
            object.__setattr__(self, f, parse_state(getattr(self, f), f))
        if not isinstance(self.level, int) or isinstance(self.level, bool):
            raise ValueError(f'level: an integer level is expected, got {self.level!r}')
        if not isinstance(self.op, str) or not self.op:
            raise ValueError(f'op: an op name is expected, got {self.op!r}')

    @property
    def inputs(self) -> tuple:
        return (self.input0, self.input1)

    def __str__(self) -> str:
        return (f'{_OP_CODES.get(self.op, self.op)}({state_name(self.input0)},'
                f'{state_name(self.input1)})@P{self.level}')

    def to_dict(self) -> dict:
        return {'input0': state_name(self.input0), 'input1': state_name(self.input1),
                'level': self.level, 'op': self.op}

    @classmethod
    def from_dict(cls, d: Mapping, field: str = 'cell') -> 'MergeCell':
        keys = ('input0', 'input1', 'level', 'op')
        if not isinstance(d, Mapping) or sorted(d) != sorted(keys):
            raise ValueError(f'{field}: a dict with keys {list(keys)} is expected, got {d!r}')
        return cls(parse_state(d['input0'], f'{field}/input0'),
                   parse_state(d['input1'], f'{field}/input1'), d['level'], d['op'])


@dataclass(frozen=True)
class Pyramid:
    """A NAS-FPN genotype: the merging cells in order.

    Args:
        cells (Sequence[MergeCell | tuple]): the cells; a tuple is read as
            ``MergeCell(*tuple)``, e.g. ``('P4', 'P6', 4, 'global_pool')``.
    """
    cells: tuple

    def __post_init__(self):
        if isinstance(self.cells, (str, Mapping)) or not isinstance(self.cells, Sequence):
            raise ValueError(f'cells: a list of merging cells is expected, got {self.cells!r}')
        object.__setattr__(self, 'cells', tuple(
            c if isinstance(c, MergeCell) else MergeCell(*c) for c in self.cells))

    @property
    def num_cells(self) -> int:
        return len(self.cells)

    def outputs(self) -> dict:
        """``{level: state}`` of the pyramid outputs (the last five cells)."""
        n = len(self.cells)
        return {c.level: len(LEVELS) + k for k, c in enumerate(self.cells) if k >= n - len(LEVELS)}

    def __str__(self) -> str:
        return ' '.join(f'{state_name(len(LEVELS) + k)}={c}' for k, c in enumerate(self.cells))

    def to_dict(self) -> dict:
        return {'space': NASFPNSpace.name, 'version': NASFPNSpace.version,
                'cells': [c.to_dict() for c in self.cells]}

    @classmethod
    def from_dict(cls, d: Mapping) -> 'Pyramid':
        check_header(d, NASFPNSpace.name, NASFPNSpace.version)
        cells = d.get('cells')
        if isinstance(cells, (str, Mapping)) or not isinstance(cells, Sequence):
            raise ValueError(f'cells: a list of merging cells is expected, got {cells!r}')
        return cls(tuple(MergeCell.from_dict(c, f'cell{k}') for k, c in enumerate(cells)))


class NASFPNSpace(SearchSpace):
    """NAS-FPN pyramids of ``num_cells`` merging cells.

    Decisions per cell ``k`` (0-based): ``cell{k}/input0``, ``cell{k}/input1`` (kind
    ``'input'``, states ``0 .. 4+k``), ``cell{k}/level`` (kind ``'level'``),
    ``cell{k}/op`` (kind ``'op'``). The level token of the first ``num_cells - 5`` cells
    is the level itself (3..7); that of the last five cells is an index into the output
    levels not yet produced by the cells before them (ascending, Lehmer-code style), so
    every token sequence is a pyramid that outputs every level P3..P7 exactly once.

    Example::

        space = NASFPNSpace(num_cells=7)
        pyramid = space.sample(random.Random(0))
        pyramid.outputs()   # {level: state} covering 3..7

    Args:
        num_cells (int): merging cells, at least 5. Defaults to 7.
        ops (Sequence[str]): binary ops of the cells. Defaults to
            ``('sum', 'global_pool')``.
    """

    name = 'nasfpn'
    version = 1

    def __init__(self, num_cells: int = 7, ops: Sequence[str] = NASFPN_OPS):
        n_out = len(LEVELS)
        if not isinstance(num_cells, int) or isinstance(num_cells, bool) or num_cells < n_out:
            raise ValueError(f'num_cells: an integer >= {n_out} is expected, got {num_cells!r}')
        if isinstance(ops, str) or not isinstance(ops, Sequence) or not ops \
                or not all(isinstance(o, str) and o for o in ops) or len(set(ops)) != len(ops):
            raise ValueError(f'ops: a non-empty list of distinct op names is expected, got {ops!r}')
        self.num_cells = num_cells
        self.ops = tuple(ops)
        self.first_output = num_cells - n_out
        decisions = []
        for k in range(num_cells):
            states = tuple(range(n_out + k))
            j = k - self.first_output  # index among the output cells, < 0 for the others
            levels = LEVELS if j < 0 else tuple(range(n_out - j))
            decisions += [Decision(f'cell{k}/input0', states, 'input'),
                          Decision(f'cell{k}/input1', states, 'input'),
                          Decision(f'cell{k}/level', levels, 'level'),
                          Decision(f'cell{k}/op', self.ops, 'op')]
        self.decisions = tuple(decisions)

    def config(self) -> dict:
        return {'num_cells': self.num_cells, 'ops': list(self.ops)}

    def to_tokens(self, genotype) -> tuple:
        if not isinstance(genotype, Pyramid):
            raise ValueError(f'{self.name}: a Pyramid is expected, got {type(genotype).__name__}')
        if genotype.num_cells != self.num_cells:
            raise ValueError(f'cells: expected {self.num_cells} merging cells, '
                             f'got {genotype.num_cells}')
        tokens, todo = [], list(LEVELS)
        for k, cell in enumerate(genotype.cells):
            d_in0, d_in1, d_level, d_op = self.decisions[4 * k:4 * k + 4]
            tokens += [d_in0.index(cell.input0), d_in1.index(cell.input1)]
            if k < self.first_output:
                tokens.append(d_level.index(cell.level))
            else:
                if cell.level not in todo:
                    why = 'an output level already produced' if cell.level in LEVELS else \
                        'not a pyramid level'
                    raise ValueError(f'cell{k}/level: {cell.level!r} is not allowed ({why}); '
                                     f'allowed values: {todo} (the last {len(LEVELS)} cells '
                                     f'output P{LEVELS[0]}-P{LEVELS[-1]}, one level each)')
                tokens.append(todo.index(cell.level))
                todo.remove(cell.level)
            tokens.append(d_op.index(cell.op))
        return tuple(tokens)

    def from_tokens(self, tokens) -> Pyramid:
        tokens = self.check_tokens(tokens)
        cells, todo = [], list(LEVELS)
        for k in range(self.num_cells):
            in0, in1, lv, op = tokens[4 * k:4 * k + 4]
            level = LEVELS[lv] if k < self.first_output else todo.pop(lv)
            cells.append(MergeCell(in0, in1, level, self.ops[op]))
        return Pyramid(tuple(cells))

    def genotype_to_dict(self, genotype) -> dict:
        return {k: v for k, v in genotype.to_dict().items() if k not in ('space', 'version')}

    def genotype_from_dict(self, d: Mapping) -> Pyramid:
        return Pyramid.from_dict({'space': self.name, 'version': self.version, **d})
