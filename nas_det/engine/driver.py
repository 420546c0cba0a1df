"""The search driver: ask, evaluate, tell, log and save, resumably.

Free of mmengine (torch only for a neural strategy's tensors), so a user can search their
own space with their own objective in a few lines::

    from nas_det.engine.driver import SearchDriver
    driver = SearchDriver(space, dict(type='RegularizedEvolution', population=20),
                          work_dir='work_dirs/my_search', seed=0, max_trials=200)
    best = driver.run_objective(objective)   # objective(genotype) -> reward

State under ``work_dir`` (DESIGN.md):

* ``trials.jsonl``: one line per evaluated candidate, appended as soon as it is known
  (genotype dict and canonical string, reward, metrics, cost, wall time, batch index).
* ``search_state.json``: strategy state, written atomically (temp file + rename) after
  each batch is told; a neural strategy's tensors go to ``search_state.pt`` (loaded with
  ``weights_only=True``).
* ``best_genotype.json``: the best genotype so far with its reward.

A killed search started again resumes from ``search_state.json``; the candidates it
re-asks (the strategies are deterministic) that ``trials.jsonl`` already holds are not
evaluated again, so the search ends with the same trials and best genotype as an
uninterrupted one.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Callable

from ..space.base import SearchSpace
from ..strategies.base import Strategy, build_strategy, is_failure

STATE_FILE = 'search_state.json'
TENSOR_FILE = 'search_state.pt'
TRIALS_FILE = 'trials.jsonl'
BEST_FILE = 'best_genotype.json'


@dataclass
class Result:
    """What an evaluator returns for one genotype.

    Args:
        reward (float): maximised; NaN/inf marks a failed candidate.
        metrics (dict): anything else worth logging (JSON-able).
        cost (dict): resource figures (e.g. ``{'flops': ...}``) for plots and limits.
    """
    reward: float
    metrics: dict = field(default_factory=dict)
    cost: dict = field(default_factory=dict)

    @classmethod
    def of(cls, value) -> 'Result':
        if isinstance(value, Result):
            return value
        if isinstance(value, dict):
            return cls(float(value['reward']), dict(value.get('metrics', {})),
                       dict(value.get('cost', {})))
        return cls(float('nan') if value is None else float(value))


def _json_float(x):
    return x if x is None or math.isfinite(x) else str(x)  # 'nan' / 'inf' stay readable


def _atomic_write(path: str, text: str) -> None:
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_trials_file(path: str) -> list:
    """The records of one trials file (``[]`` when there is none); a torn last line,
    from a kill, is ignored."""
    out = []
    if osp.isfile(path):
        with open(path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    break
    return out


def read_trials(work_dir: str, partial: bool = False) -> list:
    """The records of ``trials.jsonl`` (a torn last line, from a kill, is ignored); with
    ``partial``, also those other ranks logged before a stop (``trials.rank*.jsonl``)."""
    import glob
    paths = [osp.join(work_dir, TRIALS_FILE)]
    if partial:
        paths += sorted(glob.glob(osp.join(work_dir, 'trials.rank*.jsonl')))
    return [rec for path in paths for rec in read_trials_file(path)]


class SearchDriver:
    """Runs a strategy against an evaluator with files that make it resumable.

    Args:
        space (SearchSpace): the space searched.
        strategy (dict | Strategy): a strategy config (``dict(type=...)``) or instance.
        work_dir (str, optional): where state goes; None keeps everything in memory.
        seed (int): strategy seed (used when ``strategy`` is a config). Defaults to 0.
        max_trials (int, optional): stop after this many evaluated candidates.
        constraint (callable, optional): ``genotype -> bool``, checked before evaluation.
        resume (bool): continue from the state in ``work_dir`` if there is one.
            Defaults to True.
        rank (int): this process's rank; rank 0 writes the state files, the others only
            log what they evaluated to ``trials.rank{rank}.jsonl``. Defaults to 0.
        log (callable): progress printer. Defaults to ``print``.
    """

    def __init__(self, space: SearchSpace, strategy, work_dir: str | None = None,
                 seed: int = 0, max_trials: int | None = None, constraint: Callable | None = None,
                 resume: bool = True, rank: int = 0, log: Callable = print):
        self.space = space
        if isinstance(strategy, Strategy):
            self.strategy = strategy
        else:
            self.strategy = build_strategy(strategy, space, seed=seed, max_trials=max_trials,
                                           **({'constraint': constraint} if constraint else {}))
        self.work_dir = work_dir
        self.rank = rank
        self.is_main = rank == 0
        self.log = log
        self.batch_index = 0
        self.trials: list = []        # records of this search, in tell order
        self._cache: dict = {}        # key -> record, from trials.jsonl (resume)
        self.t_start = time.time()
        if work_dir and self.is_main:
            os.makedirs(work_dir, exist_ok=True)
        if work_dir and resume:
            self._resume()
        self._n_at_start = len(self.trials)

    # ---- state --------------------------------------------------------------
    def _resume(self) -> None:
        for rec in read_trials(self.work_dir, partial=True):
            self._cache.setdefault(rec['key'], rec)
        path = osp.join(self.work_dir, STATE_FILE)
        if not osp.isfile(path):
            return
        with open(path) as f:
            state = json.load(f)
        if state.get('space') != self.space.name:
            raise ValueError(f'{path}: the saved search is over space {state.get("space")!r}, '
                             f'this config searches {self.space.name!r}; use another work dir')
        sstate = state['strategy']
        if sstate.get('has_tensors'):
            import torch
            sstate = dict(sstate, tensors=torch.load(osp.join(self.work_dir, TENSOR_FILE),
                                                     weights_only=True))
        sstate.pop('has_tensors', None)
        self.strategy.load_state_dict(sstate)
        self.batch_index = state['batch_index']
        self.trials = [self._cache[k] for k, _ in self.strategy.history]
        self.log(f'[search] resumed from {path}: {len(self.trials)} trials told, '
                 f'{len(self._cache) - len(self.trials)} more evaluated before the stop')

    def save(self) -> None:
        if not (self.work_dir and self.is_main):
            return
        sstate = self.strategy.state_dict()
        tensors = sstate.pop('tensors', None)
        if tensors is not None:
            import torch
            tmp = osp.join(self.work_dir, TENSOR_FILE + '.tmp')
            torch.save(tensors, tmp)
            os.replace(tmp, osp.join(self.work_dir, TENSOR_FILE))
            sstate['has_tensors'] = True
        state = {'space': self.space.name, 'space_config': self.space.config(),
                 'batch_index': self.batch_index, 'strategy': sstate}
        _atomic_write(osp.join(self.work_dir, STATE_FILE), json.dumps(state))
        best = self.strategy.best()
        if best is not None:
            g, r = best
            rec = next((t for t in self.trials if t['key'] == self.strategy.key(g)), {})
            _atomic_write(osp.join(self.work_dir, BEST_FILE), json.dumps(
                {'genotype': self.strategy.genotype_to_dict(g), 'key': self.strategy.key(g), 'reward': r,
                 'metrics': rec.get('metrics', {}), 'cost': rec.get('cost', {})}, indent=2))

    def _record(self, genotype, result, wall: float = 0.0, write: bool = True) -> dict:
        """Log one evaluated candidate as soon as it is known (once per genotype). Rank 0
        writes everything to the trial log; another rank writes (with ``write``) only what
        it evaluated itself, to its own file."""
        key = self.strategy.key(genotype)
        if key in self._cache:
            return self._cache[key]
        res = Result.of(result)
        rec = {'batch': self.batch_index, 'key': key, 'genotype': self.strategy.genotype_to_dict(genotype),
               'reward': _json_float(res.reward), 'failed': is_failure(res.reward),
               'metrics': res.metrics, 'cost': res.cost, 'wall_time': round(wall, 3)}
        if self.work_dir and (write or self.is_main):
            name = TRIALS_FILE if self.is_main else f'trials.rank{self.rank}.jsonl'
            if self.is_main or osp.isdir(self.work_dir):
                with open(osp.join(self.work_dir, name), 'a') as f:
                    f.write(json.dumps(rec) + '\n')
        self._cache[key] = rec
        return rec

    # ---- loop ---------------------------------------------------------------
    def step(self, evaluate_batch: Callable) -> list:
        """Ask one batch, evaluate what is not in the trial log yet, tell, log and save.

        Args:
            evaluate_batch: ``(genotypes, report) -> results``: one ``Result`` (or float,
                or dict) per genotype, in order. It should call ``report(i, result)`` as
                soon as the result of ``genotypes[i]`` is known, so that a kill in the
                middle of a batch loses nothing already evaluated (in a distributed loop,
                each rank reports the candidates it evaluated itself).

        Returns:
            list: the records of this batch (empty when the strategy is done).
        """
        genotypes = self.strategy.ask()
        if not genotypes:
            if not self.strategy.done and not self.strategy.pending:
                raise RuntimeError(f'{type(self.strategy).__name__} asked nothing and is not done')
            return []
        todo = [g for g in genotypes if self.strategy.key(g) not in self._cache]
        t0 = time.time()
        clock = {'t': t0}

        def report(i, result):
            now = time.time()
            self._record(todo[i], result, now - clock['t'])
            clock['t'] = now

        fresh = evaluate_batch(todo, report) if todo else []
        if len(fresh) != len(todo):
            raise RuntimeError(f'evaluate_batch returned {len(fresh)} results for {len(todo)} '
                               'genotypes')
        wall = (time.time() - t0) / max(len(todo), 1)
        for g, res in zip(todo, fresh):  # the gathered results of every rank
            self._record(g, res, wall, write=False)
        records = []
        for g in genotypes:
            rec = self._cache[self.strategy.key(g)]
            self.strategy.tell(g, float(rec['reward']))
            self.trials.append(rec)
            records.append(rec)
        self.batch_index += 1
        self.save()
        self._progress(records)
        return records

    def run(self, evaluate_batch: Callable, on_batch: Callable | None = None):
        """Step until the strategy is done; returns ``strategy.best()``.

        ``evaluate_batch`` is as for :meth:`step`; see :meth:`run_objective` for a plain
        per-genotype objective."""
        while not self.strategy.done:
            recs = self.step(evaluate_batch)
            if not recs:
                break
            if on_batch is not None:
                on_batch(self, recs)
        return self.strategy.best()

    def run_objective(self, objective: Callable, on_batch: Callable | None = None):
        """:meth:`run` with ``objective(genotype) -> Result | float | dict``, one at a time."""
        def evaluate_batch(genotypes, report):
            out = []
            for i, g in enumerate(genotypes):
                out.append(objective(g))
                report(i, out[-1])
            return out
        return self.run(evaluate_batch, on_batch)

    def _progress(self, records: list) -> None:
        best = self.strategy.best()
        finite = [float(r['reward']) for r in records if not r['failed']]
        n = len(self.trials)
        total = self.strategy.max_trials
        elapsed = time.time() - self.t_start
        eta = ''
        if total:
            evaluated_now = max(n - self._n_at_start, 1)
            eta = f', ETA {max(total - n, 0) * elapsed / evaluated_now:.0f}s'
        self.log(f'[search] batch {self.batch_index}: {len(records)} candidates, '
                 f'mean {sum(finite) / len(finite) if finite else float("nan"):.4g}, '
                 f'failed {len(records) - len(finite)}; trials {n}'
                 f'{"/" + str(total) if total else ""}; best {best[1] if best else float("nan"):.4g}'
                 f'{eta}')
