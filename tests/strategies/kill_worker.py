"""Kill-anywhere worker for tests/strategies/test_resume.py (run as a script, one per strategy).

It imports the search driver and the strategies once, then runs each "life" of a search
in a forked child that dies with ``os._exit`` at a chosen event (nothing is flushed or
cleaned up, as with SIGKILL): an objective call, a trial-log append (cut in the middle
of its line), an ``fsync``, or just before / after an ``os.replace`` (e.g. between the
tensor file and the JSON state of a neural strategy). A few lives are also SIGKILLed
by the parent at a random time. Each run is lives with random kills until one
finishes; the trials and best of every run are printed as JSON beside those of an
uninterrupted run, for the test to compare.

Usage: ``python tests/strategies/kill_worker.py '<json: strategy, runs, kills, seed, out>'``.
"""
import json
import os
import os.path as osp
import random
import signal
import sys
import time
import types

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
# the pure pieces only: skip nas_det/__init__ (mmengine, mmdet)
_m = types.ModuleType('nas_det')
_m.__path__ = [osp.join(ROOT, 'nas_det')]
sys.modules['nas_det'] = _m

from nas_det.strategies import driver  # noqa: E402
from nas_det.space import ChoiceSpace  # noqa: E402

KEYS = [f'x{i}' for i in range(6)]
SPACE = ChoiceSpace({k: [0, 1, 2, 3] for k in KEYS}, blocks=[KEYS[i:i + 2] for i in (0, 2, 4)])
TARGET = [3, 1, 0, 2, 2, 1]
TRIALS = 30


def objective(g):
    v = [g[k] for k in KEYS]
    if v[0] == 1 and v[1] == 1:
        return float('nan')  # a failed child now and then
    return sum(a == b for a, b in zip(v, TARGET)) - 0.01 * sum(abs(a - b) for a, b in zip(v, TARGET))


class Events:
    """Counts the points where a kill may land; ``os._exit`` at number ``kill_at``."""
    n = 0
    kill_at = None

    @classmethod
    def tick(cls):
        cls.n += 1
        if cls.kill_at is not None and cls.n >= cls.kill_at:
            os._exit(9)


def instrument():
    replace, fsync, append = os.replace, os.fsync, driver._append_line

    def _replace(src, dst):
        Events.tick()
        replace(src, dst)
        Events.tick()

    def _fsync(fd):
        Events.tick()
        fsync(fd)

    def _append(path, line):
        if Events.kill_at is not None and Events.n + 1 >= Events.kill_at:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(fd, line[:len(line) // 2].encode())  # a torn line
            os._exit(9)
        Events.tick()
        append(path, line)

    os.replace, os.fsync, driver._append_line = _replace, _fsync, _append


def life(cfg, wd, kill_at=None, kill_after=None, sleep=0.0):
    """One process life of the search in ``wd``; True when it finished."""
    res = osp.join(wd, 'result.json')
    pid = os.fork()
    if pid == 0:
        try:
            Events.n, Events.kill_at = 0, kill_at

            def obj(g):
                Events.tick()
                if sleep:
                    time.sleep(sleep)
                return objective(g)
            d = driver.SearchDriver(SPACE, cfg, work_dir=wd, seed=5, max_trials=TRIALS,
                                    log=lambda *_: None)
            best = d.run_objective(obj)
            with open(res, 'w') as f:
                json.dump({'events': Events.n, 'told': [t['key'] for t in d.trials],
                           'best': [SPACE.key(best[0]), best[1]]}, f)
        except BaseException as e:  # noqa: BLE001  (report, never return into the parent)
            with open(osp.join(wd, 'error.txt'), 'a') as f:
                f.write(f'{type(e).__name__}: {e}\n')
            os._exit(3)
        os._exit(0)
    if kill_after is not None:
        time.sleep(kill_after)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3:
        with open(osp.join(wd, 'error.txt')) as f:
            raise RuntimeError(f.read())
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def summary(wd):
    with open(osp.join(wd, 'result.json')) as f:
        out = json.load(f)
    out['trials'] = [{k: v for k, v in t.items() if k not in ('wall_time', 'crc')}
                     for t in driver.read_trials(wd)]
    with open(osp.join(wd, driver.BEST_FILE)) as f:
        out['best_file'] = json.load(f)['key']
    return out


def main():
    args = json.loads(sys.argv[1])
    cfg, out = args['strategy'], args['out']
    rng = random.Random(args['seed'])
    instrument()
    # warm up in this process (torch's lazy imports take seconds), so the forked lives
    # do not pay for them each
    driver.SearchDriver(SPACE, cfg, work_dir=osp.join(out, 'warm'), seed=5, max_trials=10,
                        log=lambda *_: None).run_objective(objective)
    ref_wd = osp.join(out, 'ref')
    t0 = time.time()
    assert life(cfg, ref_wd)
    ref_time = time.time() - t0
    ref = summary(ref_wd)
    runs = []
    for r in range(args['runs']):
        wd = osp.join(out, f'run{r}')
        kills, lives = [], 0
        timed = r < args.get('timed_runs', 0)
        while True:
            lives += 1
            if len(kills) < args['kills'] and timed:  # SIGKILL at a random time
                at = rng.uniform(0, ref_time + 0.05)
                done = life(cfg, wd, kill_after=at, sleep=0.002)
                kills.append(f'sigkill@{at:.3f}s' if not done else 'none')
            elif len(kills) < args['kills']:
                k = rng.randint(1, ref['events'])
                done = life(cfg, wd, kill_at=k)
                kills.append(f'event{k}' if not done else 'none')
            else:
                done = life(cfg, wd)
            if done:
                break
            if lives > args['kills'] + 5:
                raise RuntimeError(f'run {r}: no life finished')
        runs.append(dict(summary(wd), kills=kills))
    print(json.dumps({'ref': ref, 'runs': runs, 'ref_events': ref['events']}))


if __name__ == '__main__':
    main()
