"""The core of the architecture-as-data layer (standard library only).

A search space is an ordered list of named categorical :class:`Decision` s. Every
genotype of a space maps one-to-one onto a *token sequence*: one option index per
decision, in the space's order. Strategies that know nothing about a space work on
tokens (``space.to_tokens`` / ``space.from_tokens``) and on the space's own
``sample`` / ``mutate`` / ``crossover``; modules are built from the genotype itself.

Genotypes are frozen values. Their JSON form is ``{"space": NAME, "version": N, ...}``
and their ``str()`` is canonical (used for de-duplication and logs).
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence


def _fmt_options(options: Iterable[Any], limit: int = 20) -> str:
    opts = [repr(o) for o in options]
    if len(opts) > limit:
        opts = opts[:limit] + [f'... ({len(opts)} in all)']
    return '[' + ', '.join(opts) + ']'


def bad_value(field: str, value: Any, allowed: Iterable[Any]) -> ValueError:
    """A ``ValueError`` that names the field, the bad value and the allowed values."""
    return ValueError(f'{field}: {value!r} is not allowed; allowed values: '
                      f'{_fmt_options(allowed)}')


def check_header(d, name: str, version: int = 1) -> None:
    """Check the ``space`` and ``version`` fields of a genotype dict (clear errors)."""
    if not isinstance(d, Mapping):
        raise ValueError(f'{name}: a genotype dict is expected, got {type(d).__name__}')
    if d.get('space') != name:
        raise bad_value('space', d.get('space'), [name])
    if d.get('version') != version:
        raise bad_value('version', d.get('version'), [version])


@dataclass(frozen=True)
class Decision:
    """One named categorical choice of a space.

    Args:
        key (str): semantic key, e.g. ``'stage2/block3'`` or ``'normal/block4/input0'``.
            Never a module path.
        options (tuple): the allowed values (JSON-able scalars), in token order.
        kind (str): the token family (``'op'``, ``'input'``, ``'level'``, ``'combine'``,
            ``'choice'`` ...). Surrogates and controllers may share embeddings between
            decisions of one kind. Defaults to ``'choice'``.
    """
    key: str
    options: tuple
    kind: str = 'choice'

    def __post_init__(self):
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(f'decision key must be a non-empty string, got {self.key!r}')
        object.__setattr__(self, 'options', tuple(self.options))
        if not self.options:
            raise ValueError(f'{self.key}: a decision needs at least one option')
        if len(set(self.options)) != len(self.options):
            raise ValueError(f'{self.key}: options must be distinct, got '
                             f'{_fmt_options(self.options)}')

    def index(self, value: Any, field: str | None = None) -> int:
        """Token index of ``value``; a ``ValueError`` naming the field if not allowed."""
        try:
            return self.options.index(value)
        except ValueError:
            raise bad_value(field or self.key, value, self.options) from None


class SearchSpace:
    """Base class of all search spaces.

    Subclasses set ``name`` and ``version``, build ``self.decisions`` (a tuple of
    :class:`Decision`) in ``__init__`` and implement :meth:`to_tokens`,
    :meth:`from_tokens`, :meth:`genotype_to_dict` and :meth:`genotype_from_dict`.
    Everything else has a generic default that subclasses may refine (for example
    cell spaces override :meth:`mutate` with AmoebaNet's mutations).
    """

    name: str = 'space'
    version: int = 1
    decisions: tuple = ()

    # ---- to implement -------------------------------------------------------
    def to_tokens(self, genotype) -> tuple:
        """One option index per decision, in order."""
        raise NotImplementedError

    def from_tokens(self, tokens: Sequence[int]):
        """The genotype of a token sequence (inverse of :meth:`to_tokens`)."""
        raise NotImplementedError

    def genotype_to_dict(self, genotype) -> dict:
        """The space-specific fields of the JSON form (without space/version)."""
        raise NotImplementedError

    def genotype_from_dict(self, d: Mapping):
        raise NotImplementedError

    def config(self) -> dict:
        """Arguments that rebuild this space (saved beside search state)."""
        return {}

    # ---- generic ------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.decisions)

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.config()})'

    @property
    def cardinalities(self) -> tuple:
        return tuple(len(d.options) for d in self.decisions)

    def size(self) -> float:
        """Number of token sequences (an upper bound on distinct genotypes)."""
        return math.prod(self.cardinalities)

    def check_tokens(self, tokens: Sequence[int]) -> tuple:
        tokens = tuple(tokens)
        if len(tokens) != len(self.decisions):
            raise ValueError(f'{self.name}: expected {len(self.decisions)} tokens, '
                             f'got {len(tokens)}')
        for t, d in zip(tokens, self.decisions):
            if not isinstance(t, int) or isinstance(t, bool) or not 0 <= t < len(d.options):
                raise ValueError(f'{d.key}: token {t!r} out of range '
                                 f'[0, {len(d.options) - 1}]')
        return tokens

    def validate(self, genotype):
        """Return ``genotype`` if it belongs to this space, else raise ``ValueError``
        naming the bad field and its allowed values."""
        self.to_tokens(genotype)
        return genotype

    def sample(self, rng: random.Random):
        """A uniformly random genotype (uniform over token sequences)."""
        return self.from_tokens([rng.randrange(n) for n in self.cardinalities])

    def mutate(self, genotype, rng: random.Random, prob: float | None = None):
        """Resample each decision with probability ``prob`` (default ``1/len``) to
        another option; at least one decision changes when any can."""
        tokens = list(self.to_tokens(genotype))
        free = [i for i, n in enumerate(self.cardinalities) if n > 1]
        if not free:
            return genotype
        p = 1.0 / len(free) if prob is None else prob
        changed = False
        for i in free:
            if rng.random() < p:
                tokens[i] = self._other(tokens[i], self.cardinalities[i], rng)
                changed = True
        if not changed:
            i = free[rng.randrange(len(free))]
            tokens[i] = self._other(tokens[i], self.cardinalities[i], rng)
        return self.from_tokens(tokens)

    @staticmethod
    def _other(tok: int, n: int, rng: random.Random) -> int:
        t = rng.randrange(n - 1)
        return t + 1 if t >= tok else t

    def crossover(self, a, b, rng: random.Random):
        """Uniform crossover of token sequences."""
        ta, tb = self.to_tokens(a), self.to_tokens(b)
        return self.from_tokens([x if rng.random() < 0.5 else y for x, y in zip(ta, tb)])

    def features(self, genotype) -> list:
        """One-hot feature vector (concatenated over decisions)."""
        out = []
        for t, n in zip(self.to_tokens(genotype), self.cardinalities):
            v = [0.0] * n
            v[t] = 1.0
            out.extend(v)
        return out

    def key(self, genotype) -> str:
        """Canonical string of a genotype (its ``str``)."""
        return str(genotype)

    def blocks(self) -> list | None:
        """Ordered groups of decision indices that form blocks (used by progressive
        search), or ``None`` when the space declares no blocks."""
        return None

    def prefix(self, num_blocks: int) -> 'SearchSpace':
        """The space of architectures made of the first ``num_blocks`` blocks only.

        Contract (progressive search relies on it): ``p = space.prefix(b)`` declares
        ``b`` blocks, and ``p.blocks()[i]`` has the same decisions (same options, same
        order) as ``space.blocks()[i]``; ``space.prefix(len(space.blocks()))`` searches
        the same architectures as ``space``. Spaces without blocks raise ``ValueError``.
        """
        raise ValueError(f'{self.name}: this space declares no blocks, so progressive '
                         'search cannot grow it block by block; give the space blocks '
                         '(e.g. ChoiceSpace(..., blocks=[[...], ...])) or use another strategy')

    # ---- JSON ---------------------------------------------------------------
    def to_dict(self, genotype) -> dict:
        self.validate(genotype)
        return {'space': self.name, 'version': self.version, **self.genotype_to_dict(genotype)}

    def from_dict(self, d: Mapping):
        check_header(d, self.name, self.version)
        return self.validate(self.genotype_from_dict(
            {k: v for k, v in d.items() if k not in ('space', 'version')}))

    def dumps(self, genotype) -> str:
        return json.dumps(self.to_dict(genotype), sort_keys=True)

    def loads(self, s: str):
        return self.from_dict(json.loads(s))


@dataclass(frozen=True)
class Assignment:
    """Genotype of a :class:`ChoiceSpace`: an ordered, frozen ``{key: value}`` map."""
    items: tuple  # ((key, value), ...)

    def __getitem__(self, key):
        for k, v in self.items:
            if k == key:
                return v
        raise KeyError(key)

    def as_dict(self) -> dict:
        return dict(self.items)

    def __str__(self) -> str:
        return ' '.join(f'{k}={json.dumps(v)}' for k, v in self.items)


class ChoiceSpace(SearchSpace):
    """A generic space made from a plain list of named categorical choices.

    Example::

        space = ChoiceSpace({'depth': [2, 4, 8], 'act': ['relu', 'gelu'], 'lr': [0.1, 0.01]})
        g = space.sample(random.Random(0))
        g['depth']

    Args:
        choices (Mapping[str, Sequence] | Sequence[tuple[str, Sequence]]): the decisions
            in order, each a key and its options (JSON-able scalars).
        blocks (Sequence[Sequence[str]], optional): ordered groups of keys that form
            blocks, for progressive search. Every key must belong to exactly one block.
            Defaults to None (no blocks).
        name (str): the space name stored in genotype JSON. Defaults to ``'choices'``.
    """

    version = 1

    def __init__(self, choices, blocks=None, name: str = 'choices'):
        items = list(choices.items()) if isinstance(choices, Mapping) else list(choices)
        if not items:
            raise ValueError('choices: at least one named choice is needed')
        self.name = name
        decisions = []
        for item in items:
            if not (isinstance(item, (tuple, list)) and len(item) == 2):
                raise ValueError(f'choices: each entry must be (key, options), got {item!r}')
            key, options = item
            if isinstance(options, (str, bytes)) or not isinstance(options, Iterable):
                raise ValueError(f'choices[{key!r}]: options must be a list, got {options!r}')
            decisions.append(Decision(str(key), tuple(options)))
        keys = [d.key for d in decisions]
        if len(set(keys)) != len(keys):
            raise ValueError(f'choices: duplicate keys in {keys}')
        self.decisions = tuple(decisions)
        self._keys = tuple(keys)
        self._blocks = None
        if blocks is not None:
            seen = []
            groups = []
            for i, group in enumerate(blocks):
                if isinstance(group, str) or not group:
                    raise ValueError(f'blocks[{i}]: a non-empty list of keys is expected, '
                                     f'got {group!r}')
                idx = []
                for k in group:
                    if k not in keys:
                        raise bad_value(f'blocks[{i}]', k, keys)
                    if k in seen:
                        raise ValueError(f'blocks[{i}]: key {k!r} is already in an earlier block')
                    seen.append(k)
                    idx.append(keys.index(k))
                groups.append(tuple(idx))
            missing = [d.key for d in decisions if d.key not in seen and len(d.options) > 1]
            if missing:
                raise ValueError(f'blocks: keys {missing} belong to no block (only '
                                 'single-option decisions may stay outside blocks)')
            self._blocks = groups

    def config(self) -> dict:
        cfg = {'choices': [[d.key, list(d.options)] for d in self.decisions], 'name': self.name}
        if self._blocks is not None:
            cfg['blocks'] = [[self._keys[i] for i in g] for g in self._blocks]
        return cfg

    def blocks(self):
        return None if self._blocks is None else list(self._blocks)

    def prefix(self, num_blocks: int) -> 'ChoiceSpace':
        """The first ``num_blocks`` blocks free, every later decision fixed to its first
        option (its default). Its genotypes are full assignments, valid in this space."""
        if self._blocks is None:
            return super().prefix(num_blocks)
        if not isinstance(num_blocks, int) or not 1 <= num_blocks <= len(self._blocks):
            raise ValueError(f'num_blocks: an integer in [1, {len(self._blocks)}] is '
                             f'expected, got {num_blocks!r}')
        free = {i for g in self._blocks[:num_blocks] for i in g}
        choices = [(d.key, d.options if i in free else d.options[:1])
                   for i, d in enumerate(self.decisions)]
        blocks = [[self._keys[i] for i in g] for g in self._blocks[:num_blocks]]
        return ChoiceSpace(choices, blocks=blocks, name=self.name)

    def to_tokens(self, genotype) -> tuple:
        if isinstance(genotype, Mapping):
            genotype = Assignment(tuple(genotype.items()))
        if not isinstance(genotype, Assignment):
            raise ValueError(f'{self.name}: an Assignment is expected, got '
                             f'{type(genotype).__name__}')
        got = [k for k, _ in genotype.items]
        if got != list(self._keys):
            extra = [k for k in got if k not in self._keys]
            if extra:
                raise bad_value('key', extra[0], self._keys)
            raise ValueError(f'{self.name}: keys {got} do not match the space keys '
                             f'{list(self._keys)} (in order)')
        return tuple(d.index(v) for d, (_, v) in zip(self.decisions, genotype.items))

    def from_tokens(self, tokens):
        tokens = self.check_tokens(tokens)
        return Assignment(tuple((d.key, d.options[t]) for d, t in zip(self.decisions, tokens)))

    def make(self, **values) -> Assignment:
        """Build (and validate) a genotype from keyword values."""
        g = Assignment(tuple((k, values[k]) for k in self._keys if k in values))
        missing = [k for k in self._keys if k not in values]
        if missing:
            raise ValueError(f'{self.name}: missing values for {missing}')
        extra = [k for k in values if k not in self._keys]
        if extra:
            raise bad_value('key', extra[0], self._keys)
        return self.validate(g)

    def genotype_to_dict(self, genotype) -> dict:
        return {'choices': genotype.as_dict() if isinstance(genotype, Assignment) else dict(genotype)}

    def genotype_from_dict(self, d):
        choices = d.get('choices')
        if not isinstance(choices, Mapping):
            raise ValueError(f'{self.name}: field "choices" must be an object')
        extra = [k for k in choices if k not in self._keys]
        if extra:
            raise bad_value('choices', extra[0], self._keys)
        missing = [k for k in self._keys if k not in choices]
        if missing:
            raise ValueError(f'{self.name}: field "choices" lacks keys {missing}')
        return Assignment(tuple((k, choices[k]) for k in self._keys))
