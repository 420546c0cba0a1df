"""DetNAS end to end on a few embedded images: supernet training on two gloo ranks,
a search killed and resumed, export to a config that trains with mmdet."""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, count_lines, kill_when, run_tool

pytestmark = pytest.mark.slow
SUPERNET = osp.join(ROOT, 'configs/detnas/retinanet_detnas-shufflenet-300M-supernet_fpn_digits.py')
SEARCH = osp.join(ROOT, 'configs/detnas/retinanet_detnas-shufflenet-300M_search_digits.py')


def data_opts(data):
    return [f'train_dataloader.dataset.data_root={data}/',
            f'val_dataloader.dataset.data_root={data}/',
            f'val_evaluator.ann_file={data}/annotations/instances_val.json',
            'train_dataloader.batch_size=2', 'val_dataloader.batch_size=4',
            'default_hooks.logger.interval=1']


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_supernet_ddp_two_gloo_ranks_train_the_same_paths(tiny_det_data, tmp_path):
    """Each rank's sampling hook has its own seed (tests/e2e/dist_worker.py), so the ranks
    train the same paths only because rank 0's are broadcast."""
    wd = str(tmp_path / 'ddp')
    cfg = tmp_path / 'supernet_uniform.py'  # plain uniform sampling from the first iteration
    cfg.write_text(f"_base_ = {SUPERNET!r}\n"
                   "custom_hooks = [dict(type='UniformSamplingHook', seed=0, log_paths=True)]\n")
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
           '--master_port', str(free_port()), 'tests/e2e/dist_worker.py', str(cfg),
           '--launcher', 'pytorch', '--work-dir', wd, '--cfg-options', *data_opts(tiny_det_data),
           'train_cfg.max_iters=3', 'train_cfg.val_interval=100']
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-6000:]
    paths = []
    for r in (0, 1):
        with open(osp.join(wd, f'sampled_paths.rank{r}.jsonl')) as f:
            paths.append([json.loads(line) for line in f])
    assert len(paths[0]) == 3 and paths[0] == paths[1]
    assert len({str(p['paths']) for p in paths[0]}) == 3  # a new path every iteration
    # what rank 1's own seed would have drawn: other paths (the broadcast replaced them)
    import random

    from nas_det.space import DetNASSpace
    space, seeds = DetNASSpace('300M'), {'0': random.Random(0), '1000': random.Random(1000)}
    drawn = {s: [str(space.sample(rng)) for _ in range(3)] for s, rng in seeds.items()}
    trained = [p['paths']['backbone'] for p in paths[1]]
    assert trained == drawn['0'] and trained != drawn['1000']
    init, final = ({r: torch.load(osp.join(wd, f'{w}.rank{r}.pth'), weights_only=True)
                    for r in (0, 1)} for w in ('init', 'final'))
    a, b = final[0]['params'], final[1]['params']
    assert a.keys() == b.keys() == init[0]['params'].keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # training changed them: the weights of the trained paths moved from the initial ones
    changed = [k for k in a if not torch.equal(a[k], init[0]['params'][k])]
    assert changed and any(k.startswith('backbone.') for k in changed)
    # the two ranks saw different images, so BN running statistics differ between them
    assert any(not torch.equal(final[0]['buffers'][k], final[1]['buffers'][k])
               for k in final[0]['buffers'] if k.endswith('running_mean'))


MAX_FLOPS = 290e6  # paths of the 300M space cost about 254M to 329M: a real share rejected


def _search_config(tmp_path, ckpt):
    """A search-only config over a tiny GA (the demo config's phases replaced)."""
    path = tmp_path / 'search_tiny.py'
    path.write_text(f"""_base_ = {SEARCH!r}
phases = [dict(type='search', load_from={ckpt!r}, train_cfg=dict(
    _delete_=True, type='SearchLoop',
    strategy=dict(type='GeneticAlgorithm', population=4, top_k=2, num_mutation=2,
                  num_crossover=1, generations=2),
    evaluator=dict(type='SupernetEvaluator', bn_batches=1, num_val_images=4),
    max_flops={MAX_FLOPS!r}))]
""")
    return str(path)


@pytest.fixture(scope='module')
def supernet_ckpt(tiny_det_data, tmp_path_factory):
    wd = str(tmp_path_factory.mktemp('supernet'))
    run_tool(['tools/search.py', SUPERNET, '--work-dir', wd, '--cfg-options',
              *data_opts(tiny_det_data), 'train_cfg.max_iters=2', 'train_cfg.val_interval=100',
              'default_hooks.checkpoint.interval=2'])
    ck = osp.join(wd, 'iter_2.pth')
    assert osp.isfile(ck)
    return ck


def _trials(wd):
    with open(osp.join(wd, 'trials.jsonl')) as f:
        recs = [json.loads(line) for line in f]
    for r in recs:
        r.pop('wall_time')
        r.pop('crc', None)  # a checksum of the line, wall time included
        r['cost'] = {k: v for k, v in r['cost'].items() if 'seconds' not in k}
    return recs


@pytest.fixture(scope='module')
def one_rank_search(tiny_det_data, supernet_ckpt, tmp_path_factory):
    """The tiny GA search on one rank: (its work dir, its output)."""
    tmp = tmp_path_factory.mktemp('one_rank')
    full = str(tmp / 'full')
    out = run_tool(['tools/search.py', _search_config(tmp, supernet_ckpt), '--work-dir', full,
                    '--cfg-options', *data_opts(tiny_det_data)])
    return full, out


def test_search_killed_resumes_to_the_same_trials(tiny_det_data, supernet_ckpt, one_rank_search,
                                                  tmp_path):
    cut = str(tmp_path / 'cut')
    cfg = _search_config(tmp_path, supernet_ckpt)
    opts = ['--cfg-options', *data_opts(tiny_det_data)]
    full, out = one_rank_search
    assert 'best' in out
    ref = _trials(full)
    assert len(ref) == 8 and len({r['key'] for r in ref}) == 8
    assert all(r['cost']['flops'] <= MAX_FLOPS for r in ref)
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    log = osp.join(cut, 'trials.jsonl')
    kill_when(['tools/search.py', cfg, '--work-dir', cut, *opts],
              lambda: count_lines(log) >= 5, poll=0.05)  # mid second generation
    assert not osp.exists(osp.join(cut, 'search_summary.json')), 'finished before the kill'
    run_tool(['tools/search.py', cfg, '--work-dir', cut, '--resume', *opts])
    assert _trials(cut) == ref
    best = [json.load(open(osp.join(d, 'best_genotype.json')))['key'] for d in (full, cut)]
    assert best[0] == best[1]
    assert osp.isfile(osp.join(full, 'search_progress.png'))
    assert osp.isfile(osp.join(full, 'search_pareto.png'))
    # a second run without --resume refuses to mix into the same work dir
    p = subprocess.run([sys.executable, 'tools/search.py', cfg, '--work-dir', full, *opts],
                       cwd=ROOT, env=env, capture_output=True, text=True)
    assert p.returncode != 0 and '--resume' in p.stderr


def test_export_trains_with_mmdet_train_tool(tiny_det_data, supernet_ckpt, tmp_path):
    import random

    import mmdet
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    import nas_det  # noqa: F401
    from nas_det.space import DetNASSpace
    g = DetNASSpace('300M').sample(random.Random(5))
    gfile = tmp_path / 'best_genotype.json'
    gfile.write_text(json.dumps({'genotype': g.to_dict(), 'reward': 0.1}))
    out = run_tool(['tools/export_subnet.py', SUPERNET, str(gfile), '--checkpoint', supernet_ckpt,
                    '--out-dir', str(tmp_path / 'export')])
    cfg_path, init = str(tmp_path / 'export/subnet.py'), str(tmp_path / 'export/subnet_init.pth')
    assert 'ShuffleNetV2Subnet' in open(cfg_path).read() and osp.isfile(init)
    cfg = Config.fromfile(cfg_path)
    assert cfg.model.backbone.type == 'ShuffleNetV2Subnet' and cfg.load_from == init
    assert all(h['type'] != 'UniformSamplingHook' for h in cfg.get('custom_hooks', []))
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    sd = torch.load(init, weights_only=True)['state_dict']
    model.load_state_dict(sd, strict=True)  # every weight of the subnet detector is there
    # the supernet's weights of that path, by name
    sup = torch.load(supernet_ckpt, weights_only=True)['state_dict']
    assert all(torch.equal(sup[k], v) for k, v in sd.items())
    train = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'train.py')
    wd = str(tmp_path / 'retrain')
    run_tool([train, cfg_path, '--work-dir', wd, '--cfg-options', *data_opts(tiny_det_data),
              'train_cfg.max_iters=2', 'train_cfg.val_interval=100',
              'default_hooks.checkpoint.interval=2'])
    assert osp.isfile(osp.join(wd, 'iter_2.pth')), out


def test_search_splits_candidates_across_two_gloo_ranks(tiny_det_data, supernet_ckpt,
                                                        one_rank_search, tmp_path):
    wd = str(tmp_path / 'dist_search')
    cfg = _search_config(tmp_path, supernet_ckpt)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
           '--master_port', str(free_port()), 'tools/search.py', cfg, '--launcher', 'pytorch',
           '--work-dir', wd, '--cfg-options', *data_opts(tiny_det_data)]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-6000:]
    main = _trials(wd)
    assert len(main) == 8 and len({r['key'] for r in main}) == 8
    with open(osp.join(wd, 'trials.rank1.jsonl')) as f:
        rank1 = [json.loads(line) for line in f]
    # rank 1 evaluated half of every generation itself, from its own copy of the strategy:
    # the candidates it chose are the ones rank 0 expected from it (same generations)
    assert len(rank1) == 4
    assert all(r['cost']['flops'] <= MAX_FLOPS for r in main)
    # the rewards rank 1 computed itself are those of the one-rank search: the same
    # candidates (the strategy agrees on every rank) scored the same way
    one = {r['key']: r for r in _trials(one_rank_search[0])}
    assert {r['key'] for r in main} == set(one)
    for r in rank1:
        assert r['reward'] == one[r['key']]['reward'], r['key']
    assert sorted((r['batch'], r['key'], r['reward']) for r in main) == \
        sorted((r['batch'], r['key'], r['reward']) for r in one.values())
    assert osp.isfile(osp.join(wd, 'best_genotype.json'))
