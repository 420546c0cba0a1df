"""tools/split_coco.py and nas_det/data/split.py: a deterministic by-image split of a COCO
file into a held-out part and the rest (stdlib only; no torch)."""
import hashlib
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOOL = _load('split_coco_tool', 'tools/split_coco.py')
split = TOOL.load_splitter()


def coco(n_images=20, seed=0):
    """A small COCO dict: image i has i % 3 annotations; ids not in file order."""
    images = [{'id': 1000 - 7 * i, 'file_name': f'{i:06d}.jpg', 'width': 64, 'height': 48}
              for i in range(n_images)]
    anns = []
    for i, im in enumerate(images):
        for k in range(i % 3):
            anns.append({'id': len(anns) + 1, 'image_id': im['id'], 'category_id': 1 + k,
                         'bbox': [1.0, 2.0, 3.0 + k, 4.0], 'area': 4.0 * (3 + k), 'iscrowd': 0})
    return {'info': {'description': 'toy', 'version': '1'},
            'licenses': [{'id': 1, 'name': 'CC0'}],
            'categories': [{'id': c, 'name': str(c), 'supercategory': 'x'} for c in (1, 2, 3)],
            'images': images, 'annotations': anns}


def write(path, data):
    path.write_text(json.dumps(data))
    return path


def test_split_by_image_keeps_the_rest_of_the_file():
    data = coco()
    parts = split.split_coco(data, 6, seed=3)
    held, rest = parts['heldout'], parts['rest']
    ids = [im['id'] for im in data['images']]
    h, r = [im['id'] for im in held['images']], [im['id'] for im in rest['images']]
    assert len(h) == 6 and len(r) == 14
    assert not set(h) & set(r) and set(h) | set(r) == set(ids)  # disjoint, cover
    assert h == [i for i in ids if i in set(h)]  # source order kept
    for part in (held, rest):
        mine = {im['id'] for im in part['images']}
        assert all(a['image_id'] in mine for a in part['annotations'])
        for key in ('info', 'licenses', 'categories'):
            assert part[key] == data[key]
        assert part['split']['images'] == len(part['images'])
    assert sorted(a['id'] for p in (held, rest) for a in p['annotations']) == \
        [a['id'] for a in data['annotations']]
    assert held['split']['part'] == 'heldout' and rest['split']['part'] == 'rest'
    assert data == coco()  # the input is not modified


def test_split_is_deterministic_and_seeded():
    a = split.split_coco(coco(), 6, seed=3)
    assert a == split.split_coco(coco(), 6, seed=3)
    # the same images whatever the file's order: the choice depends on ids and seed only
    shuffled = coco()
    shuffled['images'] = shuffled['images'][::-1]
    held = {im['id'] for im in a['heldout']['images']}
    assert {im['id'] for im in split.split_coco(shuffled, 6, seed=3)['heldout']['images']} == held
    others = [{im['id'] for im in split.split_coco(coco(), 6, seed=s)['heldout']['images']}
              for s in (4, 5)]
    assert held != others[0] or held != others[1]


@pytest.mark.parametrize('data, field', [
    ([1, 2], 'top level is a JSON list'),
    ({'images': [], 'categories': []}, "field 'annotations' is missing"),
    ({'images': {}, 'annotations': [], 'categories': []}, "field 'images' is a dict"),
    ({'images': [{'file_name': 'a.jpg'}], 'annotations': [], 'categories': []},
     'images[0] has no "id"'),
    ({'images': [{'id': 1}, {'id': 1}], 'annotations': [], 'categories': []},
     'images[1].id: 1 is used by two images'),
    ({'images': [{'id': 1}, {'id': 2}], 'annotations': [{'image_id': 9}], 'categories': []},
     'annotations[0].image_id: 9 is not the id'),
    ({'images': [], 'annotations': [], 'categories': []}, 'field "images" holds 0 image(s)'),
])
def test_not_coco_is_refused_naming_the_field(data, field):
    with pytest.raises(ValueError) as e:
        split.split_coco(data, 1, path='x.json')
    msg = str(e.value)
    assert '\n' not in msg and msg.startswith('x.json: ') and field in msg


@pytest.mark.parametrize('n', [0, 20, 21, True, 2.0])
def test_num_images_out_of_range_is_refused(n):
    with pytest.raises(ValueError, match=r'num_images: .* allowed values: integers in \[1, 19\]'
                                         r' \(x.json has 20 images'):
        split.split_coco(coco(), n, path='x.json')


def test_file_split_writes_skips_and_guards(tmp_path):
    src = write(tmp_path / 'train.json', coco())
    held, rest = tmp_path / 'out' / 'h.json', tmp_path / 'out' / 'r.json'
    s = split.split_coco_file(src, held, rest, num_images=5, seed=1)
    assert not s['skipped'] and s['heldout']['images'] == 5 and s['rest']['images'] == 15
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    assert json.loads(held.read_text()) == split.split_coco(
        coco(), 5, seed=1, record={'source': 'train.json', 'source_sha256': digest})['heldout']
    first = held.read_bytes()
    assert split.split_coco_file(src, held, rest, num_images=5, seed=1)['skipped']
    # another seed, or a changed source, rewrites both
    assert not split.split_coco_file(src, held, rest, num_images=5, seed=2)['skipped']
    assert held.read_bytes() != first
    write(src, coco(n_images=21))
    s = split.split_coco_file(src, held, rest, num_images=5, seed=2)
    assert not s['skipped'] and s['rest']['images'] == 16
    # a file it did not write is not overwritten
    foreign = write(tmp_path / 'foreign.json', {'mine': True})
    with pytest.raises(ValueError, match='heldout: .*foreign.json exists and was not written'):
        split.split_coco_file(src, foreign, rest, num_images=5)
    assert json.loads(foreign.read_text()) == {'mine': True}
    with pytest.raises(ValueError, match='rest: .* is also the held-out file'):
        split.split_coco_file(src, held, held, num_images=5)
    with pytest.raises(ValueError, match='heldout: .* is the source file'):
        split.split_coco_file(src, src, rest, num_images=5)


def test_file_errors_name_the_file(tmp_path):
    bad = tmp_path / 'bad.json'
    bad.write_text('{"images": [')
    with pytest.raises(ValueError, match=r'bad.json: not a COCO annotation file: not valid JSON'):
        split.load_coco_file(bad)
    with pytest.raises(FileNotFoundError, match='missing.json: no such annotation file'):
        split.load_coco_file(tmp_path / 'missing.json')


def test_cli(tmp_path, capsys):
    src = write(tmp_path / 'instances_train.json', coco())
    TOOL.main([str(src), '-n', '4', '--seed', '7'])
    out = capsys.readouterr().out
    held = tmp_path / 'instances_train_search-heldout.json'
    rest = tmp_path / 'instances_train_search-rest.json'
    assert f'heldout: {held}: 4 images' in out and f'rest: {rest}: 16 images' in out
    assert 'written' in out
    TOOL.main([str(src), '-n', '4', '--seed', '7'])
    assert 'up to date' in capsys.readouterr().out
    for argv, field in (([str(src), '-n', '25'], 'num_images: 25'),
                        ([str(tmp_path / 'none.json')], 'no such annotation file'),
                        ([str(write(tmp_path / 'l.json', []))], 'top level is a JSON list')):
        with pytest.raises(SystemExit) as e:
            TOOL.main(argv)
        err = capsys.readouterr().err
        assert e.value.code == 2 and field in err and len(err.strip().splitlines()) == 1


def test_digits_set_splits_for_the_search(tmp_path):
    """The embedded detection set's train file splits; mmdet-free."""
    pytest.importorskip('PIL')
    digits = _load('digits_for_split', 'nas_det/data/digits.py')
    out = tmp_path / 'det'
    digits.make_detection_set(out, num_train=10, num_val=2, seed=0)
    ann = out / 'annotations'
    s = split.split_coco_file(ann / 'instances_train.json', ann / 'h.json', ann / 'r.json',
                              num_images=3)
    src = json.loads((ann / 'instances_train.json').read_text())
    h, r = (json.loads((ann / f).read_text()) for f in ('h.json', 'r.json'))
    assert s['heldout']['annotations'] + s['rest']['annotations'] == len(src['annotations'])
    assert {im['file_name'] for im in h['images']} | {im['file_name'] for im in r['images']} \
        == {im['file_name'] for im in src['images']}
