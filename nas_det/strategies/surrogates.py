"""Small torch models for the neural strategies (CPU, tiny, deterministic).

Everything random here (initial weights, minibatch order, ensemble subsets) comes from a
``torch.Generator`` passed in by the strategy; the global torch RNG is never used, not
even by module construction (modules are built on the ``meta`` device and initialised
in place from the generator).

Surrogates of progressive search (Liu et al., PNAS, https://arxiv.org/abs/1712.00559)
score *block sequences*: the option indices of the decisions of the first ``b`` blocks
of a space, block after block (variable length). Both surrogates predict a reward
normalised to [0, 1]:

* :class:`LSTMSurrogate`: decisions of one ``kind`` (``'op'``, ``'input'`` ...) share an
  embedding table indexed by option; ``'choice'`` decisions (generic spaces, where the
  same index means different things) get their own rows. An LSTM reads the sequence;
  its final hidden state goes through a linear layer and a sigmoid.
* :class:`MLPEnsembleSurrogate`: small MLPs on the one-hot features of the sequence,
  zero-padded to the length of the full space, plus a one-hot of the sequence length (the
  block count: one model learns from every block's results); each member trains on its
  own random 80 % of the data; the prediction is the members' mean.

Losses: ``'l1'`` (as in PNAS), ``'mse'``, or ``'rank'``: a pairwise logistic ranking loss
over the pairs of each minibatch with different targets (only the order of the
predictions matters to a beam, and it keeps learning where regression has flattened),
plus the L1 loss, which keeps the predictions off the flat ends of the sigmoid.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from ..space.base import bad_value

LOSSES = ('l1', 'mse', 'rank')


def make_generator(seed: int) -> torch.Generator:
    """A private CPU generator seeded from any Python int."""
    return torch.Generator().manual_seed(seed & 0xFFFF_FFFF_FFFF_FFFF)


def build_module(factory, generator: torch.Generator, scale: float = 0.1) -> nn.Module:
    """Build ``factory(device='meta')`` without touching the global RNG, then initialise
    every parameter uniformly in ``[-scale, scale]`` from ``generator``."""
    module = factory(device='meta').to_empty(device='cpu')
    with torch.no_grad():
        for p in module.parameters():
            p.uniform_(-scale, scale, generator=generator)
    return module


def check_float(name: str, value, low: float = 0.0, high: float | None = None,
                low_open: bool = True, high_open: bool = False) -> float:
    """Validate a real number in an interval; a ``ValueError`` naming ``name`` otherwise."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = value == value and (value > low if low_open else value >= low)
        if ok and high is not None:
            ok = value < high if high_open else value <= high
    if not ok:
        lo = f'{"(" if low_open else "["}{low}'
        hi = f'{high}{")" if high_open else "]"}' if high is not None else 'inf)'
        raise ValueError(f'{name}: a number in {lo}, {hi} is expected, got {value!r}')
    return value


class _SequenceLSTM(nn.Module):
    """Embedding -> one-layer LSTM -> final hidden state -> linear -> sigmoid."""

    def __init__(self, rows: int, embedding_size: int, hidden_size: int, device=None):
        super().__init__()
        self.embed = nn.Embedding(rows, embedding_size, device=device)
        self.lstm = nn.LSTM(embedding_size, hidden_size, batch_first=True, device=device)
        self.out = nn.Linear(hidden_size, 1, device=device)

    def forward(self, rows: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(self.embed(rows), lengths, batch_first=True,
                                      enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        return torch.sigmoid(self.out(h[-1])).squeeze(-1)


class _EnsembleMLP(nn.Module):
    """``members`` one-hidden-layer MLPs evaluated at once (batched matmuls):
    ``[N, features] -> [members, N]`` predictions in (0, 1)."""

    def __init__(self, members: int, features: int, hidden: int, device=None):
        super().__init__()
        self.w1 = nn.Parameter(torch.empty(members, features, hidden, device=device))
        self.b1 = nn.Parameter(torch.empty(members, 1, hidden, device=device))
        self.w2 = nn.Parameter(torch.empty(members, hidden, 1, device=device))
        self.b2 = nn.Parameter(torch.empty(members, 1, 1, device=device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(torch.matmul(x, self.w1) + self.b1)
        return torch.sigmoid(torch.matmul(h, self.w2) + self.b2).squeeze(-1)


class _Surrogate:
    """Shared training loop: Adam, shuffled minibatches, L1 or MSE, fresh weights per fit.

    Args:
        decisions (Sequence[Decision]): the decisions of the full block sequence, in order.
        epochs (int): passes over the data per fit. Defaults to 100.
        lr (float): Adam learning rate. Defaults to 0.01.
        batch_size (int): minibatch size. Defaults to 32.
        loss (str): ``'l1'`` (as in PNAS), ``'mse'`` or ``'rank'`` (pairwise logistic).
            Defaults to ``'l1'``.
    """

    def __init__(self, decisions: Sequence, epochs: int = 100, lr: float = 0.01,
                 batch_size: int = 32, loss: str = 'l1'):
        if loss not in LOSSES:
            raise bad_value('loss', loss, LOSSES)
        self.decisions = tuple(decisions)
        self.cards = [len(d.options) for d in self.decisions]
        self.epochs, self.lr, self.batch_size, self.loss = epochs, lr, batch_size, loss
        self.model = None

    def _criterion(self, pred, target, mask=None):
        """Mean loss of predictions ``pred`` (``[..., B]``: a leading ensemble dimension
        is allowed) against ``target`` (``[B]``); ``mask`` (0/1, shaped as ``pred``)
        selects each member's own samples."""
        mask = torch.ones_like(pred) if mask is None else mask
        if self.loss != 'rank':
            err = (pred - target).abs() if self.loss == 'l1' else (pred - target) ** 2
            return (err * mask).sum() / mask.sum().clamp(min=1)
        sign = torch.sign(target[:, None] - target[None, :])  # pairs i, j: +1 if y_i > y_j
        margin = 10.0 * (pred[..., :, None] - pred[..., None, :])  # predictions in [0, 1]
        pairs = mask[..., :, None] * mask[..., None, :] * (sign != 0)
        if not pairs.any():  # all targets equal: pull them together
            return ((pred - target).abs() * mask).sum() / mask.sum().clamp(min=1)
        rank = (nn.functional.softplus(-sign * margin) * pairs).sum() / pairs.sum()
        # plus L1 to the targets: keeps the predictions off the sigmoid's flat ends
        return rank + ((pred - target).abs() * mask).sum() / mask.sum().clamp(min=1)

    def _train(self, model, forward, n: int, y: torch.Tensor, generator, mask=None) -> None:
        opt = torch.optim.Adam(model.parameters(), lr=self.lr)
        model.train()
        for _ in range(self.epochs):
            perm = torch.randperm(n, generator=generator)
            for start in range(0, n, self.batch_size):
                idx = perm[start:start + self.batch_size]
                opt.zero_grad()
                self._criterion(forward(idx), y[idx],
                                None if mask is None else mask[..., idx]).backward()
                opt.step()
        model.eval()

    def fit(self, seqs: Sequence[Sequence[int]], targets: Sequence[float],
            generator: torch.Generator) -> None:
        """Train fresh weights on ``(sequence, target in [0, 1])`` pairs."""
        raise NotImplementedError

    def predict(self, seqs: Sequence[Sequence[int]]) -> list:
        """Predicted (normalised) rewards of block sequences."""
        raise NotImplementedError


class LSTMSurrogate(_Surrogate):
    """The PNAS LSTM predictor (see module docstring).

    Args:
        decisions (Sequence[Decision]): the decisions of the full block sequence.
        embedding_size (int): embedding width. Defaults to 16.
        hidden_size (int): LSTM width. Defaults to 32.
        **kwargs: training settings of :class:`_Surrogate`.
    """

    def __init__(self, decisions, embedding_size: int = 16, hidden_size: int = 32, **kwargs):
        super().__init__(decisions, **kwargs)
        self.embedding_size, self.hidden_size = embedding_size, hidden_size
        kind_card: dict = {}
        for d in self.decisions:
            if d.kind != 'choice':
                kind_card[d.kind] = max(kind_card.get(d.kind, 0), len(d.options))
        kind_base, rows = {}, 0
        for kind, card in kind_card.items():
            kind_base[kind], rows = rows, rows + card
        bases = []
        for d in self.decisions:
            if d.kind == 'choice':
                bases.append(rows)
                rows += len(d.options)
            else:
                bases.append(kind_base[d.kind])
        self.bases, self.rows = bases, rows

    def _encode(self, seqs):
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        rows = torch.zeros(len(seqs), max(len(s) for s in seqs), dtype=torch.long)
        for i, s in enumerate(seqs):
            rows[i, :len(s)] = torch.tensor([b + t for b, t in zip(self.bases, s)])
        return rows, lengths

    def fit(self, seqs, targets, generator):
        self.model = build_module(
            lambda device: _SequenceLSTM(self.rows, self.embedding_size, self.hidden_size,
                                         device), generator)
        rows, lengths = self._encode(seqs)
        y = torch.tensor(targets, dtype=torch.float32)
        self._train(self.model, lambda idx: self.model(rows[idx], lengths[idx]),
                    len(seqs), y, generator)

    @torch.no_grad()
    def predict(self, seqs):
        return self.model(*self._encode(seqs)).tolist() if seqs else []


class MLPEnsembleSurrogate(_Surrogate):
    """An ensemble of small MLPs on zero-padded one-hot features (see module docstring).

    Args:
        decisions (Sequence[Decision]): the decisions of the full block sequence.
        ensemble_size (int): number of MLPs. Defaults to 5.
        hidden_size (int): hidden width of each MLP. Defaults to 32.
        **kwargs: training settings of :class:`_Surrogate`.
    """

    def __init__(self, decisions, ensemble_size: int = 5, hidden_size: int = 32, **kwargs):
        super().__init__(decisions, **kwargs)
        self.ensemble_size, self.hidden_size = ensemble_size, hidden_size
        self.offsets = [sum(self.cards[:i]) for i in range(len(self.cards))]
        self.width = sum(self.cards) + len(self.cards)  # one-hot tokens + one-hot length

    def features(self, seqs) -> torch.Tensor:
        x = torch.zeros(len(seqs), self.width)
        base = sum(self.cards) - 1
        for i, s in enumerate(seqs):
            x[i, [o + t for o, t in zip(self.offsets, s)] + [base + len(s)]] = 1.0
        return x

    def fit(self, seqs, targets, generator):
        x, y, n = self.features(seqs), torch.tensor(targets, dtype=torch.float32), len(seqs)
        self.model = build_module(lambda device: _EnsembleMLP(
            self.ensemble_size, self.width, self.hidden_size, device), generator)
        mask = torch.ones(self.ensemble_size, n)
        if n >= 5:  # each member its own random 80 %
            for m in range(self.ensemble_size):
                mask[m, torch.randperm(n, generator=generator)[(4 * n) // 5:]] = 0.0
        self._train(self.model, lambda idx: self.model(x[idx]), n, y, generator, mask)

    @torch.no_grad()
    def predict(self, seqs):
        if not seqs:
            return []
        return self.model(self.features(seqs)).mean(0).tolist()


SURROGATES = {'lstm': LSTMSurrogate, 'mlp_ensemble': MLPEnsembleSurrogate}
