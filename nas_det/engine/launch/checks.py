"""Checks of a config's inputs that fail fast, before any long work starts."""
from __future__ import annotations

import json
import os.path as osp

COCO_KEYS = ('images', 'annotations', 'categories')
FULL_PARSE_LIMIT = 64 * 2 ** 20  # parse annotation files up to 64 MB; larger: cheap checks


def check_coco_annotation(path: str, field: str) -> None:
    """Raise ``ValueError`` naming ``field`` when ``path`` is not a COCO annotation file."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{field}: annotation file {path} does not exist (build the '
                                'embedded set with `python tools/make_data.py all`, or point '
                                'data_root / ann_file at your COCO files)')
    with open(path, 'rb') as f:
        head = f.read(1).lstrip()
    if head != b'{':
        raise ValueError(f'{field}: {path} is not a COCO annotation file (not a JSON object)')
    if osp.getsize(path) > FULL_PARSE_LIMIT:
        return
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'{field}: {path} is not valid JSON ({e})') from None
    missing = [k for k in COCO_KEYS if not isinstance(data.get(k), list)]
    if missing:
        raise ValueError(f'{field}: {path} is not a COCO annotation file: it lacks the lists '
                         f'{missing} (a COCO file has "images", "annotations" and "categories")')
    empty = [k for k in COCO_KEYS if not data[k] and (k != 'annotations' or
                                                      field.startswith('train'))]
    if empty:
        raise ValueError(f'{field}: {path}: the lists {empty} are empty (a COCO file needs '
                         'images and categories, and a training set annotations)')
    for i, a in enumerate(data['annotations'][:1000]):
        if not (isinstance(a.get('bbox'), list) and len(a['bbox']) == 4):
            raise ValueError(f'{field}: {path}: annotations[{i}] has no [x, y, w, h] "bbox"')


def _dataset_ann_files(ds: dict):
    if not isinstance(ds, dict):
        return
    if 'dataset' in ds:  # wrappers (RepeatDataset, ...)
        yield from _dataset_ann_files(ds['dataset'])
    for sub in ds.get('datasets', []) or []:
        yield from _dataset_ann_files(sub)
    if 'Coco' in str(ds.get('type', '')) and ds.get('ann_file'):
        root = ds.get('data_root') or ''
        yield osp.join(root, ds['ann_file'])


def check_data(cfg) -> None:
    """Check the COCO annotation files a (detection) config reads."""
    for name in ('train_dataloader', 'val_dataloader'):
        dl = cfg.get(name)
        if isinstance(dl, dict):
            for path in _dataset_ann_files(dl.get('dataset', {})):
                check_coco_annotation(path, f'{name}.dataset.ann_file')
    ev = cfg.get('val_evaluator')
    for e in (ev if isinstance(ev, list) else [ev]):
        if isinstance(e, dict) and 'Coco' in str(e.get('type', '')) and e.get('ann_file'):
            check_coco_annotation(e['ann_file'], 'val_evaluator.ann_file')


def check_val_annotations(cfg, where: str = '') -> None:
    """Refuse a COCO ``val_evaluator`` whose ``ann_file`` is not the annotation file of
    the ``val_dataloader``'s ``CocoDataset``: the metric would score the predictions of
    one set's images against another set's boxes (same image ids, other images)."""
    dl, ev = cfg.get('val_dataloader'), cfg.get('val_evaluator')
    if not isinstance(dl, dict) or not isinstance(ev, dict) or 'Coco' not in str(ev.get('type')):
        return
    data = list(_dataset_ann_files(dl.get('dataset', {})))
    if len(data) != 1 or not ev.get('ann_file'):
        return
    if osp.abspath(data[0]) != osp.abspath(ev['ann_file']):
        raise ValueError(f'{where}val_evaluator.ann_file: {ev["ann_file"]} is not the '
                         f'annotation file of val_dataloader.dataset ({data[0]}); set both to '
                         'the same set')
