"""The search loop: any strategy, any evaluator, inside an mmengine Runner.

``train_cfg=dict(type='SearchLoop', ...)`` replaces the training loop of a config; the
Runner then loads the (supernet) checkpoint of ``load_from`` and this loop searches.
Candidates of a batch are split across ranks; each rank evaluates its own, only
``(genotype, result)`` are gathered, and every rank tells the strategy the same results,
so all ranks agree on the next batch. State, resume and the trial log are the
:class:`~nas_det.strategies.driver.SearchDriver`'s.
"""
from __future__ import annotations

import json
import os.path as osp
import random
import time

from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.registry import LOOPS
from mmengine.runner.base_loop import BaseLoop

from ...space.registry import build_space, space_config
from ...strategies.base import STRATEGIES, _load_neural, build_strategy
from ...strategies.driver import ON_ERROR, Result, SearchDriver
from ..evaluators import build_evaluator, unwrap
from ..hooks import searchable_modules
from ..visualization import SearchScalars, plot_genotype, plot_rewards, plot_search, write_pareto


def _fmt(x):
    return f'{x / 1e6:.1f}M' if isinstance(x, (int, float)) and x >= 1e5 else f'{x}'


class SearchCostModel:
    """FLOPs / params of a genotype of a searchable module, for limits and plots.

    Uses the module's analytic ``path_cost(genotype, input_shape)`` when it has one,
    else counts the module with the path set with
    :func:`~nas_det.models.flops.model_flops` (``mmengine.analysis``; only ``flops`` is
    kept). ``input_shape`` is one ``(C, H, W)`` (a backbone's image) or a list of them (a
    neck's feature maps, given to the module as one sequence). Not to be confused with
    :class:`nas_det.models.morphnet.CostModel`, MorphNet's differentiable channel cost.
    """

    def __init__(self, module, input_shape=(3, 224, 224), name: str = 'module', latency=None):
        self.module = module
        self.latency = latency  # a LatencyTable: adds 'latency' (ms, predicted)
        self.multi = bool(input_shape) and isinstance(input_shape[0], (list, tuple))
        self.input_shape = tuple(tuple(s) for s in input_shape) if self.multi else tuple(input_shape)
        self.name = name
        self._cache = {}

    def _inputs(self):
        import torch
        if self.multi:
            return (tuple(torch.zeros(1, *s) for s in self.input_shape),)
        return torch.zeros(1, *self.input_shape)

    def __call__(self, genotype) -> dict:
        key = str(genotype)
        if key not in self._cache:
            if hasattr(self.module, 'path_cost'):
                cost = self.module.path_cost(genotype, self.input_shape)
            else:
                from ...models.flops import model_flops
                prev = getattr(self.module, 'choices', None)
                self.module.set_choices(genotype)
                try:
                    flops = model_flops(self.module, self._inputs())['flops']
                except Exception as e:  # noqa: BLE001  (the wrong kind of input)
                    raise ValueError(
                        f'train_cfg.cost_input_shape: {self.name} does not run on an input of '
                        f'shape {self.input_shape} ({type(e).__name__}: {e}); give its input '
                        'shape: (C, H, W) for a backbone, a list of (C, H, W) per feature map '
                        'for a neck') from None
                finally:
                    if prev is not None:
                        self.module.set_choices(prev)
                cost = {'flops': flops}
            cost = {k: int(v) for k, v in cost.items()}
            if self.latency is not None:
                cost['latency'] = round(self.latency.predict(
                    genotype, getattr(self.module, 'with_last_conv', None)), 4)
            self._cache[key] = cost
        return self._cache[key]


def __getattr__(name):
    """``CostModel``, the old name of :class:`SearchCostModel` (it clashed with
    :class:`nas_det.models.morphnet.CostModel`), with a ``DeprecationWarning``."""
    if name == 'CostModel':
        import warnings
        warnings.warn('nas_det.engine.search_loop.CostModel was renamed SearchCostModel; '
                      'import that name', DeprecationWarning, stacklevel=2)
        return SearchCostModel
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


COST_OBJECTIVES = ('flops', 'latency')


def check_search_args(max_trials=None, max_flops=None, seed=None, compare_random=0,
                      compare_tolerance=0.1, on_error='record', latency_table=None,
                      max_latency=None, cost_objective='flops', **_) -> None:
    """One-line ``ValueError`` naming ``train_cfg.<key>`` for a bad plain setting of the
    search loop (checked before any phase runs, and again when the loop is built)."""
    def number(x):
        return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x

    if max_flops is not None and not (number(max_flops) and max_flops > 0):
        raise ValueError(f'train_cfg.max_flops: a positive number is expected, got {max_flops!r}')
    if max_latency is not None and not (number(max_latency) and max_latency > 0):
        raise ValueError(f'train_cfg.max_latency: a positive number of milliseconds is '
                         f'expected, got {max_latency!r}')
    if cost_objective not in COST_OBJECTIVES:
        raise ValueError(f'train_cfg.cost_objective: {cost_objective!r} is not allowed; '
                         f'allowed values: {list(COST_OBJECTIVES)}')
    if latency_table is not None and not isinstance(latency_table, str):
        raise ValueError(f'train_cfg.latency_table: a JSON file from tools/latency_table.py is '
                         f'expected, got {latency_table!r}')
    if latency_table is None and (max_latency is not None or cost_objective == 'latency'):
        key = 'max_latency' if max_latency is not None else 'cost_objective'
        raise ValueError(f'train_cfg.{key}: latency needs train_cfg.latency_table (build one '
                         'with tools/latency_table.py)')
    if max_trials is not None and not (isinstance(max_trials, int) and not isinstance(
            max_trials, bool) and max_trials >= 1):
        raise ValueError(f'train_cfg.max_trials: an integer >= 1 (or None) is expected, got '
                         f'{max_trials!r}')
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ValueError(f'train_cfg.seed: an integer (or None) is expected, got {seed!r}')
    if not isinstance(compare_random, int) or isinstance(compare_random, bool) \
            or compare_random < 0:
        raise ValueError(f'train_cfg.compare_random: an integer >= 0 is expected, got '
                         f'{compare_random!r}')
    if not (number(compare_tolerance) and compare_tolerance >= 0):
        raise ValueError(f'train_cfg.compare_tolerance: a number >= 0 is expected, got '
                         f'{compare_tolerance!r}')
    if on_error not in ON_ERROR:
        raise ValueError(f'train_cfg.on_error: {on_error!r} is not allowed; allowed values: '
                         f'{list(ON_ERROR)}')


def strategy_config(strategy) -> dict:
    """``train_cfg.strategy`` (a dict with a ``type``) as a plain dict. A string (a preset
    name of the removed ``strategies``, or a bare type name) is a one-line ``ValueError``
    naming the allowed types and, for a removed preset, the config that holds it now."""
    if isinstance(strategy, str):
        _load_neural()
        from ...utils.config_moves import strategy_name_error
        raise ValueError(strategy_name_error(strategy, list(STRATEGIES)))
    if not isinstance(strategy, dict) or 'type' not in strategy:
        raise ValueError(f'train_cfg.strategy: a dict with a `type` is expected, got '
                         f'{strategy!r}')
    return dict(strategy)


@LOOPS.register_module()
class SearchLoop(BaseLoop):
    """Search a space with a strategy and an evaluator.

    Two set-ups: the runner's model holds one searchable module (a one-shot supernet,
    e.g. ``ShuffleNetV2Supernet`` or ``NASFPNSupernet``) whose space is searched, typically
    with a ``SupernetEvaluator``; or it holds none, and ``search_space`` names the space
    while the evaluator builds its own networks (``ProxyTrainEvaluator``: every candidate
    is a child network trained on a proxy task). FLOPs (``max_flops``, the FLOPs columns
    and ``compare_random``'s band) need a searchable module.

    Args:
        runner (Runner): the runner.
        dataloader: the training dataloader config or object (given by the Runner; the
            evaluator builds its own non-distributed loaders).
        strategy (dict | str): strategy config, e.g. ``dict(type='GeneticAlgorithm',
            ...)``. Another strategy is another config: a child config that sets
            ``train_cfg.strategy`` (e.g. ``configs/cells/cells_search_digits-cls_pnas.py``).
        evaluator (dict): evaluator config, e.g. ``dict(type='SupernetEvaluator', ...)``.
        search_space (dict, optional): space config; defaults to the searchable module's
            own ``search_space``. Required when the model has no searchable module.
        max_trials (int, optional): stop after this many evaluated candidates.
        max_flops (float, optional): only candidates with at most these FLOPs (multiply-
            adds of the searchable module at ``cost_input_shape``) are asked. With a
            multi-objective strategy (``NSGA2``) FLOPs are minimised as a second objective
            beside the reward, with or without this limit. Either way, with a searchable
            module, ``pareto.json`` holds the reward / FLOPs front after each batch.
        cost_input_shape (tuple | list): input shape for costs, ``(C, H, W)``, or a list
            of them for a module that takes several maps (a neck). Defaults to
            (3, 224, 224), the DetNAS convention for the backbone.
        seed (int, optional): strategy seed; defaults to the config's ``randomness.seed``.
        compare_random (int): after the search, evaluate this many random paths whose
            FLOPs lie within ``compare_tolerance`` of the best one's, and report their
            mean reward beside the best (a sanity check of the search). Defaults to 0.
        compare_tolerance (float): relative FLOPs band of ``compare_random``. Defaults to 0.1.
        plot (bool): write PNG plots after each batch. Defaults to True.
        resume (bool): continue the search whose state lies in the work dir (set by
            ``tools/search.py --resume``). Without it, a work dir that already holds a
            search is an error. Defaults to False.
        latency_table (str, optional): a latency table JSON (``tools/latency_table.py``)
            built for the searchable module's backbone (DetNAS ShuffleNetV2: same ``arch``
            and ``widen_factor``): every trial's cost gains ``latency``, its predicted
            milliseconds in the table's setting (device, batch, input size).
        max_latency (float, optional): only candidates with at most this predicted
            latency (ms) are asked; needs ``latency_table``. Combines with ``max_flops``.
        cost_objective (str): the cost a multi-objective strategy minimises and
            ``pareto.json`` is written against: ``'flops'`` or ``'latency'`` (needs
            ``latency_table``). Defaults to 'flops'.
        on_error (str): an evaluation that raises: ``'record'`` logs its traceback and
            records the candidate as a failed trial (the search goes on, a resume does
            not evaluate it again); ``'raise'`` ends the search. Defaults to 'record'.
    """

    def __init__(self, runner, dataloader, strategy: dict, evaluator: dict,
                 search_space: dict | None = None, max_trials: int | None = None,
                 max_flops: float | None = None, cost_input_shape=(3, 224, 224),
                 seed: int | None = None, compare_random: int = 0,
                 compare_tolerance: float = 0.1, plot: bool = True, resume: bool = False,
                 on_error: str = 'record', latency_table: str | None = None,
                 max_latency: float | None = None, cost_objective: str = 'flops'):
        self._runner = runner
        self.dataloader = dataloader  # kept lazy: not built
        self.strategy_cfg = strategy_config(strategy)
        check_search_args(max_trials=max_trials, max_flops=max_flops, seed=seed,
                          compare_random=compare_random, compare_tolerance=compare_tolerance,
                          on_error=on_error, latency_table=latency_table,
                          max_latency=max_latency, cost_objective=cost_objective)
        self.latency_table = latency_table
        self.max_latency = max_latency
        self.cost_objective = cost_objective
        self.evaluator_cfg = evaluator
        self.space_cfg = search_space
        self.max_trials = max_trials
        self.max_flops = max_flops
        self.cost_input_shape = tuple(cost_input_shape)
        self.seed = seed
        self.compare_random = compare_random
        self.compare_tolerance = compare_tolerance
        self.plot = plot
        self.resume = resume
        self.on_error = on_error
        self._max_iters = 0

    # mmengine's Runner and hooks read these
    @property
    def max_epochs(self):
        return 0

    @property
    def max_iters(self):
        return self._max_iters

    @property
    def epoch(self):
        return 0

    @property
    def iter(self):
        return 0

    def log(self, msg: str) -> None:
        self.runner.logger.info(msg)

    def run(self):
        runner = self.runner
        model = unwrap(runner.model)
        modules = searchable_modules(model)
        if not modules and not self.space_cfg:
            raise ValueError('SearchLoop: the model has no searchable module (one with '
                             'set_choices() and search_space, e.g. ShuffleNetV2Supernet); '
                             'name the space in train_cfg.search_space (with an evaluator '
                             "that builds its own candidates, e.g. 'ProxyTrainEvaluator')")
        if len(modules) > 1:
            names = ', '.join(f'model.{n}' for n, _ in modules)
            raise ValueError(f'SearchLoop: searches one searchable module, the model has '
                             f'{len(modules)} ({names}); fix the others to fixed modules')
        name, module = modules[0] if modules else (None, None)
        space = build_space(self.space_cfg) if self.space_cfg else module.search_space
        if module is not None and space_config(space) != space_config(module.search_space):
            raise ValueError(f'train_cfg.search_space: {space_config(space)} does not match the '
                             f'space of model.{name}: {space_config(module.search_space)}')
        if module is None and self.max_flops is not None:
            raise ValueError('train_cfg.max_flops: FLOPs limits need a searchable module in '
                             'the model (the model has none); remove max_flops')
        if module is None and isinstance(self.evaluator_cfg, dict) \
                and self.evaluator_cfg.get('type') == 'SupernetEvaluator':
            raise ValueError("evaluator.type: 'SupernetEvaluator' needs a searchable module "
                             "in the model (it has none); use 'ProxyTrainEvaluator' or a "
                             'supernet model')
        table = self._latency_table(module, name)
        cost = SearchCostModel(module, self.cost_input_shape, f'model.{name}', latency=table) \
            if module is not None else (lambda g: {})
        constraint, limits = None, {}
        if self.max_flops is not None:
            limits['flops'] = float(self.max_flops)
        if self.max_latency is not None:
            limits['latency'] = float(self.max_latency)
        if limits:
            def constraint(g, _limits=tuple(limits.items())):
                c = cost(g)
                return all(c[k] <= v for k, v in _limits)
            constraint.__qualname__ = ' and '.join(
                f'flops <= {_fmt(v)} at {self.cost_input_shape}' if k == 'flops' else
                f'latency <= {v:g} ms ({table.describe()})' for k, v in limits.items())
            self._check_limit(space, cost, limits)
        seed = self.seed if self.seed is not None else runner.cfg.get('randomness', {}).get('seed', 0)
        seed = 0 if seed is None else seed
        rank, world = get_rank(), get_world_size()
        from ...strategies.driver import STATE_FILE, TRIALS_FILE
        if not self.resume and any(osp.exists(osp.join(runner.work_dir, f))
                                   for f in (STATE_FILE, TRIALS_FILE)):
            raise ValueError(f'{runner.work_dir} already holds a search: continue it with '
                             '--resume, or choose another --work-dir')
        strategy = self.strategy_cfg
        if getattr(STRATEGIES.get(strategy['type']), 'multi_objective', False):
            if module is None:  # FLOPs, the second objective, need the searchable module
                raise ValueError(f'train_cfg.strategy: {strategy["type"]} minimises FLOPs '
                                 'beside the reward and needs a searchable module in the model')
            objective = self.cost_objective
            strategy = build_strategy(strategy, space, seed=seed, max_trials=self.max_trials,
                                      constraint=constraint, cost=lambda g: cost(g)[objective])
        driver = SearchDriver(space, strategy, work_dir=runner.work_dir, seed=seed,
                              max_trials=self.max_trials, constraint=constraint, rank=rank,
                              log=self.log, on_error=self.on_error)
        evaluator = build_evaluator(self.evaluator_cfg, runner, modules=modules)
        where = f'model.{name}' if module is not None else 'child networks'
        self.log(f'[search] space {space.name} ({len(space)} decisions, {space.size():.3g} '
                 f'architectures) on {where}; strategy {self.strategy_cfg["type"]}; '
                 f'evaluator {self.evaluator_cfg["type"]}; {world} rank(s)')

        def evaluate_one(g):
            t0 = time.time()
            res = Result.of(driver.call(evaluator, g))  # a raise: a failed trial (on_error)
            res.cost = {**cost(g), **res.cost, 'seconds': round(time.time() - t0, 3)}
            return res

        def evaluate_batch(genotypes, report):
            mine = list(range(rank, len(genotypes), world))
            local = {}
            for i in mine:
                local[i] = evaluate_one(genotypes[i])
                report(i, local[i])
                extra = ''.join(f', {k} {_fmt(local[i].cost[k])}' for k in ('flops', 'params')
                                if k in local[i].cost)
                if 'latency' in local[i].cost:
                    extra += f', latency {local[i].cost["latency"]:.3f} ms'
                self.log(f'[search] rank {rank}: {genotypes[i]}: reward {local[i].reward:.4g}'
                         f'{extra}')
            if world == 1:
                return [local[i] for i in range(len(genotypes))]
            gathered = all_gather_object({i: (r.reward, r.metrics, r.cost) for i, r in local.items()})
            merged = {i: Result(*v) for part in gathered for i, v in part.items()}
            return [merged[i] for i in range(len(genotypes))]

        watch = SearchScalars.for_runner(runner)  # trials -> the configured vis_backends

        def on_batch(drv, records):
            watch(drv.trials)
            if module is not None and rank == 0:  # reward against FLOPs
                write_pareto(drv.trials, runner.work_dir, self.cost_objective,
                             getattr(evaluator, 'metric', 'reward'))
            if self.plot and rank == 0:
                metric = getattr(evaluator, 'metric', 'reward')
                plot_search(drv.trials, runner.work_dir, reward_name=metric,
                            cost_key='flops' if module is not None else None,
                            title=f'{space.name} search')
                plot_rewards(drv.trials, runner.work_dir, reward_name=metric,
                             title=f'{space.name} search')
                best = drv.strategy.best()
                if best is not None:
                    plot_genotype(best[0], osp.join(runner.work_dir, 'best_genotype.png'),
                                  title=f'best {space.name} ({metric} {best[1]:.4g})')

        best = driver.run(evaluate_batch, on_batch=on_batch)
        if best is None:
            raise RuntimeError('the search found no candidate with a finite reward')
        g, reward = best
        summary = {'best': str(g), 'reward': reward, 'cost': cost(g), 'trials': len(driver.trials)}
        if hasattr(evaluator, 'timing') and evaluator.timing['n']:
            t = evaluator.timing
            summary['seconds_per_candidate'] = {k: round(v / t['n'], 3)
                                                for k, v in t.items() if k != 'n'}
        if self.compare_random:
            summary['random_paths'] = self._compare_random(space, cost, evaluate_one, g, seed,
                                                           rank, world)
        if rank == 0:
            with open(osp.join(runner.work_dir, 'search_summary.json'), 'w') as f:
                json.dump(summary, f, indent=2)
        flops = f', flops {_fmt(cost(g)["flops"])}' if module is not None else ''
        if table is not None:
            flops += f', latency {cost(g)["latency"]:.3f} ms'
        self.log(f'[search] best {g}: reward {reward:.4g}{flops}; '
                 f'{len(driver.trials)} trials; files in {runner.work_dir}')
        if 'random_paths' in summary:
            rp = summary['random_paths']
            band = ' of similar FLOPs' if rp['flops_band'] else ''
            self.log(f'[search] random paths{band} ({rp["n"]}): mean reward '
                     f'{rp["mean"]:.4g} (best found: {reward:.4g})')
        if module is not None:
            module.set_choices(g)
        return runner.model

    def _latency_table(self, module, name):
        """The :class:`LatencyTable` of ``train_cfg.latency_table``, checked against the
        searchable module, or None."""
        if self.latency_table is None:
            return None
        from ...models.latency import LatencyTable
        if module is None or not hasattr(module, 'path_cost') or not hasattr(module, 'arch') \
                or not hasattr(module, 'widen_factor'):
            raise ValueError('train_cfg.latency_table: latency tables cover DetNAS '
                             'ShuffleNetV2 backbones; the model has no such searchable module')
        table = LatencyTable.load(self.latency_table, 'train_cfg.latency_table')
        table.check_backbone(module.arch, module.widen_factor,
                             getattr(module, 'with_last_conv', False), 'train_cfg.latency_table')
        self.log(f'[search] latency table {self.latency_table}: {table.describe()}')
        return table

    def _check_limit(self, space, cost, limits: dict):
        """Fail before any evaluation when no sampled candidate meets the limits."""
        rng = random.Random(0)
        costs = [cost(space.sample(rng)) for _ in range(200)]
        for key, limit in limits.items():
            vals = [c[key] for c in costs]
            if min(vals) > limit:
                what = (f'{_fmt(limit)} FLOPs at {self.cost_input_shape}' if key == 'flops'
                        else f'{limit:g} ms')
                lo, hi = ((_fmt(min(vals)), _fmt(max(vals))) if key == 'flops'
                          else (f'{min(vals):.3f} ms', f'{max(vals):.3f} ms'))
                raise ValueError(f'train_cfg.max_{key}: no candidate meets {what} (200 random '
                                 f'paths cost {lo} to {hi}); raise the limit')
        if len(limits) > 1 and not any(all(c[k] <= v for k, v in limits.items()) for c in costs):
            raise ValueError('train_cfg.max_flops / max_latency: no one of 200 random paths '
                             'meets both limits; raise one of them')

    def _compare_random(self, space, cost, evaluate_one, best, seed, rank, world):
        target = cost(best).get('flops')  # None without a searchable module: any path
        rng = random.Random(seed + 12345)
        picks, tries = [], 0
        while len(picks) < self.compare_random and tries < 100000:
            tries += 1
            g = space.sample(rng)
            near = target is None or abs(cost(g)['flops'] - target) <= self.compare_tolerance * target
            if near and str(g) != str(best) and all(str(g) != str(p) for p in picks):
                picks.append(g)
        rewards = {}
        for i in range(rank, len(picks), world):
            rewards[i] = evaluate_one(picks[i]).reward
        if world > 1:
            rewards = {i: r for part in all_gather_object(rewards) for i, r in part.items()}
        vals = [rewards[i] for i in range(len(picks))]
        finite = [v for v in vals if v == v]
        return {'n': len(picks), 'rewards': vals,
                'mean': sum(finite) / len(finite) if finite else float('nan'),
                'flops_band': None if target is None else
                [target * (1 - self.compare_tolerance), target * (1 + self.compare_tolerance)]}

def _searchable_config(model_cfg):
    """``(path, config)`` of the first sub-config of ``model_cfg`` whose registered class
    is searchable (has ``search_space`` and ``set_choices``), or None."""
    from mmengine.registry import MODELS
    stack = [('model', model_cfg)]
    while stack:
        path, c = stack.pop(0)
        if isinstance(c, dict):
            t = c.get('type')
            cls = MODELS.get(t) if isinstance(t, str) else None
            if cls is not None and hasattr(cls, 'search_space') and hasattr(cls, 'set_choices'):
                return path, c
            stack += [(f'{path}.{k}', v) for k, v in c.items() if isinstance(v, (dict, list))]
        elif isinstance(c, list):
            stack += [(f'{path}[{i}]', v) for i, v in enumerate(c)]
    return None


def check_search_config(cfg) -> None:
    """Dry-check the search of ``cfg`` (a phase config whose ``train_cfg`` is a
    ``SearchLoop``) in seconds, before any phase trains: unknown keys, the plain
    settings, the evaluator's type and keywords, and the strategy, built on the space
    searched (``train_cfg.search_space``, else the searchable module of the model, built
    on the CPU). One-line ``ValueError`` naming the bad key."""
    import inspect
    from mmengine.registry import MODELS
    from ...strategies.base import build_strategy
    from ..evaluators import EVALUATORS
    tc = cfg.train_cfg.to_dict() if hasattr(cfg.train_cfg, 'to_dict') else dict(cfg.train_cfg)
    tc.pop('type', None)
    params = inspect.signature(SearchLoop.__init__).parameters
    allowed = sorted(k for k in params if k not in ('self', 'runner', 'dataloader'))
    for k in tc:
        if k not in allowed:
            raise ValueError(f'train_cfg.{k}: not a setting of SearchLoop; allowed values: '
                             f'{allowed}')
    for k in ('strategy', 'evaluator'):
        if k not in tc:
            raise ValueError(f'train_cfg.{k}: missing (SearchLoop needs a {k})')
    check_search_args(**tc)
    ev = tc['evaluator']
    if not isinstance(ev, dict) or 'type' not in ev:
        raise ValueError(f'train_cfg.evaluator: a dict with a "type" key is expected, got {ev!r}')
    if ev['type'] not in EVALUATORS:
        raise ValueError(f'train_cfg.evaluator.type: {ev["type"]!r} is not allowed; allowed '
                         f'values: {sorted(EVALUATORS)}')
    sig = inspect.signature(EVALUATORS[ev['type']].__init__)
    for k in ev:
        if k != 'type' and k not in sig.parameters or k in ('self', 'runner', 'modules'):
            names = sorted(p for p in sig.parameters if p not in ('self', 'runner', 'modules'))
            raise ValueError(f'train_cfg.evaluator.{k}: not a setting of {ev["type"]}; '
                             f'allowed values: {names}')
    strategy = strategy_config(tc['strategy'])
    space = None
    if tc.get('search_space'):
        space = build_space(tc['search_space'])
    else:
        found = _searchable_config(cfg.get('model'))
        if found is not None:
            path, sub = found
            try:
                module = MODELS.build(sub)
                space = module.search_space
            except Exception as e:  # noqa: BLE001
                raise ValueError(f'{path}: the searchable module does not build '
                                 f'({type(e).__name__}: {e})') from None
            if tc.get('latency_table') and hasattr(module, 'arch'):
                from ...models.latency import LatencyTable  # read and matched before training
                LatencyTable.load(tc['latency_table'], 'train_cfg.latency_table').check_backbone(
                    module.arch, module.widen_factor, getattr(module, 'with_last_conv', False),
                    'train_cfg.latency_table')
    if space is None:  # no space to build it on: the type and keywords at least
        _load_neural()
        if strategy['type'] not in STRATEGIES:
            raise ValueError(f'train_cfg.strategy.type: {strategy["type"]!r} is not allowed; '
                             f'allowed values: {sorted(STRATEGIES)}')
        return
    try:
        build_strategy(strategy, space, seed=tc.get('seed') or 0,
                       max_trials=tc.get('max_trials'))
    except ValueError as e:
        msg = str(e)
        raise ValueError(f'train_cfg.{msg}' if msg.startswith('strategy')
                         else f'train_cfg.strategy.{msg}') from None
