"""Phases that ``tools/search.py`` runs in the order a config names them.

A config may hold ``phases = ['train', 'search', 'export']`` (strings, or dicts
``dict(type='train', **config_overrides)``). Without a ``phases`` key a config is a plain
training run (``['train']``). Each phase is a function ``(cfg, ctx) -> dict`` registered
with :func:`register_phase`; ``ctx`` carries the command-line arguments, the work dir of
the whole run and what earlier phases returned (for example ``ctx.outputs['train']
['checkpoint']``). With more than one phase each runs in its own sub-folder of the work
dir. A finished phase writes ``<phase work dir>/phase_done.json``; with ``--resume`` a
finished phase is skipped and an unfinished one resumes where it stopped; without it, a
work dir that holds a started or finished phase is refused. Every phase's settings are
checked before the first one starts (:func:`check_phases`).

The phases: ``train`` and ``search`` (here: a Runner each), ``split``
(:mod:`.split_phase`), ``export``, ``export_genotype``, ``cell_export`` and ``morphnet``
(:mod:`nas_det.engine.export`); a plugin adds its own with :func:`register_phase`.
"""
from __future__ import annotations

import copy
import json
import os
import os.path as osp
from dataclasses import dataclass, field

from ..export import cell_export_phase, export_genotype_phase, export_phase, morphnet_phase
from .split_phase import split_phase

PHASES: dict = {}


def register_phase(name: str):
    """Decorator: register ``fn(cfg, ctx) -> dict`` as the phase ``name``."""
    def deco(fn):
        PHASES[name] = fn
        return fn
    return deco


@dataclass
class PhaseContext:
    work_dir: str
    resume: bool = False
    outputs: dict = field(default_factory=dict)
    args: object = None


# Phase overrides that may name a top-level dict of the config instead of holding one:
# ``train_cfg`` is then replaced by it, the others get it merged in (e.g. a search phase's
# ``val_dataloader='on_heldout'``: the held-out annotation file over the config's loader).
REFERENCE_KEYS = ('train_cfg', 'model', 'train_dataloader', 'val_dataloader', 'val_evaluator')


def _resolve_references(cfg, over: dict, i: int) -> dict:
    """``dict(type='search', train_cfg='search_cfg')`` reads the top-level ``search_cfg``
    when the phases run, so a config that inherits this one changes the search by
    overriding ``search_cfg`` (an inline ``dict(**search_cfg)`` is expanded when the base
    file is read, and a child's changes never reach it)."""
    over = dict(over)
    for key in REFERENCE_KEYS:
        ref = over.get(key)
        if not isinstance(ref, str):
            continue
        target = cfg.get(ref, None)
        if not isinstance(target, dict):
            raise ValueError(f'phases[{i}].{key}: {ref!r} names no top-level dict of the '
                             f'config (got {type(target).__name__})')
        target = copy.deepcopy(target.to_dict() if hasattr(target, 'to_dict') else target)
        over[key] = dict(_delete_=True, **target) if key == 'train_cfg' else target
    return over


def check_reference_options(cfg, options: dict | None) -> None:
    """Refuse ``--cfg-options phases.<i>.train_cfg.<...>`` when that phase names its
    ``train_cfg`` (or ``model``): the setting belongs to the named dict."""
    phases = cfg.get('phases', None)
    if not isinstance(phases, (list, tuple)):
        return
    for key in options or {}:
        parts = key.split('.')
        if len(parts) < 4 or parts[0] != 'phases' or not parts[1].isdigit() \
                or parts[2] not in REFERENCE_KEYS or int(parts[1]) >= len(phases):
            continue
        phase = phases[int(parts[1])]
        name = phase.get(parts[2]) if isinstance(phase, dict) else None
        if isinstance(name, str):
            raise ValueError(f'--cfg-options {key}: phases[{parts[1]}].{parts[2]} names the '
                             f'top-level {name!r}; set {name}.{".".join(parts[3:])} instead')


def normalize_phases(cfg) -> list:
    """``[(name, overrides)]`` from ``cfg.phases``, with clear errors."""
    raw = cfg.get('phases', None) or ['train']
    if isinstance(raw, (str, dict)):
        raw = [raw]
    out = []
    for i, p in enumerate(raw):
        if isinstance(p, str):
            name, over = p, {}
        elif isinstance(p, dict) and 'type' in p:
            over = {k: v for k, v in p.items() if k != 'type'}
            name = p['type']
        else:
            raise ValueError(f'phases[{i}]: a phase name or dict(type=NAME, ...) is expected, '
                             f'got {p!r}')
        if name not in PHASES:
            raise ValueError(f'phases[{i}]: {name!r} is not allowed; allowed values: '
                             f'{sorted(PHASES)}')
        out.append((name, _resolve_references(cfg, over, i)))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f'phases: each phase may appear once, got {names}')
    return out


def phase_config(cfg, overrides: dict, work_dir: str):
    """A deep copy of ``cfg`` with the phase's overrides merged and its work dir set."""
    pcfg = copy.deepcopy(cfg)
    if overrides:
        # a copy: mmengine's merge pops `_delete_` out of the dicts it is given, and the
        # same overrides are merged twice (dry check before the first phase, then the run)
        pcfg.merge_from_dict(copy.deepcopy(overrides), allow_list_keys=True)
    pcfg.work_dir = work_dir
    pcfg.pop('phases', None)
    return pcfg


def check_phases(cfg, phases: list, ctx: PhaseContext) -> None:
    """Before the first phase starts: refuse to redo a phase that a run into the same
    work dir already started or finished (without ``--resume``), and dry-check the
    settings of every phase (a search's strategy, evaluator and limits), so a bad value
    fails in seconds, not after hours of training."""
    for name, over in phases:
        wd = phase_work_dir(ctx.work_dir, phases, name)
        if not ctx.resume:
            done = osp.join(wd, 'phase_done.json')
            started = osp.join(wd, 'last_checkpoint') if name == 'train' else None
            for f, what in ((done, 'finished'), (started, 'started')):
                if f and osp.isfile(f):
                    raise ValueError(f'{wd} already holds a {what} {name!r} phase ({f}): '
                                     'continue it with --resume, or choose another --work-dir')
        pcfg = phase_config(cfg, over, wd)
        tc = pcfg.get('train_cfg')
        if isinstance(tc, dict) and tc.get('type') == 'SearchLoop':
            from ..runner.search_loop import check_search_config
            try:
                check_search_config(pcfg)
            except ValueError as e:
                raise ValueError(f'phase {name!r}: {e}') from None


def _log(msg: str) -> None:
    """``msg`` to mmengine's current logger: the console, and the run's log file once a
    Runner made one."""
    from mmengine.logging import print_log
    print_log(msg, logger='current')


def phase_work_dir(work_dir: str, phases: list, name: str) -> str:
    return work_dir if len(phases) == 1 else osp.join(work_dir, name)


def run_phases(cfg, ctx: PhaseContext) -> dict:
    from mmengine.dist import get_rank
    phases = normalize_phases(cfg)
    check_phases(cfg, phases, ctx)
    for name, over in phases:
        wd = phase_work_dir(ctx.work_dir, phases, name)
        marker = osp.join(wd, 'phase_done.json')
        if ctx.resume and osp.isfile(marker):
            with open(marker) as f:
                ctx.outputs[name] = json.load(f)
            _log(f'[nas_det] phase {name!r}: already finished, skipping ({marker})')
            continue
        _log(f'[nas_det] phase {name!r}: work dir {wd}')
        out = PHASES[name](phase_config(cfg, over, wd), ctx) or {}
        ctx.outputs[name] = out
        if get_rank() == 0:
            os.makedirs(wd, exist_ok=True)
            tmp = marker + '.tmp'
            with open(tmp, 'w') as f:
                json.dump(out, f, indent=2, sort_keys=True)
            os.replace(tmp, marker)
        for k, v in out.items():
            _log(f'[nas_det] phase {name!r}: {k}: {v}')
    return ctx.outputs


def last_checkpoint(work_dir: str) -> str | None:
    """The checkpoint mmengine's CheckpointHook recorded last in ``work_dir``."""
    f = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(f):
        with open(f) as fh:
            path = fh.read().strip()
        return path if osp.isfile(path) else None
    return None


@register_phase('train')
def train_phase(cfg, ctx: PhaseContext) -> dict:
    """Plain mmengine training of ``cfg`` (a supernet, a subnet, any model).

    Starts from the previous phase's checkpoint when the config sets
    ``load_from='previous'``.
    """
    from mmengine.runner import Runner
    _resolve_load_from(cfg, ctx)
    if ctx.resume:
        cfg.resume = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    return {'checkpoint': last_checkpoint(cfg.work_dir)}


def _resolve_load_from(cfg, ctx: PhaseContext) -> None:
    """``load_from='previous'`` -> the last checkpoint an earlier phase produced; a local
    ``load_from`` that does not exist fails here, before anything is built."""
    if cfg.get('load_from') == 'previous':
        prev = [o.get('checkpoint') for o in ctx.outputs.values() if o.get('checkpoint')]
        if not prev:
            raise ValueError("load_from='previous': no earlier phase produced a checkpoint")
        cfg.load_from = prev[-1]
    lf = cfg.get('load_from')
    if lf and '://' not in lf and not osp.isfile(lf):
        raise FileNotFoundError(f'load_from: checkpoint {lf} does not exist (train the supernet '
                                'first, or point load_from at its checkpoint)')


def untrained_search(cfg) -> bool:
    """True when a search would score the weights of a model that nothing loaded: no
    ``load_from``, and an evaluator that uses the runner's model (not one that trains
    children of its own, ``trains_children = True``, as ``ProxyTrainEvaluator``)."""
    from ..evaluators import EVALUATORS
    evaluator = EVALUATORS.get(str((cfg.train_cfg.get('evaluator') or {}).get('type')))
    return not cfg.get('load_from') and not getattr(evaluator, 'trains_children', False)


@register_phase('search')
def search_phase(cfg, ctx: PhaseContext) -> dict:
    """Search with ``train_cfg=dict(type='SearchLoop', ...)`` on the model of ``load_from``
    (``'previous'``: the supernet the train phase produced)."""
    from mmengine.runner import Runner
    if not isinstance(cfg.get('train_cfg'), dict) or cfg.train_cfg.get('type') != 'SearchLoop':
        raise ValueError("phase 'search': train_cfg must be dict(type='SearchLoop', ...)")
    _resolve_load_from(cfg, ctx)
    from .checks import check_val_annotations
    check_val_annotations(cfg, "phase 'search': ")
    if untrained_search(cfg):
        _log('[nas_det] phase search: no load_from: searching an untrained model')
    cfg.train_cfg.resume = ctx.resume
    cfg.resume = False
    # the sampling hook trains supernets; the search sets paths itself
    cfg.custom_hooks = [h for h in cfg.get('custom_hooks', []) if h.get('type') != 'UniformSamplingHook']
    cfg.default_hooks = dict(cfg.get('default_hooks', {}), checkpoint=None)
    runner = Runner.from_cfg(cfg)
    runner.train()
    out = {'best_genotype': osp.join(cfg.work_dir, 'best_genotype.json'),
           'search_summary': osp.join(cfg.work_dir, 'search_summary.json'),
           'supernet_checkpoint': cfg.get('load_from')}
    if osp.isfile(out['search_summary']):
        with open(out['search_summary']) as f:
            summary = json.load(f)
        out['best'] = summary['best']
        out['best_reward'] = summary['reward']
        out['best_flops'] = summary['cost'].get('flops')
        if 'random_paths' in summary:
            out['random_paths_mean_reward'] = summary['random_paths']['mean']
            out['random_paths'] = summary['random_paths']['n']
    return out


for _name, _fn in (('export', export_phase), ('export_genotype', export_genotype_phase),
                   ('cell_export', cell_export_phase), ('split', split_phase),
                   ('morphnet', morphnet_phase)):
    register_phase(_name)(_fn)
del _name, _fn
