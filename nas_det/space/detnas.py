"""DetNAS: one path through a ShuffleNetV2 supernet (standard library only).

`DetNAS: Backbone Search for Object Detection <https://arxiv.org/abs/1903.10979>`_.
Every choice block of the supernet picks one of four ops; a genotype is the list of
picks, stage by stage. Stages and blocks are numbered from 1 in keys and strings:
``stage1/block1`` is the first (stride 2) block of the first stage.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from .base import Decision, SearchSpace, bad_value, check_header

DETNAS_OPS = ('shuffle3x3', 'shuffle5x5', 'shuffle7x7', 'xception3x3')
"""The four choices of every DetNAS block, in token order."""

DETNAS_PRESETS = {'300M': (4, 4, 8, 4), '1.3G': (8, 8, 16, 8), '3.8G': (8, 8, 16, 8)}
"""Stage block counts of the published search spaces (channels are the model's business)."""

_CODES = {'shuffle3x3': '3', 'shuffle5x5': '5', 'shuffle7x7': '7', 'xception3x3': 'x'}


def _stage_blocks(value, field: str = 'stage_blocks') -> tuple:
    if isinstance(value, str):
        if value not in DETNAS_PRESETS:
            raise bad_value(field, value, list(DETNAS_PRESETS))
        return DETNAS_PRESETS[value]
    if (isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value
            or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in value)):
        raise ValueError(f'{field}: a non-empty list of positive block counts or a preset '
                         f'name {list(DETNAS_PRESETS)} is expected, got {value!r}')
    return tuple(value)


def block_keys(stage_blocks: Sequence[int]) -> list:
    """``['stage1/block1', ...]``: the key of every block (stages and blocks from 1)."""
    return [f'stage{s}/block{b}' for s, n in enumerate(stage_blocks, 1) for b in range(1, n + 1)]


@dataclass(frozen=True)
class DetNASPath:
    """A DetNAS genotype: the op of every choice block.

    Args:
        stage_blocks (Sequence[int]): number of blocks per stage, e.g. ``(4, 4, 8, 4)``.
        ops (Sequence[str]): one op name per block, stage after stage
            (``sum(stage_blocks)`` of them).
    """
    stage_blocks: tuple
    ops: tuple

    def __post_init__(self):
        object.__setattr__(self, 'stage_blocks', _stage_blocks(self.stage_blocks))
        if isinstance(self.ops, str) or not isinstance(self.ops, Sequence):
            raise ValueError(f'ops: a list of op names is expected, got {self.ops!r}')
        object.__setattr__(self, 'ops', tuple(self.ops))
        want = sum(self.stage_blocks)
        if len(self.ops) != want:
            raise ValueError(f'ops: expected {want} ops for stage_blocks '
                             f'{self.stage_blocks}, got {len(self.ops)}')
        for key, op in zip(self.keys(), self.ops):
            if not isinstance(op, str) or not op:
                raise ValueError(f'{key}: an op name is expected, got {op!r}')

    @classmethod
    def from_stages(cls, stages: Sequence[Sequence[str]]) -> 'DetNASPath':
        """Build from one list of op names per stage."""
        return cls(tuple(len(s) for s in stages), tuple(op for s in stages for op in s))

    def keys(self) -> list:
        """Semantic key of every block, ``stage{s}/block{b}`` (1-based), in order."""
        return block_keys(self.stage_blocks)

    @property
    def stages(self) -> tuple:
        """The ops grouped by stage."""
        out, i = [], 0
        for n in self.stage_blocks:
            out.append(self.ops[i:i + n])
            i += n
        return tuple(out)

    def __str__(self) -> str:
        # '3'/'5'/'7'/'x' per block when every op has a code, else full names.
        if all(op in _CODES for op in self.ops):
            body = ' '.join(''.join(_CODES[op] for op in s) for s in self.stages)
        else:
            body = ' | '.join(','.join(s) for s in self.stages)
        return f"detnas[{'-'.join(map(str, self.stage_blocks))}] {body}"

    def to_dict(self) -> dict:
        return {'space': DetNASSpace.name, 'version': DetNASSpace.version,
                'stage_blocks': list(self.stage_blocks), 'ops': list(self.ops)}

    @classmethod
    def from_dict(cls, d: Mapping) -> 'DetNASPath':
        check_header(d, DetNASSpace.name, DetNASSpace.version)
        for field in ('stage_blocks', 'ops'):
            if field not in d:
                raise ValueError(f'{DetNASSpace.name}: field {field!r} is missing')
        return cls(d['stage_blocks'], d['ops'])


class DetNASSpace(SearchSpace):
    """Single paths through a ShuffleNetV2 supernet, one op per choice block.

    Decisions ``stage{s}/block{b}`` (1-based, kind ``'op'``), stage after stage.
    Example::

        space = DetNASSpace('300M')            # or DetNASSpace.preset('300M')
        path = space.sample(random.Random(0))  # DetNASPath with 20 ops

    Args:
        stage_blocks (Sequence[int] | str): blocks per stage, or a preset name
            (``'300M'``: 4/4/8/4; ``'1.3G'`` and ``'3.8G'``: 8/8/16/8).
            Defaults to ``'300M'``.
        ops (Sequence[str]): the candidate ops of every block. Defaults to
            :data:`DETNAS_OPS`.
    """

    name = 'detnas'
    version = 1

    def __init__(self, stage_blocks='300M', ops: Sequence[str] = DETNAS_OPS):
        self._preset = stage_blocks if isinstance(stage_blocks, str) else None
        self.stage_blocks = _stage_blocks(stage_blocks)
        if isinstance(ops, str) or not ops or not all(isinstance(o, str) and o for o in ops):
            raise ValueError(f'ops: a non-empty list of op names is expected, got {ops!r}')
        self.ops = tuple(ops)
        self.decisions = tuple(Decision(k, self.ops, 'op') for k in block_keys(self.stage_blocks))

    @classmethod
    def preset(cls, name: str, **kwargs) -> 'DetNASSpace':
        """The space of a published preset (``'300M'``, ``'1.3G'``, ``'3.8G'``)."""
        if name not in DETNAS_PRESETS:
            raise bad_value('preset', name, list(DETNAS_PRESETS))
        return cls(name, **kwargs)

    def config(self) -> dict:
        cfg = {'stage_blocks': self._preset or list(self.stage_blocks)}
        if self.ops != DETNAS_OPS:
            cfg['ops'] = list(self.ops)
        return cfg

    def to_tokens(self, genotype) -> tuple:
        if not isinstance(genotype, DetNASPath):
            raise ValueError(f'{self.name}: a DetNASPath is expected, got '
                             f'{type(genotype).__name__}')
        if genotype.stage_blocks != self.stage_blocks:
            raise bad_value('stage_blocks', genotype.stage_blocks, [self.stage_blocks])
        return tuple(d.index(op) for d, op in zip(self.decisions, genotype.ops))

    def from_tokens(self, tokens) -> DetNASPath:
        tokens = self.check_tokens(tokens)
        return DetNASPath(self.stage_blocks, tuple(self.ops[t] for t in tokens))

    def genotype_to_dict(self, genotype) -> dict:
        d = genotype.to_dict()
        return {k: v for k, v in d.items() if k not in ('space', 'version')}

    def genotype_from_dict(self, d: Mapping) -> DetNASPath:
        return DetNASPath.from_dict({'space': self.name, 'version': self.version, **d})
