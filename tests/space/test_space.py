"""The concrete search spaces, the published genotypes and the registry (pure, fast)."""
import ast
import json
import random
import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from nas_det.space import (AMOEBA_OPS, LEVELS, NASFPN_7CELL, NASNET_A, NASNET_OPS, PNAS_OPS,
                           PNASNET_5, PUBLISHED, PUBLISHED_SPACES, Assignment, Block, Cell,
                           CellGenotype, CellSpace, DetNASPath, DetNASSpace,
                           MergeCell, NASFPNSpace, Pyramid, Widths, WidthSpace, build_space,
                           genotype_from_dict, get_published, published_space, space_config)

SEEDS = range(40)


def all_spaces():
    return [
        DetNASSpace('300M'),
        DetNASSpace.preset('1.3G'),
        CellSpace(),
        CellSpace(num_blocks=3, ops='amoeba', combine=('add', 'concat')),
        CellSpace(ops='pnas', cells=('normal',), concat='all'),
        CellSpace(num_blocks=2, ops=['sep_conv_3x3', 'my_op'], concat='explicit'),
        NASFPNSpace(),
        NASFPNSpace(num_cells=5, ops=('sum', 'global_pool', 'max')),
        WidthSpace(groups={'stem': [16, 24, 32], 'stage1/block1/mid': [32, 64], 'head': [128]}),
        WidthSpace(max_widths={'stem': 32, 'stage1/block1/mid': 96}),
    ]


# ---- round trips, sampling, mutation, crossover ------------------------------------------
@pytest.mark.parametrize('space', all_spaces(), ids=lambda s: repr(s)[:60])
def test_round_trips_of_samples(space):
    rng = random.Random(0)
    for _ in range(20):
        g = space.sample(rng)
        tokens = space.to_tokens(g)
        assert len(tokens) == len(space.decisions)
        assert space.from_tokens(tokens) == g
        d = g.to_dict()
        assert d['space'] == space.name and d['version'] == 1
        assert space.to_dict(g) == d
        assert type(g).from_dict(json.loads(json.dumps(d))) == g
        assert space.loads(space.dumps(g)) == g
        assert genotype_from_dict(json.loads(space.dumps(g))) == g
        assert str(type(g).from_dict(d)) == str(g)
        assert len(space.features(g)) == sum(space.cardinalities)


@pytest.mark.parametrize('space', all_spaces(), ids=lambda s: repr(s)[:60])
def test_sample_mutate_crossover_always_valid_and_mutate_changes(space):
    for seed in SEEDS:
        rng = random.Random(seed)
        a, b = space.sample(rng), space.sample(rng)
        for g in (a, b, space.mutate(a, rng), space.mutate(a, rng, prob=0.3),
                  space.crossover(a, b, rng)):
            assert space.validate(g) is g
        m = space.mutate(a, rng)
        assert m != a and str(m) != str(a)


@pytest.mark.parametrize('space', all_spaces(), ids=lambda s: repr(s)[:60])
def test_space_rebuilds_from_its_config(space):
    cfg = space_config(space)
    assert cfg['type'] == type(space).__name__
    again = build_space(json.loads(json.dumps(cfg)))
    assert type(again) is type(space) and again.decisions == space.decisions
    assert again.config() == space.config()


def test_sampling_is_seeded():
    for space in all_spaces():
        assert space.sample(random.Random(7)) == space.sample(random.Random(7))


# ---- DetNAS ------------------------------------------------------------------------------
def test_detnas_presets_and_keys():
    s300 = DetNASSpace.preset('300M')
    assert s300.stage_blocks == (4, 4, 8, 4) and len(s300) == 20
    assert DetNASSpace.preset('1.3G').stage_blocks == (8, 8, 16, 8)
    assert len(DetNASSpace.preset('3.8G')) == 40
    assert DetNASSpace([2, 3]).stage_blocks == (2, 3)
    keys = [d.key for d in s300.decisions]
    assert keys[0] == 'stage1/block1' and keys[4] == 'stage2/block1'
    assert keys[-1] == 'stage4/block4'
    assert all(d.kind == 'op' and d.options == ('shuffle3x3', 'shuffle5x5', 'shuffle7x7',
                                                  'xception3x3') for d in s300.decisions)
    assert s300.size() == 4 ** 20
    with pytest.raises(ValueError, match=r"preset: '2G' is not allowed; allowed values: "
                                         r"\['300M', '1.3G', '3.8G'\]"):
        DetNASSpace.preset('2G')


def test_detnas_path_str_and_stages():
    path = DetNASPath.from_stages([['shuffle3x3'] * 4, ['shuffle5x5'] * 4,
                                   ['shuffle7x7'] * 4 + ['xception3x3'] * 4, ['shuffle3x3'] * 4])
    assert path.stage_blocks == (4, 4, 8, 4) and len(path.ops) == 20
    assert path.stages[2] == ('shuffle7x7',) * 4 + ('xception3x3',) * 4
    assert str(path) == 'detnas[4-4-8-4] 3333 5555 7777xxxx 3333'
    assert DetNASSpace().to_tokens(path)[:5] == (0, 0, 0, 0, 1)


def test_detnas_validate_errors():
    space = DetNASSpace('300M')
    ops = ['shuffle3x3'] * 20
    with pytest.raises(ValueError, match=r'ops: expected 20 ops for stage_blocks '
                                         r'\(4, 4, 8, 4\), got 19'):
        DetNASPath((4, 4, 8, 4), ops[:19])
    bad = list(ops)
    bad[6] = 'conv3x3'
    with pytest.raises(ValueError, match=r"stage2/block3: 'conv3x3' is not allowed; allowed "
                                         r"values: \['shuffle3x3'"):
        space.validate(DetNASPath((4, 4, 8, 4), bad))
    with pytest.raises(ValueError, match=r'stage_blocks: \(8, 8, 16, 8\) is not allowed'):
        space.validate(DetNASPath('1.3G', ['shuffle3x3'] * 40))
    with pytest.raises(ValueError, match='a DetNASPath is expected, got Pyramid'):
        space.validate(NASFPN_7CELL)
    d = DetNASPath((4, 4, 8, 4), ops).to_dict()
    with pytest.raises(ValueError, match=r'version: 2 is not allowed; allowed values: \[1\]'):
        space.from_dict({**d, 'version': 2})
    with pytest.raises(ValueError, match=r'version: 2 is not allowed'):
        DetNASPath.from_dict({**d, 'version': 2})
    with pytest.raises(ValueError, match=r"space: 'cells' is not allowed; allowed values: "
                                         r"\['detnas'\]"):
        space.from_dict({**d, 'space': 'cells'})
    with pytest.raises(ValueError, match=r'stage1/block1: token 0.2 out of range \[0, 3\]'):
        space.from_tokens([0.2] + [0] * 19)
    with pytest.raises(ValueError, match='expected 20 tokens, got 3'):
        space.from_tokens([0, 1, 2])


def test_detnas_mutate_with_prob_changes_about_that_many_genes():
    space = DetNASSpace('1.3G')
    rng = random.Random(0)
    g = space.sample(rng)
    changed = [sum(a != b for a, b in zip(g.ops, space.mutate(g, rng, prob=0.1).ops))
               for _ in range(200)]
    assert min(changed) >= 1
    assert 3.0 < sum(changed) / len(changed) < 5.5  # 40 genes * 0.1, at least one


# ---- cells -------------------------------------------------------------------------------
def test_cell_op_vocabularies():
    assert len(NASNET_OPS) == 13 and len(AMOEBA_OPS) == 8 and len(PNAS_OPS) == 8
    assert {'identity', 'conv_1x3_3x1', 'conv_1x7_7x1', 'dil_conv_3x3', 'max_pool_5x5',
            'max_pool_7x7', 'conv_1x1', 'conv_3x3'} <= set(NASNET_OPS)
    assert 'dil_sep_conv_3x3' in AMOEBA_OPS and 'conv_1x7_7x1' in AMOEBA_OPS
    assert 'dil_conv_3x3' in PNAS_OPS and 'conv_1x7_7x1' in PNAS_OPS
    assert CellSpace(ops='amoeba').ops == AMOEBA_OPS
    assert CellSpace(ops=['identity', 'my_op']).ops == ('identity', 'my_op')


def test_cell_decision_order_and_kinds():
    space = CellSpace()
    keys = [d.key for d in space.decisions]
    assert keys[:6] == ['normal/block2/input0', 'normal/block2/input1', 'normal/block2/op0',
                        'normal/block2/op1', 'normal/block3/input0', 'normal/block3/input1']
    assert keys[20] == 'reduce/block2/input0' and len(keys) == 40
    by_key = {d.key: d for d in space.decisions}
    assert by_key['normal/block2/input0'].options == (0, 1)
    assert by_key['reduce/block6/input1'].options == (0, 1, 2, 3, 4, 5)
    assert by_key['normal/block4/op1'].options == NASNET_OPS
    assert [d.kind for d in space.decisions[:4]] == ['input', 'input', 'op', 'op']
    combined = CellSpace(combine=('add', 'concat'), cells=('normal',))
    assert [d.key for d in combined.decisions][:5] == [
        'normal/block2/input0', 'normal/block2/input1', 'normal/block2/op0',
        'normal/block2/op1', 'normal/block2/combine']
    assert combined.decisions[4].kind == 'combine' and len(combined) == 25
    explicit = CellSpace(num_blocks=2, concat='explicit')
    concat = explicit.decisions[8]
    assert concat.key == 'normal/concat' and concat.kind == 'concat'
    assert len(concat.options) == 2 ** 4 - 1 and concat.options[0] == 'h0'
    assert concat.options[-1] == 'h0+h1+b2+b3'


def test_cell_concat_rules():
    blocks = (Block('h0', 'identity', 'h1', 'identity'), Block('b2', 'identity', 'h0', 'identity'),
              Block('h1', 'identity', 'b2', 'identity'))
    assert CellSpace(num_blocks=3).derive_concat(blocks) == (3, 4)
    assert CellSpace(num_blocks=3, concat='all').derive_concat(blocks) == (2, 3, 4)
    g = CellSpace(num_blocks=3).from_tokens([0, 1, 0, 0, 2, 0, 0, 0, 1, 2, 0, 0] * 2)
    assert g.normal.blocks == blocks and g.normal.concat == (3, 4)
    assert str(g.normal) == 'b2=(h0 id, h1 id) b3=(b2 id, h0 id) b4=(h1 id, b2 id) -> b3+b4'


def test_cell_validate_errors():
    space = CellSpace()
    normal, reduce = NASNET_A.normal, NASNET_A.reduce

    def with_block(cell, k, **changes):
        blocks = list(cell.blocks)
        blocks[k - 2] = replace(blocks[k - 2], **changes)
        return Cell(tuple(blocks), space.derive_concat(blocks))

    ok = CellGenotype(with_block(normal, 2), with_block(reduce, 2))
    assert space.validate(ok) is ok
    with pytest.raises(ValueError, match=r'normal/block3/input0: 5 is not allowed; allowed '
                                         r'values: \[0, 1, 2\]'):
        space.validate(CellGenotype(with_block(normal, 3, input0=5), ok.reduce))
    with pytest.raises(ValueError, match=r'reduce/block4/input1: 4 is not allowed'):
        space.validate(CellGenotype(ok.normal, with_block(reduce, 4, input1=4)))
    with pytest.raises(ValueError, match=r"reduce/block6/op1: 'conv_9x9' is not allowed; "
                                         r"allowed values: \['identity'"):
        space.validate(CellGenotype(ok.normal, with_block(reduce, 6, op1='conv_9x9')))
    with pytest.raises(ValueError, match=r"normal/block2/combine: 'concat' is not allowed; "
                                         r"allowed values: \['add'\]"):
        space.validate(CellGenotype(with_block(normal, 2, combine='concat'), ok.reduce))
    short = Cell(normal.blocks[:4], (2, 3, 4, 5))
    with pytest.raises(ValueError, match='normal/blocks: expected 5 blocks, got 4'):
        space.validate(CellGenotype(short, ok.reduce))
    with pytest.raises(ValueError, match=r"normal/concat: 'h1\+b2\+b3\+b4\+b5\+b6' is not "
                                         r"allowed; allowed values: \['b2\+b3\+b4\+b5\+b6'\]"):
        space.validate(NASNET_A)  # published concat is data, not the 'unused' rule
    with pytest.raises(ValueError, match=r"normal/concat: 'b9' is not allowed"):
        CellSpace(concat='explicit').validate(CellGenotype(Cell(normal.blocks, (9,)), reduce))
    with pytest.raises(ValueError, match='reduce: None is not allowed'):
        space.validate(CellGenotype(ok.normal))
    with pytest.raises(ValueError, match=r'reduce: a reduction cell is not allowed; '
                                         r'allowed values: \[None\]'):
        CellSpace(cells=('normal',)).validate(ok)
    with pytest.raises(ValueError, match='a CellGenotype is expected'):
        space.validate(NASFPN_7CELL)
    d = ok.to_dict()
    with pytest.raises(ValueError, match=r'version: 0 is not allowed; allowed values: \[1\]'):
        space.from_dict({**d, 'version': 0})
    with pytest.raises(ValueError, match=r"space: 'detnas' is not allowed; allowed values: "
                                         r"\['cells'\]"):
        CellGenotype.from_dict({**d, 'space': 'detnas'})
    d['normal']['blocks'][1]['input0'] = 'x9'
    with pytest.raises(ValueError, match=r"normal/block3/input0: 'x9' is not a hidden state"):
        space.from_dict(d)


def test_cell_space_bad_options():
    with pytest.raises(ValueError, match=r"ops: 'darts' is not allowed; allowed values: "
                                         r"\['nasnet', 'amoeba', 'pnas'\]"):
        CellSpace(ops='darts')
    with pytest.raises(ValueError, match=r"combine: 'mul' is not allowed; allowed values: "
                                         r"\['add', 'concat'\]"):
        CellSpace(combine=('add', 'mul'))
    with pytest.raises(ValueError, match=r"concat: 'some' is not allowed"):
        CellSpace(concat='some')
    with pytest.raises(ValueError, match=r"cells: 'other' is not allowed"):
        CellSpace(cells=('normal', 'other'))
    with pytest.raises(ValueError, match='num_blocks: an integer >= 1'):
        CellSpace(num_blocks=0)
    with pytest.raises(ValueError, match="ops: 's3' is the short code of another op"):
        CellSpace(ops=['s3', 'identity'])


def test_cell_amoeba_mutation_changes_one_thing():
    space = CellSpace()
    kinds = set()
    for seed in SEEDS:
        rng = random.Random(seed)
        g = space.sample(rng)
        m = space.mutate(g, rng)
        diffs = [(name, k, f) for (name, a), (_, b) in zip(g.cells(), m.cells())
                 for k, (x, y) in enumerate(zip(a.blocks, b.blocks), 2)
                 for f in ('input0', 'input1', 'op0', 'op1', 'combine')
                 if getattr(x, f) != getattr(y, f)]
        assert len(diffs) == 1, diffs
        kinds.add(diffs[0][2][:-1])
        name, k, f = diffs[0]
        changed = getattr(dict(m.cells())[name].blocks[k - 2], f)
        if f.startswith('input'):
            assert 0 <= changed < k
        else:
            assert changed in NASNET_OPS
    assert kinds == {'input', 'op'}  # both mutation kinds happen
    pnas = CellSpace(ops='pnas', cells=('normal',), concat='all')
    m = pnas.mutate(PNASNET_5, random.Random(0))
    assert m.reduce is None and m != PNASNET_5 and pnas.validate(m) is m


def test_cell_prefix_contract():
    for space in (CellSpace(), CellSpace(ops='pnas', cells=('normal',), concat='all',
                                         combine=('add', 'concat'))):
        groups = space.blocks()
        assert len(groups) == space.num_blocks
        assert sorted(i for g in groups for i in g) == list(range(len(space)))
        assert all(space.decisions[i].key.split('/')[1] == f'block{j + 2}'
                   for j, g in enumerate(groups) for i in g)
        for b in range(1, space.num_blocks + 1):
            p = space.prefix(b)
            assert isinstance(p, CellSpace) and p.num_blocks == b and len(p.blocks()) == b
            for i in range(b):
                assert [p.decisions[x] for x in p.blocks()[i]] == \
                    [space.decisions[x] for x in groups[i]]
            g = p.sample(random.Random(b))
            assert all(c.num_blocks == b for _, c in g.cells())
        assert space.prefix(space.num_blocks).decisions == space.decisions
    with pytest.raises(ValueError, match=r'num_blocks: an integer in \[1, 5\]'):
        CellSpace().prefix(6)
    with pytest.raises(ValueError, match="concat: prefix spaces need a derived concat"):
        CellSpace(concat='explicit').prefix(2)


# ---- NAS-FPN -----------------------------------------------------------------------------
def test_nasfpn_decisions():
    space = NASFPNSpace()
    keys = [d.key for d in space.decisions]
    assert keys[:4] == ['cell0/input0', 'cell0/input1', 'cell0/level', 'cell0/op']
    assert len(keys) == 28
    by_key = {d.key: d for d in space.decisions}
    assert by_key['cell0/input0'].options == (0, 1, 2, 3, 4)
    assert by_key['cell6/input1'].options == tuple(range(11))
    assert by_key['cell1/level'].options == LEVELS
    assert [len(by_key[f'cell{k}/level'].options) for k in range(2, 7)] == [5, 4, 3, 2, 1]
    assert by_key['cell3/op'].options == ('sum', 'global_pool')
    with pytest.raises(ValueError, match='num_cells: an integer >= 5'):
        NASFPNSpace(num_cells=4)


@pytest.mark.parametrize('num_cells', [5, 7, 9])
def test_nasfpn_pyramids_always_cover_every_level(num_cells):
    space = NASFPNSpace(num_cells=num_cells)
    for seed in SEEDS:
        rng = random.Random(seed)
        a, b = space.sample(rng), space.sample(rng)
        for g in (a, b, space.mutate(a, rng), space.mutate(b, rng, prob=0.5),
                  space.crossover(a, b, rng)):
            outs = g.outputs()
            assert sorted(outs) == list(LEVELS)
            assert sorted(outs.values()) == list(range(num_cells, num_cells + 5))
            assert all(i < 5 + k for k, c in enumerate(g.cells) for i in c.inputs)


def test_nasfpn_level_tokens_are_lehmer_codes():
    tokens = NASFPNSpace().to_tokens(NASFPN_7CELL)
    assert tokens[2::4] == (1, 1, 0, 0, 0, 1, 0)  # P4, P4 (index in 3..7) | P3, P4, P5, P7, P6
    assert tokens[0::4] == (1, 1, 0, 6, 7, 6, 9) and tokens[1::4] == (3, 5, 6, 7, 8, 9, 10)


def test_nasfpn_validate_errors():
    space = NASFPNSpace()
    cells = list(NASFPN_7CELL.cells)

    def with_cell(k, **changes):
        new = list(cells)
        new[k] = replace(cells[k], **changes)
        return Pyramid(tuple(new))

    with pytest.raises(ValueError, match=r'cell3/input1: 8 is not allowed; allowed values: '
                                         r'\[0, 1, 2, 3, 4, 5, 6, 7\]'):
        space.validate(with_cell(3, input1=8))  # its own state
    with pytest.raises(ValueError, match='cell0/input0: 9 is not allowed'):
        space.validate(with_cell(0, input0=9))  # a later state
    with pytest.raises(ValueError, match=r'cell1/level: 8 is not allowed; allowed values: '
                                         r'\[3, 4, 5, 6, 7\]'):
        space.validate(with_cell(1, level=8))
    with pytest.raises(ValueError, match=r'cell4/level: 2 is not allowed \(not a pyramid level\)'):
        space.validate(with_cell(4, level=2))
    with pytest.raises(ValueError, match=r'cell6/level: 4 is not allowed \(an output level '
                                         r'already produced\); allowed values: \[6\]'):
        space.validate(with_cell(6, level=4))  # P6 never produced
    with pytest.raises(ValueError, match=r"cell2/op: 'concat' is not allowed; allowed values: "
                                         r"\['sum', 'global_pool'\]"):
        space.validate(with_cell(2, op='concat'))
    with pytest.raises(ValueError, match='cells: expected 7 merging cells, got 6'):
        space.validate(Pyramid(tuple(cells[:6])))
    with pytest.raises(ValueError, match=r'version: 3 is not allowed'):
        space.from_dict({**NASFPN_7CELL.to_dict(), 'version': 3})
    with pytest.raises(ValueError, match=r"space: 'widths' is not allowed; allowed values: "
                                         r"\['nasfpn'\]"):
        Pyramid.from_dict({**NASFPN_7CELL.to_dict(), 'space': 'widths'})
    d = NASFPN_7CELL.to_dict()
    d['cells'][2]['input1'] = 'P9'
    with pytest.raises(ValueError, match=r"cell2/input1: 'P9' is not a state"):
        space.from_dict(d)


# ---- widths ------------------------------------------------------------------------------
def test_widths_genotype():
    w = Widths({'stem': 16, 'stage1/block1/mid': 50, 'head': 3})
    assert w.names == ('stem', 'stage1/block1/mid', 'head') and w['head'] == 3
    assert str(w) == 'stem=16 stage1/block1/mid=50 head=3'
    assert w.scaled(1.5).values == (24, 72, 8)       # 75 -> 72, 4.5 -> min 8
    assert w.scaled(1.0, divisor=4).values == (16, 52, 4)
    # group order survives the sorted-keys JSON of the space
    assert WidthSpace(groups={n: [v] for n, v in w.groups}).loads(
        json.dumps(w.to_dict(), sort_keys=True)) == w
    with pytest.raises(ValueError, match=r'stem: an integer width >= 0 \(0: pruned away\) is '
                                         'expected, got -1'):
        Widths({'stem': -1})
    # 0: pruned away, only where the model allows it, and a whole branch at once
    from nas_det.space import removed_branches
    cut = Widths({'stem': 16, 'b1/mid1': 0, 'b1/mid2': 0, 'b2/mid1': 8, 'b2/mid2': 8})
    branches = {'b1': ['b1/mid1', 'b1/mid2'], 'b2': ['b2/mid1', 'b2/mid2']}
    assert removed_branches(cut, branches) == ('b1', )
    assert cut.scaled(2).values == (32, 0, 0, 16, 16)
    with pytest.raises(ValueError, match=r"b2: the branch is removed \(b2/mid2 = 0\)"):
        removed_branches(Widths({'b2/mid1': 8, 'b2/mid2': 0}), branches)
    with pytest.raises(ValueError, match='stem: 0 channels leave no valid network'):
        removed_branches(Widths({'stem': 0}), branches)
    with pytest.raises(ValueError, match='multiplier: a positive number'):
        w.scaled(-1)


def test_width_space():
    space = WidthSpace(max_widths={'stem': 32, 'stage1/block1/mid': 64})
    assert space.decisions[0].options == (8, 16, 24, 32)
    assert space.decisions[1].options == (16, 32, 48, 64)
    assert space.decisions[1].key == 'stage1/block1/mid' and space.decisions[1].kind == 'width'
    g = Widths({'stem': 24, 'stage1/block1/mid': 64})
    assert space.to_tokens(g) == (2, 3)
    with pytest.raises(ValueError, match=r'stem: 20 is not allowed; allowed values: '
                                         r'\[8, 16, 24, 32\]'):
        space.validate(Widths({'stem': 20, 'stage1/block1/mid': 64}))
    with pytest.raises(ValueError, match=r"groups: 'head' is not allowed"):
        space.validate(Widths({'stem': 24, 'stage1/block1/mid': 64, 'head': 8}))
    with pytest.raises(ValueError, match='groups: expected the groups'):
        space.validate(Widths({'stem': 24}))
    with pytest.raises(ValueError, match='give exactly one of them'):
        WidthSpace()


# ---- published genotypes -----------------------------------------------------------------
# The ANCHORS.md lines, verbatim, parsed independently of the package's own string codes.
ANCHOR_CELLS = {
    ('nasnet_a', 'normal'): 'b2=(h0 s5, h1 s3) b3=(h1 s5, h1 s3) b4=(h0 avg, h1 id) '
                            'b5=(h1 avg, h1 avg) b6=(h0 s3, h0 id); output concat[h1, b2..b6]',
    ('nasnet_a', 'reduce'): 'b2=(h0 s5, h1 s7) b3=(h0 max, h1 s7) b4=(h0 avg, h1 s5) '
                            'b5=(b3 id, b2 avg) b6=(b2 s3, h0 max); output concat[b3, b4, b5, b6]',
    ('pnasnet_5', 'normal'): 'b2=(h1 s5, h1 max) b3=(h0 s7, h0 max) b4=(h0 s5, h0 s3) '
                             'b5=(b4 s3, h0 max) b6=(h1 s3, h0 id); output concat[b2..b6]',
    ('amoebanet_a', 'normal'): 'b2=(h0 avg, h0 max) b3=(h1 s3, h1 id) b4=(h0 id, h1 avg) '
                               'b5=(h0 s3, b2 s5) b6=(b5 avg, h0 s3); '
                               'output concat[h1, b3, b4, b6]',
    ('amoebanet_a', 'reduce'): 'b2=(h1 s3, h0 avg) b3=(h0 max, b2 s7) b4=(h1 max, h0 max) '
                               'b5=(b4 s3, h0 1x7-7x1) b6=(h1 avg, h0 s7); output concat[b2..b6]',
}
ANCHOR_NASFPN = ('n5 = GP(P4, P6) at P4; n6 = sum(P4, n5) at P4; n7 = sum(P3, n6) at P3; '
                 'n8 = sum(n6, n7) at P4; n9 = GP(n7, n8) at P5; n10 = GP(n6, n9) at P7; '
                 'n11 = GP(n9, n10) at P6')
ANCHOR_OPS = {'s3': 'sep_conv_3x3', 's5': 'sep_conv_5x5', 's7': 'sep_conv_7x7',
              'avg': 'avg_pool_3x3', 'max': 'max_pool_3x3', 'id': 'identity',
              '1x7-7x1': 'conv_1x7_7x1', 'GP': 'global_pool', 'sum': 'sum'}


def _state(name):
    return {'h0': 0, 'h1': 1}.get(name) if name[0] == 'h' else int(name[1:])


def _anchor_cell(line):
    blocks = re.findall(r'b(\d)=\((\w+) ([\w-]+), (\w+) ([\w-]+)\)', line)
    parsed = [(_state(i0), ANCHOR_OPS[o0], _state(i1), ANCHOR_OPS[o1])
              for _, i0, o0, i1, o1 in blocks]
    assert [int(k) for k, *_ in blocks] == [2, 3, 4, 5, 6]
    concat = []
    for item in re.search(r'concat\[(.*)\]', line).group(1).split(', '):
        if '..' in item:
            lo, hi = item.split('..')
            concat += list(range(_state(lo), _state(hi) + 1))
        else:
            concat.append(_state(item))
    return parsed, concat


@pytest.mark.parametrize('name,cell', sorted(ANCHOR_CELLS))
def test_published_cells_match_anchors_block_by_block(name, cell):
    blocks, concat = _anchor_cell(ANCHOR_CELLS[name, cell])
    got = getattr(get_published(name), cell)
    assert [(b.input0, b.op0, b.input1, b.op1) for b in got.blocks] == blocks
    assert all(b.combine == 'add' for b in got.blocks)
    assert list(got.concat) == concat


def test_published_nasfpn_matches_anchors():
    cells = re.findall(r'n(\d+) = (\w+)\((\w+), (\w+)\) at P(\d)', ANCHOR_NASFPN)
    assert [int(c[0]) for c in cells] == list(range(5, 12))
    want = [(int(i0[1:]) - 3 if i0[0] == 'P' else int(i0[1:]),
             int(i1[1:]) - 3 if i1[0] == 'P' else int(i1[1:]), int(lv), ANCHOR_OPS[op])
            for _, op, i0, i1, lv in cells]
    assert [(c.input0, c.input1, c.level, c.op) for c in NASFPN_7CELL.cells] == want
    assert NASFPN_7CELL.outputs() == {3: 7, 4: 8, 5: 9, 7: 10, 6: 11}


def test_published_validate_round_trip_and_str_is_stable():
    assert set(PUBLISHED) == set(PUBLISHED_SPACES) == {
        'nasnet_a', 'pnasnet_5', 'amoebanet_a', 'nasfpn_7cell', 'detnas_300m_fpn',
        'detnas_300m_retinanet', 'detnas_1.3g_fpn'}
    assert PNASNET_5.reduce is None
    for name, g in PUBLISHED.items():
        space = published_space(name)
        assert space.validate(g) is g
        assert build_space(PUBLISHED_SPACES[name]).decisions == space.decisions
        assert space.from_tokens(space.to_tokens(g)) == g
        assert genotype_from_dict(json.loads(space.dumps(g))) == g
    assert str(NASNET_A) == (
        'normal: b2=(h0 s5, h1 s3) b3=(h1 s5, h1 s3) b4=(h0 avg, h1 id) b5=(h1 avg, h1 avg) '
        'b6=(h0 s3, h0 id) -> h1+b2+b3+b4+b5+b6 | reduce: b2=(h0 s5, h1 s7) b3=(h0 max, h1 s7) '
        'b4=(h0 avg, h1 s5) b5=(b3 id, b2 avg) b6=(b2 s3, h0 max) -> b3+b4+b5+b6')
    assert str(PNASNET_5) == ('normal: b2=(h1 s5, h1 max) b3=(h0 s7, h0 max) b4=(h0 s5, h0 s3) '
                              'b5=(b4 s3, h0 max) b6=(h1 s3, h0 id) -> b2+b3+b4+b5+b6')
    assert str(NASFPN_7CELL) == ('n5=gp(P4,P6)@P4 n6=sum(P4,n5)@P4 n7=sum(P3,n6)@P3 '
                                 'n8=sum(n6,n7)@P4 n9=gp(n7,n8)@P5 n10=gp(n6,n9)@P7 '
                                 'n11=gp(n9,n10)@P6')
    assert 'b5=(b4 s3, h0 1x7-7x1)' in str(PUBLISHED['amoebanet_a'])
    # official DetNAS release tokens (3/5/7/x per block)
    assert str(PUBLISHED['detnas_300m_fpn']) == 'detnas[4-4-8-4] 7573 7557 xx5x33x5 x5x7'
    assert str(PUBLISHED['detnas_300m_retinanet']) == 'detnas[4-4-8-4] 7x55 x75x x555xx73 xxxx'
    # the published concats are data: the derived rules do not give them all
    assert not CellSpace(ops='nasnet').derive_concat(NASNET_A.normal.blocks) == \
        NASNET_A.normal.concat
    with pytest.raises(ValueError, match=r"name: 'nasnet_b' is not a published genotype; "
                                         r"allowed values: \['amoebanet_a'"):
        get_published('nasnet_b')


# ---- registry ----------------------------------------------------------------------------
def test_registry_build_and_dispatch():
    assert isinstance(build_space(dict(type='DetNASSpace', stage_blocks='1.3G')), DetNASSpace)
    space = CellSpace()
    assert build_space(space) is space
    choice = build_space(dict(type='ChoiceSpace', choices={'depth': [2, 4], 'act': ['a', 'b']}))
    g = choice.sample(random.Random(0))
    back = genotype_from_dict(json.loads(choice.dumps(g)), space=choice)
    assert isinstance(back, Assignment) and back == g
    assert genotype_from_dict(choice.to_dict(g)).as_dict() == g.as_dict()
    for g in (NASNET_A, NASFPN_7CELL, DetNASSpace().sample(random.Random(1)), Widths({'a': 8})):
        assert genotype_from_dict(g.to_dict()) == g
    with pytest.raises(ValueError, match=r"search_space.type: 'Nope' is not allowed; allowed "
                                         r"values: \['CellSpace', 'ChoiceSpace'"):
        build_space(dict(type='Nope'))
    with pytest.raises(ValueError, match="search_space NASFPNSpace: .*'levels'"):
        build_space(dict(type='NASFPNSpace', levels=3))
    with pytest.raises(ValueError, match='a dict with a "type" key'):
        build_space(['DetNASSpace'])
    with pytest.raises(ValueError, match=r"space: 'darts' is not allowed; allowed values: "
                                         r"\['cells', 'detnas', 'nasfpn', 'widths'\]"):
        genotype_from_dict({'space': 'darts', 'version': 1})
    with pytest.raises(ValueError, match=r'version: 9 is not allowed'):
        genotype_from_dict({**NASNET_A.to_dict(), 'version': 9})


def test_genotypes_are_frozen_values():
    g = CellSpace().sample(random.Random(3))
    assert hash(g) == hash(CellSpace().from_tokens(CellSpace().to_tokens(g)))
    with pytest.raises(AttributeError):
        g.normal = None
    assert Block('h1', 'identity', 'b2', 'identity') == Block(1, 'identity', 2, 'identity')
    assert MergeCell('P4', 'n5', 4, 'sum') == MergeCell(1, 5, 4, 'sum')
    with pytest.raises(ValueError, match='level: an integer level is expected'):
        MergeCell(0, 1, '4', 'sum')
    assert Cell([('h0', 'identity', 'h1', 'identity')], ['b2']).concat == (2,)
    assert Cell([{'input0': 'h0', 'op0': 'identity', 'input1': 'h1', 'op1': 'identity'}],
                [2]).blocks == (Block(0, 'identity', 1, 'identity'),)
    with pytest.raises(ValueError, match='concat: states must be distinct'):
        Cell([('h0', 'identity', 'h1', 'identity')], ['b2', 2])
    assert len({NASNET_A, get_published('nasnet_a'), PNASNET_5}) == 2


def test_space_modules_use_the_standard_library_only():
    pkg = Path(__file__).resolve().parents[2] / 'nas_det' / 'space'
    for path in pkg.glob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            else:
                continue
            for n in names:
                assert n.split('.')[0] in sys.stdlib_module_names or n == '__future__', \
                    f'{path.name} imports {n}'
