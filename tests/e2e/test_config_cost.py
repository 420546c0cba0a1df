"""bench/config_cost.py: the expected cost of a paper-scale config (measured seconds per
iteration x the iterations of its schedule), at its --tiny size (one small config, one
timed step). Marked slow: the subprocess imports torch and builds the full-width supernet.
"""
import os.path as osp

import pytest

from conftest import ROOT, run_tool

NUM = r'[-+]?\d[\d,]*(?:\.\d+)?'


@pytest.mark.slow
def test_config_cost_bench_tiny():
    import re

    from mmengine.config import Config
    config = 'configs/detnas/shufflenet-300M-supernet_cifar10-cls.py'
    out = run_tool(['bench/config_cost.py', '--tiny'])
    table = out.split('[config_cost] table')[1]
    rows = [ln for ln in table.splitlines() if ln.startswith(config)]
    assert len(rows) == 1, table
    m = re.match(rf'{re.escape(config)} \| (\d+) x (\d+) \| (\d+)x(\d+) \| ({NUM}) \(.*'
                 rf'threads?, load {NUM}\) \| ({NUM}) \(.*\) \| ({NUM}) \| '
                 r'not measured \(no GPU run yet\)$', rows[0])
    assert m, rows[0]
    batch, gpus, h, w, sec, iters, hours = (float(g.replace(',', '')) for g in m.groups())
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert batch == cfg.train_dataloader.batch_size and gpus == 1
    assert (h, w) == (64, 64)               # RandomCrop 32, then Resize to 64
    assert 0 < sec < 600
    assert iters == cfg.train_cfg.max_iters
    assert hours == pytest.approx(sec * iters / 3600, rel=0.01, abs=1)
