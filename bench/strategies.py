"""Search strategies on a toy objective: best reward found at several budgets.

Usage::

    python bench/strategies.py                        # all strategies, 20 seeds
    python bench/strategies.py --seeds 5 --budgets 50 100 --strategies random detnas_ga

The toy objective is a ChoiceSpace of 12 decisions (4-8 options each, grouped in 4
blocks of 3 for progressive search) with a hidden target genotype. Its reward is the
number of decisions equal to the target plus a smooth closeness term in [0, 0.5], so the
optimum is 12.5 (only at the target). Each (strategy, seed) is one run of
``max(budgets)`` trials and the best reward among its first B trials is reported for
each budget B (mean and standard deviation over seeds); a strategy whose settings depend
on the budget (PNAS: its beam) runs once per budget instead.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from nas_det.space import ChoiceSpace  # noqa: E402
from nas_det.strategies import build_strategy  # noqa: E402

NUM_OPTIONS = (4, 5, 6, 8, 4, 6, 5, 8, 6, 4, 7, 6)
KEYS = [f'd{i}' for i in range(len(NUM_OPTIONS))]
SPACE = ChoiceSpace([(k, list(range(n))) for k, n in zip(KEYS, NUM_OPTIONS)],
                    blocks=[KEYS[i:i + 3] for i in range(0, len(KEYS), 3)], name='toy')
TARGET = tuple(random.Random(1234).randrange(n) for n in NUM_OPTIONS)
OPTIMUM = len(NUM_OPTIONS) + 0.5

# Settings for budgets of 50-300 trials (the defaults suit thousands of trials).
SETTINGS = {
    'random': dict(type='random'),
    'aging_evolution': dict(type='aging_evolution', population=20, sample_size=8),
    'detnas_ga': dict(type='detnas_ga', population=20, top_k=5, num_mutation=8,
                      num_crossover=8, mutation_prob=0.1, generations=1000),
    'reinforce': dict(type='ReinforceController', batch_size=10),
    # PNAS asks `beam` genotypes per block (4 blocks here), so its beam follows the budget
    'progressive': lambda budget: dict(type='ProgressiveSMBO', beam=max(1, budget // 4),
                                       epochs=30),
}


def toy(g) -> float:
    """Decisions equal to the hidden target, plus 0.5 * (1 - mean normalised distance)."""
    toks = SPACE.to_tokens(g)
    dist = sum(abs(t - x) / (n - 1) for t, x, n in zip(toks, TARGET, NUM_OPTIONS))
    return sum(t == x for t, x in zip(toks, TARGET)) + 0.5 * (1 - dist / len(toks))


def best_curve(cfg: dict, seed: int, budget: int) -> list:
    """Best reward after each tell of one run of at most ``budget`` trials."""
    s = build_strategy(cfg, SPACE, seed=seed, max_trials=budget)
    curve, best = [], float('-inf')
    while not s.done:
        batch = s.ask()
        if not batch:
            break
        for g in batch:
            r = toy(g)
            s.tell(g, r)
            best = max(best, r)
            curve.append(best)
    return curve


def best_at_budgets(setting, seed: int, budgets: list) -> list:
    """``(best reward, trials run)`` at each budget: a fixed config runs once for the
    largest budget (read at each budget), a budget-dependent one runs per budget."""
    if callable(setting):
        return [(c[-1], len(c)) for c in
                (best_curve(setting(b), seed, b) for b in budgets)]
    curve = best_curve(setting, seed, budgets[-1])
    return [(curve[min(b, len(curve)) - 1], min(b, len(curve))) for b in budgets]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seeds', type=int, default=20, help='seeds per strategy')
    parser.add_argument('--budgets', type=int, nargs='+', default=[50, 100, 300])
    parser.add_argument('--strategies', nargs='+', default=list(SETTINGS),
                        choices=list(SETTINGS))
    parser.add_argument('--torch-threads', type=int, default=1,
                        help='torch threads of the neural strategies')
    args = parser.parse_args(argv)
    if args.seeds < 2 or min(args.budgets) < 1:
        parser.error('--seeds must be >= 2 and --budgets >= 1')
    budgets = sorted(set(args.budgets))
    start = time.perf_counter()
    print(f'toy objective: ChoiceSpace of {len(NUM_OPTIONS)} decisions with '
          f'{list(NUM_OPTIONS)} options ({SPACE.size():.3g} genotypes, 4 blocks of 3); '
          f'reward = matches with a hidden target + 0.5 * closeness; optimum {OPTIMUM} '
          f'(the target only)')
    print(f'{args.seeds} seeds; one run of {budgets[-1]} trials per seed (per budget for '
          f'budget-dependent settings), best of its first B trials reported\n')
    rows, short = [], False
    for name in args.strategies:
        setting = SETTINGS[name]
        cfgs = {b: setting(b) for b in budgets} if callable(setting) else {None: setting}
        for b, cfg in cfgs.items():
            print(f'{name:16s} {cfg}' + ('' if b is None else f'  (B={b})'))
        try:
            build_strategy(next(iter(cfgs.values())), SPACE)
        except (ImportError, ValueError) as e:  # a torch strategy not written / no torch
            print(f'{"":16s} skipped: {type(e).__name__}: {e}')
            continue
        if 'torch' in sys.modules:  # small LSTMs / MLPs: threads only contend on few cores
            sys.modules['torch'].set_num_threads(args.torch_threads)
        t0 = time.perf_counter()
        runs = [best_at_budgets(setting, seed, budgets) for seed in range(args.seeds)]
        cells = []
        for i, b in enumerate(budgets):
            vals = [run[i][0] for run in runs]
            ran = min(run[i][1] for run in runs)
            short |= ran < b
            cells.append(f'{statistics.mean(vals):5.2f} ± {statistics.stdev(vals):4.2f}'
                         + (f' ({ran})' if ran < b else ''))
        rows.append((name, cells, time.perf_counter() - t0))
    print()
    head = f'{"strategy":16s}' + ''.join(f'{"B=" + str(b):>20s}' for b in budgets) + \
        f'{"time (s)":>10s}'
    print(head)
    print('-' * len(head))
    for name, cells, secs in rows:
        print(f'{name:16s}' + ''.join(f'{c:>20s}' for c in cells) + f'{secs:10.1f}')
    if short:
        print('(N): the strategy ended by itself after N trials, fewer than the budget')
    print(f'\noptimum {OPTIMUM}; total runtime {time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
