"""Hold images out of a COCO annotation file, for a search that never sees val (stdlib only).

DetNAS (and single-path one-shot NAS before it) scores candidate architectures on images
held out of the *training* set: the official DetNAS code trains the supernet on COCO
train minus 5,000 images and ranks paths by their mAP on those 5,000, so that val stays
untouched until the final, retrained model. :func:`split_coco` makes that split:

* by image: ``num_images`` images go to the held-out part, the others to the rest, and
  every annotation follows its image;
* deterministic: an image's side depends only on its id and ``seed`` (a SHA-256 rank), not
  on the Python version or the order of the file;
* everything that is not ``images`` / ``annotations`` (``categories``, ``licenses``,
  ``info``, ...) is copied into both parts unchanged, and each part gets a top-level
  ``split`` record (source file hash, seed, sizes) that COCO tools ignore.

:func:`split_coco_file` writes both parts (atomically; skipped when they are up to date
with the same source and settings) and refuses to overwrite a file it did not write.
A file that is not COCO gets a one-line ``ValueError`` naming the file and the field.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

SPLIT_VERSION = 1
COCO_LISTS = ('images', 'annotations', 'categories')
PARTS = ('heldout', 'rest')


def _not_coco(path: str, what: str) -> ValueError:
    return ValueError(f'{path}: not a COCO annotation file: {what}')


def check_coco(data: Any, path: str = '<data>') -> None:
    """Raise ``ValueError`` (naming ``path`` and the field) unless ``data`` is a COCO
    annotation dict whose images have unique ids and whose annotations name them."""
    if not isinstance(data, dict):
        raise _not_coco(path, f'the top level is a JSON {type(data).__name__}, a JSON object '
                        'with "images", "annotations" and "categories" lists is expected')
    for key in COCO_LISTS:
        if key not in data:
            raise _not_coco(path, f'field {key!r} is missing (a COCO file has the lists '
                            f'{list(COCO_LISTS)})')
        if not isinstance(data[key], list):
            raise _not_coco(path, f'field {key!r} is a {type(data[key]).__name__}, a list is '
                            'expected')
    ids = set()
    for i, im in enumerate(data['images']):
        if not isinstance(im, dict) or 'id' not in im:
            raise _not_coco(path, f'images[{i}] has no "id"')
        if im['id'] in ids:
            raise _not_coco(path, f'images[{i}].id: {im["id"]!r} is used by two images')
        ids.add(im['id'])
    for i, ann in enumerate(data['annotations']):
        if not isinstance(ann, dict) or 'image_id' not in ann:
            raise _not_coco(path, f'annotations[{i}] has no "image_id"')
        if ann['image_id'] not in ids:
            raise _not_coco(path, f'annotations[{i}].image_id: {ann["image_id"]!r} is not the '
                            'id of an image of the file')


def _rank(image_id: Any, seed: int) -> str:
    return hashlib.sha256(f'{seed}:{image_id!r}'.encode()).hexdigest()


def _check_int(field: str, value: Any, lo: int, hi: int, note: str = '') -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f'{field}: {value!r} is not allowed; allowed values: integers in '
                         f'[{lo}, {hi}]{note}')
    return value


def split_coco(data: dict, num_images: int, seed: int = 0, path: str = '<data>',
               record: dict | None = None) -> dict[str, dict]:
    """Split a COCO annotation dict by image into ``{'heldout': ..., 'rest': ...}``.

    Args:
        data (dict): the COCO annotation dict (not modified).
        num_images (int): images held out, in [1, number of images - 1].
        seed (int): seed of the choice (>= 0). Defaults to 0.
        path (str): name of the source in error messages. Defaults to '<data>'.
        record (dict, optional): extra items of each part's ``split`` record.

    Returns:
        dict: both parts, each a COCO dict with the images (and their annotations) in the
        source's order, every other top-level field copied, and a ``split`` record.
    """
    check_coco(data, path)
    n = len(data['images'])
    if n < 2:
        raise ValueError(f'{path}: field "images" holds {n} image(s); at least 2 are needed '
                         'to split')
    _check_int('num_images', num_images, 1, n - 1,
               f' ({path} has {n} images, and the rest must keep at least one)')
    _check_int('seed', seed, 0, 2 ** 63 - 1)
    order = sorted(data['images'], key=lambda im: _rank(im['id'], seed))
    held = {im['id'] for im in order[:num_images]}
    out = {}
    for part in PARTS:
        keep = (lambda i: i in held) if part == 'heldout' else (lambda i: i not in held)
        images = [im for im in data['images'] if keep(im['id'])]
        anns = [a for a in data['annotations'] if keep(a['image_id'])]
        body = {k: v for k, v in data.items() if k not in ('images', 'annotations', 'split')}
        out[part] = {'split': {'part': part, 'num_heldout': num_images, 'seed': seed,
                               'source_images': n, 'images': len(images),
                               'annotations': len(anns), 'version': SPLIT_VERSION,
                               **(record or {})},
                     **body, 'images': images, 'annotations': anns}
    return out


def load_coco_file(path: str | os.PathLike) -> tuple[dict, str]:
    """``(data, sha256 of the file)`` of a COCO annotation file, checked (one-line
    ``ValueError`` / ``FileNotFoundError`` naming the file and the field)."""
    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: no such annotation file')
    raw = Path(path).read_bytes()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise _not_coco(path, f'not valid JSON ({e})') from None
    check_coco(data, path)
    return data, hashlib.sha256(raw).hexdigest()


def read_split_record(path: str | os.PathLike) -> dict | None:
    """The ``split`` record of a part written by :func:`split_coco_file` (its first line),
    or None when ``path`` holds something else."""
    try:
        with open(path, encoding='utf-8') as f:
            head = f.readline()
    except (OSError, UnicodeDecodeError):
        return None
    if not head.startswith('{"split": '):
        return None
    try:
        rec = json.loads(head.rstrip().rstrip(',') + '}')['split']
    except (json.JSONDecodeError, KeyError):
        return None
    return rec if isinstance(rec, dict) else None


def _write_part(path: str, part: dict) -> None:
    """The part as JSON with its ``split`` record alone on the first line (so that
    :func:`read_split_record` reads it without parsing the whole file); atomic."""
    body = {k: v for k, v in part.items() if k != 'split'}
    text = (f'{{"split": {json.dumps(part["split"], sort_keys=True)},\n'
            + json.dumps(body, separators=(',', ':'))[1:] + '\n')
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write(text)
    os.replace(tmp, path)


def split_coco_file(src: str | os.PathLike, heldout: str | os.PathLike,
                    rest: str | os.PathLike, num_images: int = 5000, seed: int = 0,
                    force: bool = False) -> dict:
    """Write the held-out part and the rest of the COCO file ``src``.

    Both parts are skipped when they already hold this split of this very source (same
    SHA-256, ``num_images`` and ``seed``). An output that exists but was not written by
    this function is not overwritten unless ``force``.

    Args:
        src: the COCO annotation file to split (e.g. ``instances_train2017.json``).
        heldout: output of the ``num_images`` held-out images.
        rest: output of the other images.
        num_images (int): images held out. Defaults to 5000 (the official DetNAS code).
        seed (int): seed of the choice. Defaults to 0.
        force (bool): rewrite (and overwrite foreign files). Defaults to False.

    Returns:
        dict: ``heldout`` / ``rest`` (path, images, annotations), ``source``,
        ``source_images``, ``skipped``.
    """
    src, outs = str(src), {'heldout': str(heldout), 'rest': str(rest)}
    if os.path.abspath(outs['heldout']) == os.path.abspath(outs['rest']):
        raise ValueError(f'rest: {outs["rest"]!r} is also the held-out file; two different '
                         'paths are expected')
    for part, out in outs.items():
        if os.path.abspath(out) == os.path.abspath(src):
            raise ValueError(f'{part}: {out!r} is the source file; another path is expected')
    data, digest = load_coco_file(src)
    want = {'source_sha256': digest, 'num_heldout': num_images, 'seed': seed,
            'version': SPLIT_VERSION}
    records = {part: read_split_record(out) for part, out in outs.items()}
    summary = {'source': src, 'source_images': len(data['images'])}
    if not force and all(rec is not None and rec.get('part') == part
                         and all(rec.get(k) == v for k, v in want.items())
                         for part, rec in records.items()):
        return dict(summary, skipped=True, **{
            part: {'path': outs[part], 'images': rec['images'],
                   'annotations': rec['annotations']} for part, rec in records.items()})
    if not force:
        for part, out in outs.items():
            if os.path.exists(out) and records[part] is None:
                raise ValueError(f'{part}: {out} exists and was not written by this tool; '
                                 'choose another path or force the overwrite')
    parts = split_coco(data, num_images, seed, src,
                       record={'source': os.path.basename(src), 'source_sha256': digest})
    for part, out in outs.items():
        _write_part(out, parts[part])
    return dict(summary, skipped=False, **{
        part: {'path': outs[part], 'images': len(parts[part]['images']),
               'annotations': len(parts[part]['annotations'])} for part in PARTS})
