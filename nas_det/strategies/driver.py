"""The search driver: ask, evaluate, tell, log and save, resumably.

Free of mmengine and torch (torch is imported only to save and load a neural strategy's
tensors), so a user can search their own space with their own objective in a few lines::

    from nas_det.strategies.driver import SearchDriver
    driver = SearchDriver(space, dict(type='RegularizedEvolution', population=20),
                          work_dir='work_dirs/my_search', seed=0, max_trials=200)
    best = driver.run_objective(objective)   # objective(genotype) -> reward

State under ``work_dir`` (DESIGN.md):

* ``trials.jsonl``: one line per evaluated candidate, appended as soon as it is known
  (genotype dict and canonical string, reward, metrics, cost, wall time, batch index,
  and a CRC-32 of the record, so a damaged line is recognised and skipped).
* ``search_state.json``: strategy state, the strategy's settings and a generation
  counter, with a SHA-256 of its own content; written atomically (temp file + rename)
  after each batch is told, once ``trials.jsonl`` is on disk (fsync). A neural
  strategy's tensors go first to ``search_state.pt`` (loaded with ``weights_only=True``),
  which carries the same generation; the JSON also holds the tensor file's SHA-256, so a
  kill between the two writes is detected.
* ``best_genotype.json``: the best genotype so far with its reward.
* ``.lock``: held (``flock``) by the search that writes the work dir, with its pid; a
  second search into the same work dir is refused. A lock file left by a dead process
  does not block (the kernel drops the lock with the process).

A killed search started again resumes from ``search_state.json``; the candidates it
re-asks (the strategies are deterministic) that ``trials.jsonl`` already holds are not
evaluated again, so the search ends with the same trials and best genotype as an
uninterrupted one. When the state is missing, damaged, or refers to trials the log does
not hold, the search is rebuilt from ``trials.jsonl`` alone: a fresh strategy with the
same seed is told the logged results in the order it asks for them. A changed strategy
setting is refused (the key is named): resume with the same settings or use another
work dir.
"""
from __future__ import annotations

import copy
import hashlib
import inspect
import io
import json
import math
import os
import os.path as osp
import time
import traceback
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Callable

from ..space.base import SearchSpace
from .base import STRATEGIES, Strategy, build_strategy, is_failure

try:
    import fcntl
except ImportError:  # not POSIX: no work dir lock
    fcntl = None

STATE_FILE = 'search_state.json'
TENSOR_FILE = 'search_state.pt'
TRIALS_FILE = 'trials.jsonl'
BEST_FILE = 'best_genotype.json'
LOCK_FILE = '.lock'
STATE_FORMAT = 2
ON_ERROR = ('record', 'raise')


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


def _plain(x):
    """``x`` as it reads back from JSON (tuples become lists, odd objects strings)."""
    return json.loads(json.dumps(x, default=str))


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: str, data) -> None:
    """Write ``data`` (str or bytes) to ``path`` through a temp file of this process and
    a rename: a reader sees the old or the new file, never a part of one."""
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'wb') as f:
        f.write(data.encode() if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(osp.dirname(path) or '.')


def _append_line(path: str, line: str) -> None:
    """Append one line with a single write (``O_APPEND``)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _fsync_file(path: str) -> None:
    if osp.isfile(path):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _sha256(data) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


# ---- trial log ----------------------------------------------------------------------
def record_crc(rec: dict) -> str:
    """CRC-32 of a trial record (without its ``crc`` field), as it reads back from JSON."""
    body = json.dumps({k: v for k, v in rec.items() if k != 'crc'}, sort_keys=True)
    return format(zlib.crc32(body.encode()), '08x')


def _parse_record(line: str):
    """The record of one line, or None when the line is damaged."""
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    if not isinstance(rec, dict):
        return None
    if 'crc' in rec and rec['crc'] != record_crc(rec):
        return None
    return rec


def read_trials_file(path: str, warn: Callable | None = None) -> list:
    """The records of one trials file (``[]`` when there is none).

    A torn last line (from a kill) is ignored quietly; any other damaged line (not a JSON
    object, or failing its CRC) is skipped with a one-line warning through ``warn``
    (default: :func:`warnings.warn`), and the lines after it are still read."""
    out = []
    if not osp.isfile(path):
        return out
    with open(path, 'rb') as f:
        data = f.read()
    lines = data.split(b'\n')
    torn_tail = lines.pop()  # b'' when the file ends with a newline
    for i, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        rec = _parse_record(raw.decode('utf-8', errors='replace'))
        if rec is None:
            msg = (f'{path}: line {i} is damaged (not a JSON record, or its crc does not '
                   'match); skipped, the lines after it are read')
            if warn is None:
                warnings.warn(msg, stacklevel=2)
            else:
                warn(f'[search] {msg}')
            continue
        out.append(rec)
    if torn_tail.strip():
        rec = _parse_record(torn_tail.decode('utf-8', errors='replace'))
        if rec is not None:  # complete but for its newline
            out.append(rec)
    return out


def read_trials(work_dir: str, partial: bool = False, warn: Callable | None = None) -> list:
    """The records of ``trials.jsonl`` (see :func:`read_trials_file`); with ``partial``,
    also those other ranks logged before a stop (``trials.rank*.jsonl``)."""
    import glob
    paths = [osp.join(work_dir, TRIALS_FILE)]
    if partial:
        paths += sorted(glob.glob(osp.join(work_dir, 'trials.rank*.jsonl')))
    return [rec for path in paths for rec in read_trials_file(path, warn)]


def repair_trials_tail(path: str) -> str | None:
    """End ``path`` with a newline so the next record starts a line of its own: a torn
    last line (a kill in the middle of a write) is cut off, a complete one kept. Returns
    what was done (None when nothing was needed)."""
    if not osp.isfile(path) or osp.getsize(path) == 0:
        return None
    with open(path, 'rb+') as f:
        data = f.read()
        if data.endswith(b'\n'):
            return None
        cut = data.rfind(b'\n') + 1
        tail = data[cut:]
        if _parse_record(tail.decode('utf-8', errors='replace')) is not None:
            f.write(b'\n')
            return None
        f.truncate(cut)
        f.flush()
        os.fsync(f.fileno())
    return f'{path}: cut a torn last line ({len(tail)} bytes) left by a stop'


# ---- work dir lock ------------------------------------------------------------------
class WorkDirBusy(ValueError):
    """Another live process holds the work dir's lock."""


class WorkDirLock:
    """An exclusive ``flock`` on ``<work_dir>/.lock`` holding this process's pid.

    Re-entrant within a process (a second acquire of the same work dir only counts);
    released when the last holder releases it, or by the kernel when the process dies,
    so a lock file left behind by a killed search blocks nothing."""

    _held: dict = {}  # real path -> [fd, count]

    def __init__(self, work_dir: str):
        self.work_dir = work_dir
        self.path = osp.realpath(osp.join(work_dir, LOCK_FILE))
        self.acquired = False

    def acquire(self) -> 'WorkDirLock':
        if self.acquired or fcntl is None:
            return self
        held = WorkDirLock._held.get(self.path)
        if held is not None:
            held[1] += 1
            self.acquired = True
            return self
        os.makedirs(osp.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode(errors='replace').strip() or 'unknown'
            os.close(fd)
            raise WorkDirBusy(
                f'{self.work_dir} is in use by another search (pid {holder}, lock '
                f'{self.path}): wait for it to end, or choose another --work-dir') from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f'{os.getpid()}\n'.encode(), 0)
        WorkDirLock._held[self.path] = [fd, 1]
        self.acquired = True
        return self

    def release(self) -> None:
        if not self.acquired:
            return
        self.acquired = False
        held = WorkDirLock._held.get(self.path)
        if held is None:
            return
        held[1] -= 1
        if held[1] == 0:
            del WorkDirLock._held[self.path]
            os.close(held[0])  # drops the flock; the file stays (removing it would race)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


class _Damaged(Exception):
    """The saved state cannot be used; the reason says why (rebuilt from the log)."""


def strategy_settings(cfg, seed, constraint=None) -> dict | None:
    """The settings of a strategy config that a resume must not change: every argument
    of the strategy's class (defaults filled in) but ``max_trials`` (a budget may grow),
    the seed, and the constraint's name."""
    if not isinstance(cfg, dict) or cfg.get('type') not in STRATEGIES:
        return None
    cfg = dict(cfg)
    cls = STRATEGIES[cfg['type']]
    out = {}
    for klass in cls.__mro__:
        if klass is object or '__init__' not in vars(klass):
            continue
        for name, p in inspect.signature(klass.__init__).parameters.items():
            if p.default is not inspect.Parameter.empty:
                out.setdefault(name, p.default)
    out.update(cfg)
    out['type'] = cls.__name__
    if seed is not None:
        out['seed'] = seed
    for k in ('max_trials', 'constraint', 'kwargs'):
        out.pop(k, None)
    out['constraint'] = None if constraint is None else \
        getattr(constraint, '__qualname__', None) or repr(constraint)
    return _plain(out)


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
        rank (int): this process's rank; rank 0 writes the state files (and holds the
            work dir's lock), the others only log what they evaluated to
            ``trials.rank{rank}.jsonl``. Defaults to 0.
        log (callable): progress printer. Defaults to ``print``.
        on_error (str): what an objective (or evaluator) that raises does: ``'record'``
            logs the traceback and records the candidate as a failed trial (NaN reward,
            ``metrics['error']``), and the search goes on; ``'raise'`` ends the search.
            Defaults to 'record'.
    """

    def __init__(self, space: SearchSpace, strategy, work_dir: str | None = None,
                 seed: int = 0, max_trials: int | None = None, constraint: Callable | None = None,
                 resume: bool = True, rank: int = 0, log: Callable = print,
                 on_error: str = 'record'):
        if on_error not in ON_ERROR:
            raise ValueError(f'on_error: {on_error!r} is not allowed; allowed values: '
                             f'{list(ON_ERROR)}')
        self.space = space
        self.on_error = on_error
        if isinstance(strategy, Strategy):
            self.strategy = strategy
            self.settings = None
            try:  # a pristine copy, to rebuild the search from the log
                pristine = copy.deepcopy(strategy)
            except Exception:  # noqa: BLE001  (an instance that does not copy)
                pristine = None
            self._fresh = None if pristine is None else (lambda: copy.deepcopy(pristine))
        else:
            extra = {'constraint': constraint} if constraint else {}

            def fresh():
                return build_strategy(strategy, space, seed=seed, max_trials=max_trials, **extra)
            self.strategy = fresh()
            self._fresh = fresh
            self.settings = strategy_settings(strategy, seed, constraint)
        self.work_dir = work_dir
        self.rank = rank
        self.is_main = rank == 0
        self.log = log
        self.batch_index = 0
        self.generation = 0
        self.trials: list = []        # records of this search, in tell order
        self._cache: dict = {}        # key -> record, from trials.jsonl (resume)
        self._asked = None            # a batch asked while rebuilding, not yet evaluated
        self.t_start = time.time()
        self.lock = None
        if work_dir and self.is_main:
            os.makedirs(work_dir, exist_ok=True)
            self.lock = WorkDirLock(work_dir).acquire()
        if work_dir and resume:
            try:
                self._resume()
            except BaseException:
                self.close()  # a refused resume leaves the work dir free
                raise
        self._n_at_start = len(self.trials)

    def close(self) -> None:
        """Release the work dir's lock (also done when :meth:`run` ends)."""
        if self.lock is not None:
            self.lock.release()

    # ---- state --------------------------------------------------------------
    def _resume(self) -> None:
        trials_path = osp.join(self.work_dir, TRIALS_FILE)
        if self.is_main:
            fixed = repair_trials_tail(trials_path)
            if fixed:
                self.log(f'[search] {fixed}')
        for rec in read_trials(self.work_dir, partial=True, warn=self.log):
            if isinstance(rec.get('key'), str) and 'reward' in rec:
                self._cache.setdefault(rec['key'], rec)
        path = osp.join(self.work_dir, STATE_FILE)
        if not osp.isfile(path):
            if self._cache:
                self._rebuild(f'{path} is missing')
            return
        try:
            strategy, state = self._load_state(path)
        except _Damaged as e:
            self._rebuild(f'{path} {e}')
            return
        self.strategy = strategy
        self.batch_index = state['batch_index']
        self.generation = state.get('generation', 0)
        self.trials = [self._cache[k] for k, _ in self.strategy.history]
        self._write_best()  # a stop may have come between the state and the best file
        self.log(f'[search] resumed from {path}: {len(self.trials)} trials told, '
                 f'{len(self._cache) - len(self.trials)} more evaluated before the stop')

    def _load_state(self, path: str):
        """``(strategy, state)`` from the state files; ``_Damaged`` when they cannot be
        used, ``ValueError`` when they belong to another search."""
        try:
            with open(path, 'rb') as f:
                raw = f.read()
        except OSError as e:
            raise _Damaged(f'cannot be read ({e.strerror})') from None
        if not raw.strip():
            raise _Damaged('is empty')
        try:
            state = json.loads(raw.decode('utf-8'))
        except ValueError:
            raise _Damaged('is not valid JSON') from None
        if not isinstance(state, dict):
            raise _Damaged(f'holds a JSON {type(state).__name__}, not a search state')
        if 'format' in state or 'checksum' in state:
            body = {k: v for k, v in state.items() if k != 'checksum'}
            if state.get('checksum') != _sha256(json.dumps(body, sort_keys=True)):
                raise _Damaged('fails its checksum (the file is damaged)')
        if state.get('space') != self.space.name:
            raise ValueError(f'{path}: the saved search is over space {state.get("space")!r}, '
                             f'this config searches {self.space.name!r}; use another work dir')
        if 'space_config' in state and 'format' in state \
                and state['space_config'] != _plain(self.space.config()):
            raise ValueError(f'{path}: space: the saved search is over {state["space_config"]}, '
                             f'this config searches {_plain(self.space.config())}; resume with '
                             'the same space, or use another work dir')
        saved = state.get('settings')
        if isinstance(saved, dict) and self.settings is not None:
            for k in sorted(set(saved) | set(self.settings)):
                old, new = saved.get(k, '<unset>'), self.settings.get(k, '<unset>')
                if old != new:
                    raise ValueError(
                        f'{path}: strategy.{k}: the saved search ran with {old!r}, this run '
                        f'sets {new!r}; resume with the same setting, or use another work dir')
        try:
            sstate = dict(state['strategy'])
            batch_index = int(state['batch_index'])
            if sstate.pop('has_tensors', False):
                sstate['tensors'] = self._load_tensors(state)
            strategy = self._fresh() if self._fresh is not None else self.strategy
            strategy.load_state_dict(sstate)
        except _Damaged:
            raise
        except Exception as e:  # noqa: BLE001  (any damage the checksum did not cover)
            raise _Damaged(f'cannot be loaded ({type(e).__name__}: {e})') from None
        missing = [k for k, _ in strategy.history if k not in self._cache]
        if missing:
            raise _Damaged(f'refers to {len(missing)} trial(s) that {TRIALS_FILE} does not '
                           f'hold (e.g. {missing[0]})')
        return strategy, dict(state, batch_index=batch_index)

    def _load_tensors(self, state: dict) -> dict:
        import torch
        path = osp.join(self.work_dir, TENSOR_FILE)
        try:
            with open(path, 'rb') as f:
                data = f.read()
        except OSError:
            raise _Damaged(f'needs {path}, which cannot be read') from None
        if 'tensor_sha256' in state and _sha256(data) != state['tensor_sha256']:
            raise _Damaged(f'does not match {path} (a stop between the two writes, or '
                           'a damaged file)')
        try:
            tensors = torch.load(io.BytesIO(data), weights_only=True)
        except Exception as e:  # noqa: BLE001
            raise _Damaged(f'needs {path}, which does not load ({type(e).__name__})') from None
        if not isinstance(tensors, dict):
            raise _Damaged(f'needs {path}, which holds no tensor dict')
        gen = tensors.pop('_generation', None)
        if 'generation' in state and gen != state['generation']:
            raise _Damaged(f'is generation {state["generation"]}, {path} is {gen}')
        return tensors

    def _rebuild(self, reason: str) -> None:
        """Tell a fresh strategy the logged results, batch by batch in the order it asks
        for them, as far as the log goes (the driver's tells are in ask order)."""
        trials_path = osp.join(self.work_dir, TRIALS_FILE)
        if self._fresh is None:
            raise ValueError(f'{reason}; the search cannot be rebuilt from {trials_path} '
                             'with a strategy instance that does not copy: pass a strategy '
                             'config, or use another work dir')
        self.strategy = self._fresh()
        self.batch_index, self.trials = 0, []
        while not self.strategy.done:
            batch = self.strategy.ask()
            if not batch:
                break
            if any(self.strategy.key(g) not in self._cache for g in batch):
                self._asked = batch
                break
            for g in batch:
                rec = self._cache[self.strategy.key(g)]
                self.strategy.tell(g, float(rec['reward']))
                self.trials.append(rec)
            self.batch_index += 1
        self.log(f'[search] {reason}: rebuilt the search from {trials_path} alone: '
                 f'{len(self.trials)} logged trials told again, '
                 f'{len(self._cache) - len(self.trials)} more kept for the next batches')
        if self._asked is None:
            self.save()

    def save(self) -> None:
        if not (self.work_dir and self.is_main):
            return
        _fsync_file(osp.join(self.work_dir, TRIALS_FILE))  # the log first: the state refers to it
        self.generation += 1
        sstate = self.strategy.state_dict()
        tensors = sstate.pop('tensors', None)
        state = {'format': STATE_FORMAT, 'generation': self.generation,
                 'space': self.space.name, 'space_config': _plain(self.space.config()),
                 'settings': self.settings, 'batch_index': self.batch_index}
        if tensors is not None:
            import torch
            buf = io.BytesIO()
            torch.save(dict(tensors, _generation=self.generation), buf)
            data = buf.getvalue()
            _atomic_write(osp.join(self.work_dir, TENSOR_FILE), data)
            sstate['has_tensors'] = True
            state['tensor_sha256'] = _sha256(data)
        state['strategy'] = sstate
        state = _plain(state)
        state['checksum'] = _sha256(json.dumps(state, sort_keys=True))
        _atomic_write(osp.join(self.work_dir, STATE_FILE), json.dumps(state))
        self._write_best()

    def _write_best(self) -> None:
        if not (self.work_dir and self.is_main):
            return
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
        rec = _plain({'batch': self.batch_index, 'key': key,
                      'genotype': self.strategy.genotype_to_dict(genotype),
                      'reward': _json_float(res.reward), 'failed': is_failure(res.reward),
                      'metrics': res.metrics, 'cost': res.cost, 'wall_time': round(wall, 3)})
        rec['crc'] = record_crc(rec)
        if self.work_dir and (write or self.is_main):
            name = TRIALS_FILE if self.is_main else f'trials.rank{self.rank}.jsonl'
            if self.is_main or osp.isdir(self.work_dir):
                _append_line(osp.join(self.work_dir, name), json.dumps(rec) + '\n')
        self._cache[key] = rec
        return rec

    def call(self, fn: Callable, genotype):
        """``fn(genotype)``; with ``on_error='record'`` an exception is logged with its
        traceback and becomes a failed result (NaN reward, ``metrics['error']``)."""
        try:
            return fn(genotype)
        except Exception as e:  # noqa: BLE001  (a failed candidate, not a failed search)
            if self.on_error == 'raise':
                raise
            self.log(f'[search] {genotype}: the evaluation raised {type(e).__name__}: {e}; '
                     f'recorded as a failed trial (on_error=\'raise\' stops instead)\n'
                     f'{traceback.format_exc()}')
            return Result(float('nan'), {'error': f'{type(e).__name__}: {e}'})

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
        genotypes, self._asked = (self._asked, None) if self._asked is not None \
            else (self.strategy.ask(), None)
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
        """Step until the strategy is done; returns ``strategy.best()``; releases the work
        dir's lock when it ends.

        ``evaluate_batch`` is as for :meth:`step`; see :meth:`run_objective` for a plain
        per-genotype objective."""
        try:
            while not self.strategy.done:
                recs = self.step(evaluate_batch)
                if not recs:
                    break
                if on_batch is not None:
                    on_batch(self, recs)
        finally:
            self.close()
        return self.strategy.best()

    def run_objective(self, objective: Callable, on_batch: Callable | None = None):
        """:meth:`run` with ``objective(genotype) -> Result | float | dict``, one at a time
        (an objective that raises: see ``on_error``)."""
        def evaluate_batch(genotypes, report):
            out = []
            for i, g in enumerate(genotypes):
                out.append(self.call(objective, g))
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
