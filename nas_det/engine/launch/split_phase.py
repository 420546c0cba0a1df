"""Phase ``split``: hold images out of the training annotations before a supernet trains.

A config that searches on held-out training images (never on val) names
``dict(type='split')`` first in its ``phases`` and describes the split at the top level::

    heldout_split = dict(
        data_root='data/coco/',                                  # prefix of the three files
        ann_file='annotations/instances_train2017.json',         # the training annotations
        heldout='annotations/instances_train2017_search-heldout.json',
        rest='annotations/instances_train2017_search-rest.json',
        num_images=5000, seed=0)

The phase writes both parts with :func:`nas_det.data.split.split_coco_file` (skipped when
they are up to date), so a fresh clone needs no extra step; the later phases point their
dataloaders at them (supernet training on ``rest``, candidates scored on ``heldout``).
"""
from __future__ import annotations

import os.path as osp

from ...data.split import split_coco_file

SPLIT_KEYS = ('data_root', 'ann_file', 'heldout', 'rest', 'num_images', 'seed')


def heldout_paths(spec) -> dict:
    """``{'ann_file', 'heldout', 'rest'}`` of a ``heldout_split`` dict, joined to its
    ``data_root``; a one-line ``ValueError`` naming the bad key."""
    if not isinstance(spec, dict):
        raise ValueError(f"heldout_split: a dict with the keys {list(SPLIT_KEYS)} is expected "
                         f"(the split phase reads it), got {spec!r}")
    unknown = sorted(set(spec) - set(SPLIT_KEYS))
    if unknown:
        raise ValueError(f'heldout_split.{unknown[0]}: not a key of heldout_split; allowed '
                         f'keys: {list(SPLIT_KEYS)}')
    root = spec.get('data_root') or ''
    out = {}
    for key in ('ann_file', 'heldout', 'rest'):
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise ValueError(f'heldout_split.{key}: a file path is expected, got '
                             f'{spec.get(key)!r}')
        out[key] = osp.join(root, spec[key])
    return out


def split_phase(cfg, ctx) -> dict:
    """Write the held-out part and the rest of ``heldout_split.ann_file`` (rank 0; the
    other ranks wait)."""
    from mmengine.dist import barrier, get_rank
    spec = cfg.get('heldout_split', None)
    paths = heldout_paths(spec.to_dict() if hasattr(spec, 'to_dict') else spec)
    out = None
    if get_rank() == 0:
        out = split_coco_file(paths['ann_file'], paths['heldout'], paths['rest'],
                              num_images=spec.get('num_images', 5000),
                              seed=spec.get('seed', 0))
    barrier()
    if out is None:
        return {'heldout': paths['heldout'], 'rest': paths['rest']}
    return {'heldout': paths['heldout'], 'rest': paths['rest'],
            'heldout_images': out['heldout']['images'], 'rest_images': out['rest']['images'],
            'source_images': out['source_images']}
