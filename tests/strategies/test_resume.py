"""Searches that survive anything: kills at any point, damaged state files and trial
logs, a second search into the same work dir, changed settings, objectives that raise."""
import json
import os
import os.path as osp
import random
import subprocess
import sys
import time

import pytest

from nas_det.strategies import driver as drv
from nas_det.strategies.driver import (BEST_FILE, STATE_FILE, TENSOR_FILE, TRIALS_FILE, SearchDriver,
                                   WorkDirLock, read_trials, read_trials_file)
from nas_det.space import ChoiceSpace

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
KEYS = [f'x{i}' for i in range(6)]
SPACE = ChoiceSpace({k: [0, 1, 2, 3] for k in KEYS}, blocks=[KEYS[i:i + 2] for i in (0, 2, 4)])
TARGET = [3, 1, 0, 2, 2, 1]
GA = dict(type='GeneticAlgorithm', population=6, top_k=2, num_mutation=2, num_crossover=2,
          generations=5)
REINFORCE = dict(type='ReinforceController', batch_size=5, hidden_size=16, lr=0.05)
PNAS = dict(type='ProgressiveSMBO', beam=4, epochs=5, max_candidates=40)
STRATEGIES = {
    'random': dict(type='RandomSearch', batch_size=4),
    'evolution': dict(type='RegularizedEvolution', population=6, sample_size=2, batch_size=3),
    'ga': GA, 'reinforce': REINFORCE, 'pnas': PNAS}


def objective(g):
    v = [g[k] for k in KEYS]
    return sum(a == b for a, b in zip(v, TARGET)) - 0.01 * sum(abs(a - b) for a, b in zip(v, TARGET))


class Counting:
    def __init__(self):
        self.keys = []

    def __call__(self, g):
        self.keys.append(SPACE.key(g))
        return objective(g)


def quiet(*_):
    pass


def search(wd, cfg=GA, fn=objective, log=quiet, **kw):
    d = SearchDriver(SPACE, cfg, work_dir=str(wd), seed=5, max_trials=30, log=log, **kw)
    best = d.run_objective(fn)
    return d, best


class Stop(BaseException):
    pass


def stopped_after(wd, batches, cfg=GA):
    """A search in ``wd`` stopped after ``batches`` batches (its files as a kill leaves them
    between two batches)."""
    def on_batch(d, recs):
        if d.batch_index >= batches:
            raise Stop
    d = SearchDriver(SPACE, cfg, work_dir=str(wd), seed=5, max_trials=30, log=quiet)
    with pytest.raises(Stop):
        d.run_objective(objective, on_batch=on_batch)


def told(d):
    return [(t['key'], t['reward']) for t in d.trials]


# ---- kill anywhere ------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize('name', list(STRATEGIES))
def test_kill_anywhere_resumes_to_the_uninterrupted_search(name, tmp_path):
    """Many runs, each killed (os._exit, nothing flushed) up to 3 times at a random
    event: an objective call, a trial-log write (torn line), an fsync, before or after
    each rename (between the tensor and JSON state of a neural strategy too), or by
    SIGKILL at a random time; every run ends with the trials, tell order and best of the
    uninterrupted run."""
    neural = name in ('reinforce', 'pnas')
    runs = 8 if neural else 20
    args = dict(strategy=STRATEGIES[name], runs=runs, kills=3, seed=11, out=str(tmp_path),
                timed_runs=2)
    p = subprocess.run([sys.executable, osp.join(ROOT, 'tests', 'strategies', 'kill_worker.py'), json.dumps(args)],
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout)
    ref = out['ref']
    assert len(ref['trials']) == 30 and len({t['key'] for t in ref['trials']}) == 30
    kills = [k for r in out['runs'] for k in r['kills'] if k != 'none']
    assert len(kills) >= runs  # at least one kill per run, most runs three
    for r in out['runs']:
        assert r['trials'] == ref['trials'], r['kills']
        assert r['told'] == ref['told'], r['kills']
        assert r['best'] == ref['best'] and r['best_file'] == ref['best_file'], r['kills']
    print(f'{name}: {len(out["runs"])} runs, {len(kills)} kills, all identical')


# ---- damaged state --------------------------------------------------------------------
@pytest.mark.parametrize('damage', ['random', 'empty', 'list', 'truncated', 'missing'])
def test_damaged_state_is_rebuilt_from_the_trial_log(tmp_path, damage):
    ref, best_ref = search(tmp_path / 'ref')
    wd = tmp_path / 'cut'
    stopped_after(wd, 2)
    path = wd / STATE_FILE
    raw = path.read_bytes()
    path.write_bytes({'random': random.Random(0).randbytes(200), 'empty': b'', 'list': b'[]',
                      'truncated': raw[:len(raw) // 2], 'missing': b''}[damage])
    if damage == 'missing':
        path.unlink()
    lines, calls = [], Counting()
    d, best = search(wd, fn=calls, log=lines.append)
    assert told(d) == told(ref) and best == best_ref
    assert not set(calls.keys) & {t['key'] for t in read_trials(str(tmp_path / 'ref'))[:12]}
    assert len(calls.keys) == 30 - 12  # the 2 logged generations are not evaluated again
    note = [ln for ln in lines if 'rebuilt the search' in ln]
    assert len(note) == 1 and str(path) in note[0] and '\n' not in note[0]


def test_state_ahead_of_the_log_is_rebuilt(tmp_path):
    """A record the state refers to is gone from the log (was: KeyError forever)."""
    ref, _ = search(tmp_path / 'ref')
    wd = tmp_path / 'cut'
    stopped_after(wd, 2)
    lines = (wd / TRIALS_FILE).read_text().splitlines(keepends=True)
    (wd / TRIALS_FILE).write_text(''.join(lines[:-3]))  # lost with the page cache
    msgs, calls = [], Counting()
    d, _ = search(wd, fn=calls, log=msgs.append)
    assert told(d) == told(ref) and len(calls.keys) == 30 - 9
    assert any('does not hold' in m and 'rebuilt' in m for m in msgs)


@pytest.mark.parametrize('cfg', [REINFORCE, PNAS], ids=['reinforce', 'pnas'])
def test_split_tensor_and_json_state_is_detected(tmp_path, cfg):
    """The tensor file a batch ahead of the JSON (a kill between the two writes): the
    generation check catches it and the search ends as an uninterrupted one."""
    ref, best_ref = search(tmp_path / 'ref', cfg)
    wd = tmp_path / 'cut'
    stopped_after(wd, 2, cfg)
    old_json = (wd / STATE_FILE).read_bytes()
    stopped_after(wd, 3, cfg)  # resumes, then writes batch 3
    (wd / STATE_FILE).write_bytes(old_json)  # as if killed before the JSON rename
    msgs = []
    d, best = search(wd, cfg, log=msgs.append)
    assert told(d) == told(ref) and best == best_ref
    assert any(TENSOR_FILE in m and 'rebuilt' in m for m in msgs), msgs


def test_torn_line_in_the_middle_skips_only_that_line(tmp_path):
    ref, _ = search(tmp_path / 'ref')
    wd = tmp_path / 'cut'
    stopped_after(wd, 3)
    lines = (wd / TRIALS_FILE).read_text().splitlines(keepends=True)
    lost = json.loads(lines[4])['key']
    lines[4] = lines[4][:40] + '\n'
    (wd / TRIALS_FILE).write_text(''.join(lines))
    warned = []
    recs = read_trials_file(str(wd / TRIALS_FILE), warn=warned.append)
    assert len(recs) == len(lines) - 1 and len(warned) == 1 and 'line 5' in warned[0]
    calls = Counting()
    d, _ = search(wd, fn=calls)
    assert told(d) == told(ref) and calls.keys[0] == lost  # only the torn one again


def test_changed_strategy_setting_is_refused(tmp_path):
    stopped_after(tmp_path, 1)
    with pytest.raises(ValueError, match=r'strategy\.population: the saved search ran with 6, '
                                         r'this run sets 8'):
        SearchDriver(SPACE, dict(GA, population=8), work_dir=str(tmp_path), seed=5, log=quiet)
    with pytest.raises(ValueError, match=r'strategy\.seed'):
        SearchDriver(SPACE, GA, work_dir=str(tmp_path), seed=6, log=quiet)
    # a larger budget is not a changed strategy
    d = SearchDriver(SPACE, GA, work_dir=str(tmp_path), seed=5, max_trials=36, log=quiet)
    assert d.strategy.num_told == 6


# ---- fuzz ---------------------------------------------------------------------------
def _fuzz(data: bytes, rng: random.Random) -> bytes:
    mode = rng.choice(['truncate', 'bytes', 'insert'])
    if not data or mode == 'truncate':
        return data[:rng.randrange(len(data) + 1)]
    i = rng.randrange(len(data))
    junk = rng.randbytes(rng.randint(1, 8))
    return data[:i] + junk + data[i + (len(junk) if mode == 'bytes' else 0):]


@pytest.mark.parametrize('cfg', [GA, REINFORCE], ids=['ga', 'reinforce'])
def test_fuzzed_state_and_trial_log_never_lose_a_result(tmp_path, cfg):
    """Random truncation and random bytes in the state files and the trial log: the
    search always resumes (no traceback), evaluates again only the candidates whose log
    line was damaged, and ends as the uninterrupted search."""
    ref, best_ref = search(tmp_path / 'ref', cfg)
    rng = random.Random(0)
    base = tmp_path / 'base'
    stopped_after(base, 3, cfg)
    files = [STATE_FILE, TRIALS_FILE] + ([TENSOR_FILE] if cfg is REINFORCE else [])
    cases = 24 if cfg is GA else 10
    for case in range(cases):
        wd = tmp_path / f'fuzz{case}'
        wd.mkdir()
        for f in os.listdir(base):
            (wd / f).write_bytes((base / f).read_bytes())
        for f in rng.sample(files, rng.randint(1, len(files))):
            (wd / f).write_bytes(_fuzz((wd / f).read_bytes(), rng))
        intact = {r['key'] for r in read_trials_file(str(wd / TRIALS_FILE), warn=quiet)}
        calls = Counting()
        d, best = search(wd, cfg, fn=calls)
        assert told(d) == told(ref) and best == best_ref, case
        assert not set(calls.keys) & intact, case  # no logged result is evaluated again
        assert len(calls.keys) == 30 - len(intact), case
        with open(wd / BEST_FILE) as f:
            assert json.load(f)['key'] == SPACE.key(best_ref[0])


# ---- lock -------------------------------------------------------------------------------
HOLD = '''
import sys, time, types
sys.path.insert(0, {root!r})
m = types.ModuleType('nas_det'); m.__path__ = [{root!r} + '/nas_det']; sys.modules['nas_det'] = m
from nas_det.strategies.driver import WorkDirLock
WorkDirLock(sys.argv[1]).acquire()
print('held', flush=True)
time.sleep(60)
'''


@pytest.mark.slow
def test_second_search_into_a_work_dir_is_refused_with_the_holders_pid(tmp_path):
    wd = str(tmp_path)
    p = subprocess.Popen([sys.executable, '-c', HOLD.format(root=ROOT), wd],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == 'held'
        with pytest.raises(drv.WorkDirBusy, match=rf'in use by another search \(pid {p.pid}'):
            SearchDriver(SPACE, GA, work_dir=wd, log=quiet)
        assert not osp.exists(osp.join(wd, TRIALS_FILE))  # refused before writing anything
    finally:
        p.kill()
        p.wait()
    # the holder died: its lock file (with its pid) is left behind and blocks nothing
    assert open(osp.join(wd, '.lock')).read().strip() == str(p.pid)
    d, best = search(wd)
    assert len(d.trials) == 30 and best is not None
    with WorkDirLock(wd):  # re-entrant in one process; released at the end of a run
        with WorkDirLock(wd):
            pass


# ---- objectives that raise ---------------------------------------------------------------
def test_an_objective_that_raises_is_a_failed_trial(tmp_path):
    def flaky(g):
        if g['x0'] == 0:
            raise RuntimeError(f'child {SPACE.key(g)} diverged')
        return objective(g)
    msgs = []
    d, best = search(tmp_path, fn=flaky, log=msgs.append)
    trials = read_trials(str(tmp_path))
    failed = [t for t in trials if t['failed']]
    assert len(trials) == 30 and failed and best is not None and best[0]['x0'] != 0
    assert all(t['reward'] == 'nan' and 'RuntimeError: child' in t['metrics']['error']
               for t in failed)
    assert sum('Traceback' in m and 'diverged' in m for m in msgs) == len(failed)
    # a resume does not evaluate (nor raise at) the failed candidates again
    calls = Counting()
    d2, best2 = search(tmp_path, fn=calls)
    assert calls.keys == [] and best2 == best
    # on_error='raise' keeps the old behaviour
    with pytest.raises(RuntimeError, match='diverged'):
        search(tmp_path / 'strict', fn=flaky, on_error='raise')
    with pytest.raises(ValueError, match=r"on_error: 'skip' is not allowed; allowed values: "
                                         r"\['record', 'raise'\]"):
        SearchDriver(SPACE, GA, on_error='skip')



# ---- phases: reruns and the whole config checked first ---------------------------------
SEARCH_DIGITS = osp.join(ROOT, 'configs/detnas/retinanet_detnas-shufflenet-300M_search_digits.py')


def test_rerun_of_a_finished_or_started_train_phase_is_refused(tmp_path):
    from mmengine.config import Config
    from nas_det.engine.launch.phases import PhaseContext, run_phases
    cfg = Config(dict(phases=['train'], model=dict(type='NoSuchModel')))
    (tmp_path / 'phase_done.json').write_text('{"checkpoint": "iter_2.pth"}')
    with pytest.raises(ValueError, match=r"already holds a finished 'train' phase .*"
                                         r"continue it with --resume, or choose another --work-dir"):
        run_phases(cfg, PhaseContext(work_dir=str(tmp_path)))
    (tmp_path / 'phase_done.json').unlink()
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_1.pth'))
    with pytest.raises(ValueError, match="already holds a started 'train' phase"):
        run_phases(cfg, PhaseContext(work_dir=str(tmp_path)))


@pytest.mark.parametrize('option, message', [
    ('search_cfg.strategy.population=-3', r"phase 'search': train_cfg\.strategy\.population: "
                                          r"an integer >= 1 is expected, got -3"),
    ('search_cfg.max_flops=abc', r"phase 'search': train_cfg\.max_flops: a positive number"),
    ('search_cfg.strategy.type=Foo', r"phase 'search': train_cfg\.strategy\.type: 'Foo' is not "
                                     r"allowed; allowed values: \[.*'GeneticAlgorithm'"),
    ('search_cfg.evaluator.type=Bar', r"train_cfg\.evaluator\.type: 'Bar' is not allowed"),
    ('search_cfg.evaluator.bn_batchs=4', r"train_cfg\.evaluator\.bn_batchs: not a setting of "
                                         r"SupernetEvaluator"),
    ('search_cfg.max_trails=4', r"train_cfg\.max_trails: not a setting of SearchLoop"),
])
def test_search_settings_fail_before_the_train_phase(tmp_path, option, message):
    """A bad search setting of a train -> search -> export config fails in seconds, before
    the supernet trains (nothing is written in the work dir)."""
    import nas_det  # noqa: F401  (registries)
    from nas_det.engine.launch import load_config, parse_args
    from nas_det.engine.launch.phases import PhaseContext, run_phases
    args = parse_args([SEARCH_DIGITS, '--work-dir', str(tmp_path / 'w'), '--cfg-options', option])
    cfg = load_config(args)
    t0 = time.time()
    with pytest.raises(ValueError, match=message):
        run_phases(cfg, PhaseContext(work_dir=cfg.work_dir))
    assert time.time() - t0 < 60
    assert not osp.exists(tmp_path / 'w' / 'train')
