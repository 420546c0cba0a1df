#!/usr/bin/env python
"""Train again, with other seeds, the best and worst children of a finished proxy-training
search: how much of a reward is the architecture and how much the seed.

    python tools/reevaluate.py CONFIG WORK_DIR/search/trials.jsonl --top 2 --bottom 2 \\
        --seeds 1 2

CONFIG is the search's config (its ``train_cfg.evaluator`` must be a
``ProxyTrainEvaluator``: children trained from scratch; a supernet's rewards are not
re-drawn this way). ``--cfg-options`` as in tools/search.py. Prints one line per child:
its search reward, then the reward of each seed.
"""
import argparse
import os.path as osp
import sys
import types

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def read_trials(path):
    """The finished trials (a finite ``reward``) of a ``trials.jsonl``."""
    from nas_det.strategies.driver import read_trials_file
    from nas_det.strategies.base import is_failure
    if not osp.isfile(path):
        raise SystemExit(f'trials: no file at {path}')
    out = [t for t in read_trials_file(path)
           if isinstance(t.get('reward'), (int, float)) and not is_failure(t['reward'])
           and 'genotype' in t]
    if not out:
        raise SystemExit(f'trials: {path} holds no finished trial')
    return out


def pick(trials, top, bottom):
    """The ``top`` highest and ``bottom`` lowest rewards (each trial once), best first."""
    ranked = sorted(trials, key=lambda t: -t['reward'])
    chosen = ranked[:top]
    for t in ranked[max(0, len(ranked) - bottom):] if bottom else []:
        if all(t is not c for c in chosen):
            chosen.append(t)
    return chosen


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('trials', help="the search's trials.jsonl")
    p.add_argument('--top', type=int, default=2, help='best children to retrain (2)')
    p.add_argument('--bottom', type=int, default=2, help='worst children to retrain (2)')
    p.add_argument('--seeds', type=int, nargs='+', default=[1, 2],
                   help='base seeds of the retraining (1 2)')
    p.add_argument('--cfg-options', nargs='+', default=None, metavar='KEY=VALUE')
    args = p.parse_args(argv)
    if args.top < 0 or args.bottom < 0 or args.top + args.bottom == 0:
        raise SystemExit('--top/--bottom: non-negative, and at least one child')

    from nas_det.engine.launch import load_config
    cfg = load_config(argparse.Namespace(config=args.config, cfg_options=args.cfg_options,
                                         work_dir=None, seed=None))
    tc = cfg.get('train_cfg') or {}
    ev = dict(tc.get('evaluator') or {})
    if ev.get('type') != 'ProxyTrainEvaluator':
        raise SystemExit(f"train_cfg.evaluator.type: {ev.get('type')!r}; only "
                         "'ProxyTrainEvaluator' children can be retrained")
    ev.pop('type')
    if 'search_space' not in tc:
        raise SystemExit('train_cfg.search_space: the config names no search space')
    import nas_det  # noqa: F401  (registries)
    from nas_det.engine.evaluators import ProxyTrainEvaluator
    from nas_det.space import build_space
    space = build_space(tc.search_space)
    runner = types.SimpleNamespace(cfg=cfg)
    for t in pick(read_trials(args.trials), args.top, args.bottom):
        genotype = space.genotype_from_dict(t['genotype'])
        rewards = [ProxyTrainEvaluator(runner, seed=s, **ev)(genotype).reward
                   for s in args.seeds]
        print(f"search reward {t['reward']:g}: seeds {' '.join(map(str, args.seeds))} -> "
              f"{', '.join(f'{r:g}' for r in rewards)}", flush=True)


if __name__ == '__main__':
    main()
