"""NASNet-family cells: NASNet, PNASNet and AmoebaNet (standard library only).

A cell has ``B`` blocks. Hidden states are numbered as in the TF reference code:
state 0 (``h0``) is the previous cell's output, state 1 (``h1``) the output of the cell
before it, and block ``k`` of the cell produces state ``k`` (``b2`` ... ``b{B+1}``), so
block ``k`` may read states ``0 .. k-1``. Blocks are named by the state they produce, in
keys as in strings: ``normal/block2/input0`` is the first input of the first block of the
normal cell. Each block applies ``op0`` to ``input0`` and ``op1`` to ``input1`` and
combines the two (``add`` or ``concat``). The cell output concatenates the states listed
in its ``concat``.

String form (canonical, used for de-duplication; op codes as in the papers)::

    normal: b2=(h0 s5, h1 s3) b3=(h1 s5, h1 s3) ... -> h1+b2+b3+b4+b5+b6 | reduce: ...
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

from .base import Decision, SearchSpace, bad_value, check_header

NASNET_OPS = ('identity', 'conv_1x3_3x1', 'conv_1x7_7x1', 'dil_conv_3x3', 'avg_pool_3x3',
              'max_pool_3x3', 'max_pool_5x5', 'max_pool_7x7', 'conv_1x1', 'conv_3x3',
              'sep_conv_3x3', 'sep_conv_5x5', 'sep_conv_7x7')
"""The 13 candidate ops of the NASNet search space."""
AMOEBA_OPS = ('identity', 'sep_conv_3x3', 'sep_conv_5x5', 'sep_conv_7x7', 'avg_pool_3x3',
              'max_pool_3x3', 'dil_sep_conv_3x3', 'conv_1x7_7x1')
"""The 8 candidate ops of AmoebaNet."""
PNAS_OPS = ('identity', 'avg_pool_3x3', 'max_pool_3x3', 'sep_conv_3x3', 'sep_conv_5x5',
            'sep_conv_7x7', 'conv_1x7_7x1', 'dil_conv_3x3')
"""The 8 candidate ops of PNAS."""
CELL_OPS = {'nasnet': NASNET_OPS, 'amoeba': AMOEBA_OPS, 'pnas': PNAS_OPS}
"""Named op vocabularies (``CellSpace(ops=NAME)``)."""
COMBINE_OPS = ('add', 'concat')
"""How a block joins its two branches."""
CONCAT_RULES = ('unused', 'all', 'explicit')
"""How a cell's output concat is set: derived from the blocks (``'unused'``: the blocks
no other block reads, NASNet/AmoebaNet search; ``'all'``: every block, PNAS) or searched
and stored as data (``'explicit'``: any non-empty set of states, e.g. published cells)."""
CELL_NAMES = ('normal', 'reduce')

OP_CODES = {'identity': 'id', 'conv_1x3_3x1': '1x3-3x1', 'conv_1x7_7x1': '1x7-7x1',
            'dil_conv_3x3': 'dil3', 'avg_pool_3x3': 'avg', 'max_pool_3x3': 'max',
            'max_pool_5x5': 'max5', 'max_pool_7x7': 'max7', 'conv_1x1': 'conv1',
            'conv_3x3': 'conv3', 'sep_conv_3x3': 's3', 'sep_conv_5x5': 's5',
            'sep_conv_7x7': 's7', 'dil_sep_conv_3x3': 'dilsep3'}
"""Short codes of the known ops in genotype strings (unknown ops print in full)."""

_OP_NAME = re.compile(r'[A-Za-z0-9_.\-]+')
_STATE_NAME = re.compile(r'h([01])|b([2-9]|[1-9][0-9]+)')


def state_name(i: int) -> str:
    """``'h0'``, ``'h1'``, ``'b2'``, ``'b3'``, ... for hidden state ``i``."""
    return f'h{i}' if i < 2 else f'b{i}'


def parse_state(value, field: str = 'input') -> int:
    """Hidden state index of ``value`` (an index, or a name such as ``'h1'``, ``'b3'``)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        m = _STATE_NAME.fullmatch(value)
        if m:
            return int(m.group(1) or m.group(2))
    raise ValueError(f'{field}: {value!r} is not a hidden state; expected an index >= 0 '
                     "or a name 'h0', 'h1', 'b2', 'b3', ...")


def concat_name(states: Sequence[int]) -> str:
    """``'h1+b2+b3'``: the string form of a concat."""
    return '+'.join(state_name(i) for i in states)


def unused_states(blocks: Sequence['Block']) -> tuple:
    """The block states (2, 3, ...) that no block of ``blocks`` reads."""
    read = {i for b in blocks for i in b.inputs}
    return tuple(k for k in range(2, 2 + len(blocks)) if k not in read)


def _op(value, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f'{field}: an op name is expected, got {value!r}')
    return value


@dataclass(frozen=True)
class Block:
    """One block: ``combine(op0(state[input0]), op1(state[input1]))``.

    Args:
        input0 (int | str): first input state (index, or name such as ``'h0'``).
        op0 (str): op applied to ``input0``.
        input1 (int | str): second input state.
        op1 (str): op applied to ``input1``.
        combine (str): ``'add'`` or ``'concat'``. Defaults to ``'add'``.
    """
    input0: int
    op0: str
    input1: int
    op1: str
    combine: str = 'add'

    def __post_init__(self):
        for f in ('input0', 'input1'):
            object.__setattr__(self, f, parse_state(getattr(self, f), f))
        for f in ('op0', 'op1', 'combine'):
            _op(getattr(self, f), f)

    @property
    def inputs(self) -> tuple:
        return (self.input0, self.input1)

    @property
    def ops(self) -> tuple:
        return (self.op0, self.op1)

    def __str__(self) -> str:
        s = ', '.join(f'{state_name(i)} {OP_CODES.get(o, o)}'
                      for i, o in zip(self.inputs, self.ops))
        return f'({s})' if self.combine == 'add' else f'({s}; {self.combine})'

    def to_dict(self) -> dict:
        return {'input0': state_name(self.input0), 'op0': self.op0,
                'input1': state_name(self.input1), 'op1': self.op1, 'combine': self.combine}

    @classmethod
    def from_dict(cls, d: Mapping, field: str = 'block') -> 'Block':
        if not isinstance(d, Mapping):
            raise ValueError(f'{field}: a block dict is expected, got {d!r}')
        extra = [k for k in d if k not in ('input0', 'op0', 'input1', 'op1', 'combine')]
        if extra:
            raise bad_value(field, extra[0], ['input0', 'op0', 'input1', 'op1', 'combine'])
        missing = [k for k in ('input0', 'op0', 'input1', 'op1') if k not in d]
        if missing:
            raise ValueError(f'{field}: missing {missing}')
        return cls(parse_state(d['input0'], f'{field}/input0'), _op(d['op0'], f'{field}/op0'),
                   parse_state(d['input1'], f'{field}/input1'), _op(d['op1'], f'{field}/op1'),
                   _op(d.get('combine', 'add'), f'{field}/combine'))


@dataclass(frozen=True)
class Cell:
    """A cell: its blocks (producing states 2, 3, ...) and the states it concatenates.

    Args:
        blocks (Sequence[Block | tuple | dict]): the blocks in order; a tuple is read
            as ``Block(*tuple)``, e.g. ``('h0', 'sep_conv_5x5', 'h1', 'sep_conv_3x3')``,
            a dict as :meth:`Block.from_dict`.
        concat (Sequence[int | str]): the states concatenated into the cell output
            (kept sorted).
    """
    blocks: tuple
    concat: tuple

    def __post_init__(self):
        if isinstance(self.blocks, (str, Mapping)) or not isinstance(self.blocks, Sequence) \
                or not self.blocks:
            raise ValueError(f'blocks: a non-empty list of blocks is expected, got {self.blocks!r}')
        blocks = tuple(b if isinstance(b, Block) else
                       Block.from_dict(b, f'block{k}') if isinstance(b, Mapping) else Block(*b)
                       for k, b in enumerate(self.blocks, 2))
        object.__setattr__(self, 'blocks', blocks)
        if isinstance(self.concat, (str, Mapping)) or not isinstance(self.concat, Sequence) \
                or not self.concat:
            raise ValueError(f'concat: a non-empty list of states is expected, got {self.concat!r}')
        concat = [parse_state(s, 'concat') for s in self.concat]
        if len(set(concat)) != len(concat):
            raise ValueError(f'concat: states must be distinct, got {list(self.concat)}')
        object.__setattr__(self, 'concat', tuple(sorted(concat)))

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    def unused(self) -> tuple:
        """The block states that no block of the cell reads (NASNet's output rule)."""
        return unused_states(self.blocks)

    def __str__(self) -> str:
        body = ' '.join(f'{state_name(k)}={b}' for k, b in enumerate(self.blocks, 2))
        return f'{body} -> {concat_name(self.concat)}'

    def to_dict(self) -> dict:
        return {'blocks': [b.to_dict() for b in self.blocks],
                'concat': [state_name(i) for i in self.concat]}

    @classmethod
    def from_dict(cls, d: Mapping, field: str = 'cell') -> 'Cell':
        if not isinstance(d, Mapping) or 'blocks' not in d or 'concat' not in d:
            raise ValueError(f'{field}: a dict with "blocks" and "concat" is expected, got {d!r}')
        blocks = d['blocks']
        if isinstance(blocks, (str, Mapping)) or not isinstance(blocks, Sequence):
            raise ValueError(f'{field}/blocks: a list is expected, got {blocks!r}')
        concat = d['concat']
        if isinstance(concat, (str, Mapping)) or not isinstance(concat, Sequence):
            raise ValueError(f'{field}/concat: a list is expected, got {concat!r}')
        return cls(tuple(Block.from_dict(b, f'{field}/block{k}') for k, b in enumerate(blocks, 2)),
                   tuple(parse_state(s, f'{field}/concat') for s in concat))


@dataclass(frozen=True)
class CellGenotype:
    """A normal cell and a reduction cell (``reduce=None``: the network reuses the normal
    cell with stride 2 for its reductions, as PNASNet-5 does).

    Args:
        normal (Cell): the normal cell.
        reduce (Cell, optional): the reduction cell. Defaults to None.
    """
    normal: Cell
    reduce: Cell | None = None

    def __post_init__(self):
        if not isinstance(self.normal, Cell):
            raise ValueError(f'normal: a Cell is expected, got {type(self.normal).__name__}')
        if self.reduce is not None and not isinstance(self.reduce, Cell):
            raise ValueError('reduce: a Cell or None is expected, got '
                             f'{type(self.reduce).__name__}')

    def cells(self) -> tuple:
        """``(('normal', cell), ('reduce', cell))``, the latter only when present."""
        return (('normal', self.normal),) + ((('reduce', self.reduce),) if self.reduce else ())

    def __str__(self) -> str:
        return ' | '.join(f'{n}: {c}' for n, c in self.cells())

    def to_dict(self) -> dict:
        return {'space': CellSpace.name, 'version': CellSpace.version,
                'normal': self.normal.to_dict(),
                'reduce': None if self.reduce is None else self.reduce.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping) -> 'CellGenotype':
        check_header(d, CellSpace.name, CellSpace.version)
        if 'normal' not in d:
            raise ValueError(f'{CellSpace.name}: field "normal" is missing')
        reduce = d.get('reduce')
        return cls(Cell.from_dict(d['normal'], 'normal'),
                   None if reduce is None else Cell.from_dict(reduce, 'reduce'))


def _names(value, field: str, known: Mapping | None = None, allowed=None) -> tuple:
    """A preset name (of ``known``) or a list of distinct names, checked."""
    if isinstance(value, str):
        if known is not None:
            if value not in known:
                raise bad_value(field, value, list(known))
            return tuple(known[value])
        value = (value,)
    if not isinstance(value, Sequence) or not value:
        raise ValueError(f'{field}: a non-empty list is expected, got {value!r}')
    value = tuple(value)
    for v in value:
        if allowed is not None and v not in allowed:
            raise bad_value(field, v, allowed)
        if not isinstance(v, str) or not _OP_NAME.fullmatch(v):
            raise ValueError(f'{field}: {v!r} is not a valid name (letters, digits, _ . -)')
    if len(set(value)) != len(value):
        raise ValueError(f'{field}: names must be distinct, got {list(value)}')
    return value


class CellSpace(SearchSpace):
    """NASNet / AmoebaNet / PNAS cell search space.

    Decisions, normal cell first, then the reduction cell; per block the five steps of
    the NAS controller: ``{cell}/block{k}/input0``, ``input1`` (kind ``'input'``),
    ``op0``, ``op1`` (kind ``'op'``), ``combine`` (kind ``'combine'``, only when more
    than one combine op is allowed); with ``concat='explicit'`` one more decision
    ``{cell}/concat`` (kind ``'concat'``) after each cell's blocks.

    Example::

        space = CellSpace(num_blocks=5, ops='pnas', cells=('normal',), concat='all')
        g = space.sample(random.Random(0))
        child = space.mutate(g, random.Random(1))   # AmoebaNet mutation

    Args:
        num_blocks (int): blocks per cell (``B``). Defaults to 5.
        ops (str | Sequence[str]): ``'nasnet'``, ``'amoeba'``, ``'pnas'`` or an explicit
            list of op names. Defaults to ``'nasnet'``.
        combine (Sequence[str]): the allowed combine ops, from ``('add', 'concat')``.
            Defaults to ``('add',)``.
        cells (Sequence[str]): ``('normal', 'reduce')`` or ``('normal',)`` (reductions
            reuse the normal cell with stride 2). Defaults to ``('normal', 'reduce')``.
        concat (str): the output concat rule, one of :data:`CONCAT_RULES`.
            Defaults to ``'unused'``.
    """

    name = 'cells'
    version = 1

    def __init__(self, num_blocks: int = 5, ops='nasnet', combine=('add',),
                 cells=('normal', 'reduce'), concat: str = 'unused'):
        if not isinstance(num_blocks, int) or isinstance(num_blocks, bool) or num_blocks < 1:
            raise ValueError(f'num_blocks: an integer >= 1 is expected, got {num_blocks!r}')
        self.num_blocks = num_blocks
        self.ops = _names(ops, 'ops', CELL_OPS)
        self._ops_cfg = ops if isinstance(ops, str) else list(self.ops)
        codes = set(OP_CODES.values())
        for o in self.ops:
            if o in codes:
                raise ValueError(f'ops: {o!r} is the short code of another op; name it in full '
                                 f'(known ops: {list(OP_CODES)})')
        self.combine = _names(combine, 'combine', allowed=COMBINE_OPS)
        self.cells = _names(cells, 'cells', allowed=CELL_NAMES)
        if self.cells[0] != 'normal':
            raise ValueError(f"cells: {list(self.cells)} is not allowed; allowed values: "
                             "[['normal', 'reduce'], ['normal']]")
        if concat not in CONCAT_RULES:
            raise bad_value('concat', concat, CONCAT_RULES)
        self.concat = concat
        # every non-empty subset of the states 0 .. B+1, by bit mask
        n = num_blocks + 2
        self._subsets = tuple(tuple(i for i in range(n) if m >> i & 1) for m in range(1, 2 ** n))
        decisions, groups = [], [[] for _ in range(num_blocks)]
        for cell in self.cells:
            for j in range(num_blocks):
                k = j + 2
                for f, opts, kind in (('input0', range(k), 'input'), ('input1', range(k), 'input'),
                                      ('op0', self.ops, 'op'), ('op1', self.ops, 'op'),
                                      ('combine', self.combine, 'combine')):
                    if f == 'combine' and len(self.combine) == 1:
                        continue
                    groups[j].append(len(decisions))
                    decisions.append(Decision(f'{cell}/block{k}/{f}', tuple(opts), kind))
            if concat == 'explicit':
                decisions.append(Decision(f'{cell}/concat', tuple(map(concat_name, self._subsets)),
                                          'concat'))
        self.decisions = tuple(decisions)
        self._groups = [tuple(g) for g in groups]
        self._per_block = 4 + (len(self.combine) > 1)

    def config(self) -> dict:
        return {'num_blocks': self.num_blocks, 'ops': self._ops_cfg, 'combine': list(self.combine),
                'cells': list(self.cells), 'concat': self.concat}

    def blocks(self) -> list:
        """Group ``j`` holds the decisions of block ``j + 2`` of every cell (an explicit
        concat belongs to no group)."""
        return list(self._groups)

    def prefix(self, num_blocks: int) -> 'CellSpace':
        """The same space with cells of ``num_blocks`` blocks (the output concat is
        derived, so ``concat='explicit'`` has no prefix)."""
        if not isinstance(num_blocks, int) or isinstance(num_blocks, bool) \
                or not 1 <= num_blocks <= self.num_blocks:
            raise ValueError(f'num_blocks: an integer in [1, {self.num_blocks}] is expected, '
                             f'got {num_blocks!r}')
        if self.concat == 'explicit':
            raise ValueError("concat: prefix spaces need a derived concat ('unused' or 'all'), "
                             "got 'explicit'")
        return CellSpace(**{**self.config(), 'num_blocks': num_blocks})

    def derive_concat(self, blocks: Sequence[Block]) -> tuple:
        """The output concat the space's rule gives to a cell with these blocks."""
        if self.concat == 'all':
            return tuple(range(2, 2 + len(blocks)))
        return unused_states(blocks)

    # ---- codec --------------------------------------------------------------
    def to_tokens(self, genotype) -> tuple:
        if not isinstance(genotype, CellGenotype):
            raise ValueError(f'{self.name}: a CellGenotype is expected, got '
                             f'{type(genotype).__name__}')
        if 'reduce' in self.cells and genotype.reduce is None:
            raise ValueError('reduce: None is not allowed; this space searches a reduction '
                             "cell (cells=['normal', 'reduce'])")
        if 'reduce' not in self.cells and genotype.reduce is not None:
            raise ValueError('reduce: a reduction cell is not allowed; allowed values: [None] '
                             "(cells=['normal']: reductions reuse the normal cell)")
        tokens, it = [], iter(self.decisions)
        for name, cell in genotype.cells():
            if cell.num_blocks != self.num_blocks:
                raise ValueError(f'{name}/blocks: expected {self.num_blocks} blocks, '
                                 f'got {cell.num_blocks}')
            for k, b in enumerate(cell.blocks, 2):
                for f in ('input0', 'input1', 'op0', 'op1', 'combine'):
                    if f == 'combine' and len(self.combine) == 1:
                        if b.combine != self.combine[0]:
                            raise bad_value(f'{name}/block{k}/combine', b.combine, self.combine)
                        continue
                    d = next(it)
                    tokens.append(d.index(getattr(b, f), d.key))
            states = [state_name(i) for i in range(self.num_blocks + 2)]
            for s in cell.concat:
                if s >= len(states):
                    raise bad_value(f'{name}/concat', state_name(s), states)
            if self.concat == 'explicit':
                d = next(it)
                tokens.append(d.index(concat_name(cell.concat), d.key))
            else:
                want = self.derive_concat(cell.blocks)
                if cell.concat != want:
                    raise ValueError(f'{name}/concat: {concat_name(cell.concat)!r} is not allowed; '
                                     f'allowed values: [{concat_name(want)!r}] '
                                     f'(concat={self.concat!r} derives it from the blocks)')
        return tuple(tokens)

    def from_tokens(self, tokens) -> CellGenotype:
        tokens = list(self.check_tokens(tokens))
        cells = []
        for _ in self.cells:
            blocks = []
            for k in range(2, 2 + self.num_blocks):
                t = tokens[:self._per_block]
                del tokens[:self._per_block]
                comb = self.combine[t[4]] if len(t) == 5 else self.combine[0]
                blocks.append(Block(t[0], self.ops[t[2]], t[1], self.ops[t[3]], comb))
            if self.concat == 'explicit':
                concat = self._subsets[tokens.pop(0)]
            else:
                concat = self.derive_concat(blocks)
            cells.append(Cell(tuple(blocks), concat))
        return CellGenotype(*cells)

    def genotype_to_dict(self, genotype) -> dict:
        return {k: v for k, v in genotype.to_dict().items() if k not in ('space', 'version')}

    def genotype_from_dict(self, d: Mapping) -> CellGenotype:
        return CellGenotype.from_dict({'space': self.name, 'version': self.version, **d})

    # ---- search -------------------------------------------------------------
    def mutate(self, genotype, rng: random.Random, prob: float | None = None):
        """AmoebaNet mutation: pick the normal or the reduction cell, then with
        probability 1/2 each a hidden-state mutation (reconnect one branch of one block
        to another state it may read) or an op mutation (replace one op of one block,
        or its combine op when that is searched, by another). The result always differs.

        With ``prob`` given, resample each decision with that probability instead
        (:meth:`SearchSpace.mutate`).
        """
        if prob is not None:
            return super().mutate(genotype, rng, prob)
        self.validate(genotype)
        cells = dict(genotype.cells())
        name = self.cells[rng.randrange(len(self.cells))]
        cell = cells[name]
        j = rng.randrange(self.num_blocks)
        block = cell.blocks[j]
        slots = [f for f in ('op0', 'op1') if len(self.ops) > 1]
        slots += ['combine'] if len(self.combine) > 1 else []
        if not slots or rng.random() < 0.5:  # hidden-state mutation
            f = ('input0', 'input1')[rng.randrange(2)]
            new = self._other(getattr(block, f), j + 2, rng)
        else:
            f = slots[rng.randrange(len(slots))]
            vocab = self.combine if f == 'combine' else self.ops
            new = vocab[self._other(vocab.index(getattr(block, f)), len(vocab), rng)]
        blocks = list(cell.blocks)
        blocks[j] = replace(block, **{f: new})
        concat = cell.concat if self.concat == 'explicit' else self.derive_concat(blocks)
        cells[name] = Cell(tuple(blocks), concat)
        return CellGenotype(cells['normal'], cells.get('reduce'))
