"""The reward / cost Pareto front of a search, as ``pareto.json`` (no torch, no mmengine)."""
from __future__ import annotations

import json
import os
import os.path as osp

from .plots import _finite, pareto_front

PARETO_FILE = 'pareto.json'


def front_records(records: list, cost_key: str) -> list:
    """The trial records on the front of higher reward and lower ``cost[cost_key]``
    (failed trials and trials without that cost left out), cheapest first."""
    recs = [r for r in records if _finite(r.get('reward')) is not None
            and _finite(r.get('cost', {}).get(cost_key)) is not None]
    pts = [(float(r['cost'][cost_key]), float(r['reward'])) for r in recs]
    return [recs[i] for i in pareto_front(pts)]


def write_pareto(records: list, work_dir: str, cost_key: str = 'flops',
                 reward_name: str = 'reward') -> str | None:
    """Write ``pareto.json`` in ``work_dir``: the front's genotypes with their reward and
    cost, cheapest first (atomically). Returns the path, or None when no trial has a
    finite reward and that cost."""
    front = front_records(records, cost_key)
    if not front:
        return None
    doc = {'reward': reward_name, 'cost': cost_key, 'trials': len(records),
           'front': [{'key': r['key'], 'genotype': r['genotype'], 'reward': float(r['reward']),
                      cost_key: r['cost'][cost_key], 'cost': r['cost'],
                      'metrics': r.get('metrics', {})} for r in front]}
    path = osp.join(work_dir, PARETO_FILE)
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(doc, f, indent=2)
    os.replace(tmp, path)
    return path
