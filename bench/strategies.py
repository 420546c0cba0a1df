"""Search strategies against random search: best reward found at several budgets.

Usage::

    OMP_NUM_THREADS=1 python bench/strategies.py                  # both benchmarks, 50 seeds
    python bench/strategies.py --bench digits --seeds 50 --budgets 50 100
    python bench/strategies.py --strategies random pnas --set pnas.surrogate=lstm
    python bench/strategies.py --tiny           # CI size: 2 seeds, budgets 25 and 50, no torch

Two benchmarks:

* ``digits``: a tabular benchmark of real accuracies (``bench/data/digits_cells.json``,
  made by ``bench/make_digits_cells.py``): all 750 architectures of a 3-block cell space,
  each trained on handwritten digits with 2 seeds; the reward of an architecture is its
  mean validation accuracy (%). Decisions interact: which nodes reach the output depends
  on the inputs chosen, and an op's worth depends on where it sits.
* ``toy``: a ChoiceSpace of 12 decisions (4-8 options, 4 blocks of 3) with a hidden
  target; reward = decisions equal to the target + 0.5 * closeness (optimum 12.5).
  Decisions do not interact, which flatters model-based strategies.

For ``digits`` a multi-objective section follows: NSGA2 against random search on accuracy
up and parameters down, as the share of the exact front (all 750 enumerated) found and
the hypervolume relative to the exact front's.

Each (strategy, budget, seed) is one run of ``build_strategy(cfg, space, seed=seed,
max_trials=budget)`` driven through natural batches of ``ask()`` and ``tell()``: the
strategies' defaults scale with ``max_trials``, as a user's would (a strategy whose
settings do not depend on the budget runs once per seed, read at each budget). Reported: mean best
reward +- its standard error over seeds, and ``z``, the difference from random search
divided by the standard error of that difference. For ``digits`` the exact expectation of
random sampling without replacement is printed too. For PNAS the surrogate's held-out
Spearman rank correlation is printed per block: on the beam it chose (told afterwards)
and, for ``digits``, on every candidate it scored against the table.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from nas_det.space import ChoiceSpace  # noqa: E402
from nas_det.strategies import build_strategy  # noqa: E402
from nas_det.strategies.base import spearman  # noqa: E402

TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'digits_cells.json')

# the strategies as a user builds them: their defaults scale with max_trials
SETTINGS = {
    'random': dict(type='random'),
    'aging_evolution': dict(type='aging_evolution'),
    'detnas_ga': dict(type='detnas_ga'),
    'reinforce': dict(type='ReinforceController'),
    # NASNet's controller update: PPO's clipped ratio, 4 Adam steps per controller batch
    'ppo': dict(type='ReinforceController', update='ppo', ppo_clip=0.2, ppo_epochs=4),
    'pnas': dict(type='ProgressiveSMBO'),
}


# ---- benchmarks -----------------------------------------------------------------------
class Toy:
    name = 'toy'
    NUM_OPTIONS = (4, 5, 6, 8, 4, 6, 5, 8, 6, 4, 7, 6)

    def __init__(self):
        keys = [f'd{i}' for i in range(len(self.NUM_OPTIONS))]
        self.space = ChoiceSpace([(k, list(range(n))) for k, n in zip(keys, self.NUM_OPTIONS)],
                                 blocks=[keys[i:i + 3] for i in range(0, len(keys), 3)],
                                 name='toy')
        self.target = tuple(random.Random(1234).randrange(n) for n in self.NUM_OPTIONS)
        self.optimum = len(self.NUM_OPTIONS) + 0.5
        self.describe = (f'toy: ChoiceSpace of {len(keys)} decisions with '
                         f'{list(self.NUM_OPTIONS)} options ({self.space.size():.3g} genotypes, '
                         f'4 blocks of 3); reward = matches with a hidden target + 0.5 * '
                         f'closeness; optimum {self.optimum}')

    def __call__(self, g) -> float:
        toks = self.space.to_tokens(g)
        dist = sum(abs(t - x) / (n - 1) for t, x, n in zip(toks, self.target, self.NUM_OPTIONS))
        return sum(t == x for t, x in zip(toks, self.target)) + 0.5 * (1 - dist / len(toks))

    def random_expectation(self, budget):
        return None


class Digits:
    """Rewards looked up in the tabular benchmark (mean accuracy over its seeds)."""
    name = 'digits'

    def __init__(self, path: str = TABLE):
        with open(path) as f:
            table = json.load(f)
        self.space = ChoiceSpace([(k, v) for k, v in table['choices']],
                                 blocks=table['blocks'], name=table['name'])
        keys = [k for k, _ in table['choices']]
        self.acc = {}
        for values, accs in table['rows']:
            g = self.space.make(**dict(zip(keys, values)))
            self.acc[self.space.key(g)] = sum(accs) / len(accs)
        if len(self.acc) != self.space.size():
            raise ValueError(f'{path}: {len(self.acc)} rows for {self.space.size()} architectures')
        self.sorted = sorted(self.acc.values())
        self.optimum = self.sorted[-1]
        pairs = [accs for _, accs in table['rows']]
        seed_sd = statistics.mean(abs(a[0] - a[1]) for a in pairs) * math.sqrt(math.pi) / 2
        self.describe = (f'digits: {len(self.acc)} architectures of a 3-block cell space '
                         f'({path.split(os.sep)[-1]}), mean val accuracy of 2 seeds: '
                         f'median {statistics.median(self.sorted):.2f}, best {self.optimum:.2f}; '
                         f'seed-to-seed sd about {seed_sd:.2f}')

    def __call__(self, g) -> float:
        return self.acc[self.space.key(g)]

    OP_PARAMS = {'relu': 32 * 32 + 32, 'tanh': 32 * 32 + 32, 'skip': 0,
                 'bottleneck': 32 * 8 + 8 + 8 * 32 + 32, 'wide': 32 * 128 + 128 + 128 * 32 + 32}

    def params(self, g) -> int:
        """Parameters of the network (stem and classifier included)."""
        return 196 * 32 + 32 + 32 * 10 + 10 + sum(self.OP_PARAMS[g[f'op{i}']] for i in (1, 2, 3))

    def random_expectation(self, budget):
        """Exact mean of the best of ``budget`` distinct uniform draws."""
        n, vals = len(self.sorted), self.sorted
        budget = min(budget, n)
        # P(max = i-th smallest) = [C(i, B) - C(i-1, B)] / C(n, B), i = 1..n
        total = math.comb(n, budget)
        return sum(v * (math.comb(i + 1, budget) - math.comb(i, budget)) / total
                   for i, v in enumerate(vals))


# ---- multi-objective: accuracy up, parameters down ------------------------------------------
def pareto_section(bench, seeds: int, budgets: list) -> None:
    """NSGA2 against random search on (accuracy, parameters) of the digits table: share of
    the exact front found and hypervolume relative to the exact front's."""
    from nas_det.strategies.multi_objective import hypervolume_2d, non_dominated_sort
    everything = [bench.space.from_tokens(t) for t in _product(bench.space.cardinalities)]
    pts = {bench.space.key(g): (bench(g), -bench.params(g)) for g in everything}
    keys = list(pts)
    exact = {keys[i] for i in non_dominated_sort([pts[k] for k in keys])[0]}
    ref = (min(a for a, _ in pts.values()), min(p for _, p in pts.values()) - 1)
    hv_exact = hypervolume_2d([pts[k] for k in exact], ref)
    print(f'\n== digits, 2 objectives (accuracy up, parameters down): exact front of '
          f'{len(exact)} architectures; {seeds} seeds; share of the exact front found / '
          'hypervolume relative to the exact front\n')
    print(f'{"strategy":18s}' + ''.join(f'{"B=" + str(b):>26s}' for b in budgets))
    for name, cfg in (('random', dict(type='random')), ('nsga2', dict(type='NSGA2'))):
        cells = []
        for b in budgets:
            share, hv = [], []
            for seed in range(seeds):
                with warnings.catch_warnings():
                    warnings.simplefilter('ignore')
                    s = build_strategy(cfg, bench.space, seed=seed, max_trials=b,
                                       **({'cost': bench.params} if name == 'nsga2' else {}))
                while not s.done:
                    batch = s.ask()
                    if not batch:
                        break
                    for g in batch:
                        s.tell(g, bench(g))
                seen = [k for k, _ in s.history]
                front = [seen[i] for i in non_dominated_sort([pts[k] for k in seen])[0]]
                share.append(len(exact & set(front)) / len(exact))
                hv.append(hypervolume_2d([pts[k] for k in front], ref) / hv_exact)
            (m1, e1), (m2, e2) = mean_se(share), mean_se(hv)
            cells.append(f'{m1:.2f}±{e1:.2f} / {m2:.3f}±{e2:.3f}')
        print(f'{name:18s}' + ''.join(f'{c:>26s}' for c in cells))


def _product(cards):
    import itertools
    return itertools.product(*(range(n) for n in cards))


# ---- runs ---------------------------------------------------------------------------------
def run(cfg: dict, bench, seed: int, budget: int, log: dict | None = None,
        curve: list | None = None) -> float:
    """Best reward of one search (the best after each trial appended to ``curve``); PNAS
    surrogate diagnostics go to ``log``."""
    s = build_strategy(cfg, bench.space, seed=seed, max_trials=budget)
    best = -math.inf
    while not s.done:
        batch = s.ask()
        if not batch:
            break
        for g in batch:
            r = bench(g)
            s.tell(g, r)
            best = max(best, r)
            if curve is not None:
                curve.append(best)
        if log is not None and hasattr(s, 'scored_candidates') and hasattr(bench, 'acc'):
            scored = s.scored_candidates()
            if len(scored) >= 3:  # the surrogate just chose a beam: check it on every candidate
                rho = spearman([p for _, p in scored], [bench(g) for g, _ in scored])
                log.setdefault(('all', s.block), []).append(rho)
    if log is not None and hasattr(s, 'surrogate_log'):
        for e in s.surrogate_log:
            if e['spearman'] is not None:
                log.setdefault(('beam', e['block']), []).append(e['spearman'])
    return best


def describe_settings(cfg: dict, bench, budget: int) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        s = build_strategy(cfg, bench.space, seed=0, max_trials=budget)
    names = ('population_size', 'sample_size', 'top_k', 'num_mutation', 'num_crossover',
             'generations', 'batch_size', 'lr', 'update', 'beam', 'surrogate_name')
    return ', '.join(f'{n.replace("_size", "").replace("_name", "")}={getattr(s, n)}'
                     for n in names if hasattr(s, n))


def mean_se(vals):
    return statistics.mean(vals), statistics.stdev(vals) / math.sqrt(len(vals))


def parse_sets(items):
    out = {}
    for item in items:
        try:
            target, value = item.split('=', 1)
            name, key = target.split('.', 1)
        except ValueError:
            raise SystemExit(f'--set: NAME.KEY=VALUE expected, got {item!r}') from None
        if name not in SETTINGS:
            raise SystemExit(f'--set: {name!r} is not allowed; allowed values: {list(SETTINGS)}')
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
        out.setdefault(name, {})[key] = value
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--bench', nargs='+', default=['digits', 'toy'],
                        choices=['digits', 'toy'])
    parser.add_argument('--seeds', type=int, default=50, help='seeds per strategy and budget')
    parser.add_argument('--budgets', type=int, nargs='+', default=[25, 50, 100, 150, 300])
    parser.add_argument('--strategies', nargs='+', default=list(SETTINGS),
                        choices=list(SETTINGS))
    parser.add_argument('--set', nargs='*', default=[], metavar='NAME.KEY=VALUE',
                        help='override a strategy setting, e.g. pnas.beam=20 (JSON values)')
    parser.add_argument('--torch-threads', type=int, default=1)
    parser.add_argument('--no-pareto', action='store_true',
                        help='skip the multi-objective section of the digits benchmark')
    parser.add_argument('--tiny', action='store_true',
                        help='CI size: 2 seeds, budgets 25 and 50, the pure strategies')
    args = parser.parse_args(argv)
    if args.tiny:
        args.seeds, args.budgets = 2, [25, 50]
        args.strategies = ['random', 'aging_evolution', 'detnas_ga']
    if args.seeds < 2 or min(args.budgets) < 1:
        parser.error('--seeds must be >= 2 and --budgets >= 1')
    budgets = sorted(set(args.budgets))
    overrides = parse_sets(args.set)
    names = args.strategies if 'random' in args.strategies else ['random'] + args.strategies
    start = time.perf_counter()
    for bench_name in args.bench:
        bench = Digits() if bench_name == 'digits' else Toy()
        print(f'\n== {bench.describe}')
        print(f'{args.seeds} seeds per strategy and budget; mean best reward +- standard '
              'error; z = (mean - random) / se of the difference\n')
        ref = 100 if 100 in budgets else budgets[len(budgets) // 2]
        results, logs, times = {}, {}, {}
        for name in names:
            cfg = dict(SETTINGS[name], **overrides.get(name, {}))
            try:
                info = describe_settings(cfg, bench, ref)
            except (ImportError, ValueError) as e:
                print(f'{name:16s} skipped: {type(e).__name__}: {e}')
                continue
            print(f'{name:16s} {cfg}  -> at budget {ref}: {info}')
            if 'torch' in sys.modules:
                sys.modules['torch'].set_num_threads(args.torch_threads)
            t0 = time.perf_counter()
            logs[name] = {}
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')  # the budget warnings of the smallest budgets
                if len({describe_settings(cfg, bench, b) for b in budgets}) == 1:
                    # settings that do not follow the budget: one run, read at each budget
                    curves = []
                    for seed in range(args.seeds):
                        curves.append([])
                        run(cfg, bench, seed, budgets[-1], logs[name], curves[-1])
                    results[name] = {b: [c[min(b, len(c)) - 1] for c in curves]
                                     for b in budgets}
                else:
                    results[name] = {b: [run(cfg, bench, seed, b,
                                             logs[name] if b == ref else None)
                                         for seed in range(args.seeds)] for b in budgets}
            times[name] = time.perf_counter() - t0
        head = f'{"strategy":18s}' + ''.join(f'{"B=" + str(b):>22s}' for b in budgets) + \
            f'{"time (s)":>10s}'
        print('\n' + head + '\n' + '-' * len(head))
        exp = [bench.random_expectation(b) for b in budgets]
        if exp[0] is not None:
            print(f'{"random, expected":18s}' + ''.join(f'{e:22.2f}' for e in exp))
        for name in results:
            cells = []
            for b in budgets:
                m, se = mean_se(results[name][b])
                cell = f'{m:.2f} ± {se:.2f}'
                if name != 'random' and 'random' in results:
                    mr, ser = mean_se(results['random'][b])
                    z = (m - mr) / math.sqrt(se ** 2 + ser ** 2) if se or ser else math.inf
                    cell += f' z{z:+5.1f}'
                cells.append(cell)
            print(f'{name:18s}' + ''.join(f'{c:>22s}' for c in cells) + f'{times[name]:10.1f}')
        print(f'optimum {bench.optimum:.2f}; {bench.name}')
        for name, log in logs.items():
            if log:
                parts = []
                for kind, label in (('beam', 'on the beam it chose'),
                                    ('all', 'on all candidates it scored')):
                    blocks = sorted(b for k, b in log if k == kind)
                    if blocks:
                        parts.append(label + ': ' + ', '.join(
                            f'block {b} {statistics.mean(log[(kind, b)]):+.2f}'
                            f' (n={len(log[(kind, b)])})' for b in blocks))
                print(f'{name} surrogate, held-out Spearman at budget {ref} (block {len(bench.space.blocks())}+ '
                      'after the last: final picks): ' + '; '.join(parts))
        if bench_name == 'digits' and not args.no_pareto:
            pareto_section(bench, args.seeds, budgets)
    print(f'\ntotal runtime {time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
