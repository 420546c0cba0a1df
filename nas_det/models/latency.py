"""Measured latency as a cost: a per-block lookup table for DetNAS paths.

A :class:`LatencyTable` holds, for one device and one setting (backbone ``arch`` and
``widen_factor``, input ``(C, H, W)``, batch, threads, memory layout), the measured
inference time of the stem, of every candidate unit at every distinct block position
(op, input and output width, stride, input size) and of the optional last conv. A path's
predicted latency is the sum of its blocks' entries plus the fixed parts, the lookup-table
estimate of FBNet / ProxylessNAS. It is built on the user's own device with::

    python tools/latency_table.py --arch 300M --input-shape 3 224 224 --out lat_cpu.json
    python tools/latency_table.py ... --device cuda          # the same on a GPU

and used like FLOPs: ``train_cfg.latency_table`` + ``train_cfg.max_latency`` (ms) in a
search, ``cost_objective='latency'`` for the multi-objective NSGA-II.

The table also stores two platform figures, the device's measured multiply-add rate on a
large conv (``peak_compute``, MAC/s) and its copy bandwidth (``memory_bandwidth``,
bytes/s), which MorphNet's ``cost='latency'`` (roofline per layer) reads.

Tables are JSON (data, never code); :meth:`LatencyTable.load` checks every field.
"""
from __future__ import annotations

import json
import math
import platform
import random
import statistics
import time
from typing import Callable, Sequence

import torch
import torch.nn as nn

FORMAT = 'nas_det.latency_table/1'
_META_KEYS = ('format', 'device', 'device_name', 'torch', 'threads', 'batch', 'input_shape',
              'arch', 'widen_factor', 'with_last_conv', 'channels_last', 'unit', 'repeats',
              'fixed', 'blocks', 'platform', 'calibration')
STATS = ('min', 'median')


def block_key(op: str, c_in: int, c_out: int, stride: int, h: int, w: int) -> str:
    """The table key of one candidate unit at one block position."""
    return f'{op}|{c_in}|{c_out}|{stride}|{h}|{w}'


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device='cpu', repeats: int = 20,
              warmup: int = 3) -> list:
    """Seconds of ``repeats`` calls of ``fn`` after ``warmup`` calls (the device
    synchronised around each call on a GPU)."""
    device = torch.device(device)
    for _ in range(warmup):
        fn()
    _sync(device)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        out.append(time.perf_counter() - t0)
    return out


def _rounds(entries: dict, device, repeats: int, rounds: int, warmup: int,
            progress=None, stat: str = 'min') -> dict:
    """Milliseconds of every ``{key: fn}`` (``stat``: the fastest call, or the median),
    timed round-robin over ``rounds`` rounds (``repeats`` calls per entry per round) so
    that a change of load hits every entry alike."""
    times = {k: [] for k in entries}
    for r in range(rounds):
        for k, fn in entries.items():
            times[k] += time_call(fn, device, repeats, warmup if r == 0 else 1)
        if progress is not None:
            progress(f'[latency] round {r + 1}/{rounds}: {len(entries)} entries timed')
    return {k: 1e3 * (min(v) if stat == 'min' else statistics.median(v))
            for k, v in times.items()}


def _module_fn(module: nn.Module, x: torch.Tensor):
    def fn():
        with torch.inference_mode():
            return module(x)
    return fn


def _prepare(module: nn.Module, device, channels_last: bool) -> nn.Module:
    module = module.to(device).eval()
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    return module


def _input(shape, batch, device, channels_last, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, *shape, generator=g).to(device)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def measure_platform(device='cpu', repeats: int = 10) -> dict:
    """The device's multiply-add rate on a large 3x3 conv (MAC/s) and its copy bandwidth
    (bytes read + written per second on a 64 MiB tensor), medians of ``repeats``."""
    device = torch.device(device)
    conv = nn.Conv2d(256, 256, 3, padding=1, bias=False).to(device).eval()
    x = torch.randn(1, 256, 56, 56, device=device)
    macs = 256 * 256 * 9 * 56 * 56
    t_conv = statistics.median(time_call(_module_fn(conv, x), device, repeats, 2))
    big = torch.randn(16 * 2 ** 20, device=device)
    dst = torch.empty_like(big)
    t_copy = statistics.median(time_call(lambda: dst.copy_(big), device, repeats, 2))
    return dict(peak_compute=float(macs / t_conv),
                memory_bandwidth=float(2 * big.numel() * big.element_size() / t_copy))


class LatencyTable:
    """Measured milliseconds per DetNAS block, for one device and setting (see the
    module doc). Build with :func:`build_latency_table`, read with :meth:`load`."""

    def __init__(self, meta: dict):
        self.meta = meta
        self.blocks = meta['blocks']
        self.fixed = meta['fixed']

    # ----------------------------------------------------------------------------- I/O
    def save(self, path: str) -> None:
        with open(path, 'w') as f:
            json.dump(self.meta, f, indent=1, sort_keys=True)

    @classmethod
    def load(cls, path, field: str = 'latency_table') -> 'LatencyTable':
        """Read and check a table file; a one-line ``ValueError`` naming ``field`` for a
        file that is not one."""
        if isinstance(path, LatencyTable):
            return path
        if not isinstance(path, str):
            raise ValueError(f'{field}: a latency table JSON file (tools/latency_table.py '
                             f'--out) is expected, got {path!r}')
        try:
            with open(path) as f:
                meta = json.load(f)
        except (OSError, ValueError) as e:
            raise ValueError(f'{field}: cannot read the latency table {path!r} '
                             f'({type(e).__name__}: {e}); build one with '
                             'tools/latency_table.py') from None
        return cls(cls._check(meta, f'{field} {path!r}'))

    @staticmethod
    def _check(meta, where: str) -> dict:
        def bad(msg):
            return ValueError(f'{where}: {msg}')

        if not isinstance(meta, dict) or meta.get('format') != FORMAT:
            raise bad(f'not a latency table (format {FORMAT!r} expected)')
        unknown = sorted(set(meta) - set(_META_KEYS))
        missing = sorted(set(_META_KEYS) - set(meta))
        if unknown or missing:
            raise bad(f'unknown keys {unknown} / missing keys {missing}; allowed: '
                      f'{list(_META_KEYS)}')
        shape = meta['input_shape']
        if not (isinstance(shape, list) and len(shape) == 3
                and all(isinstance(v, int) and v > 0 for v in shape)):
            raise bad(f'input_shape: (C, H, W) positive ints expected, got {shape!r}')
        if not isinstance(meta['widen_factor'], (int, float)) or meta['widen_factor'] <= 0:
            raise bad(f'widen_factor: a positive number expected, got {meta["widen_factor"]!r}')
        if not isinstance(meta['arch'], (str, dict)):
            raise bad(f'arch: a name or a dict expected, got {meta["arch"]!r}')
        if meta['unit'] != 'ms':
            raise bad(f"unit: 'ms' expected, got {meta['unit']!r}")

        def number_map(name, allowed=None):
            m = meta[name]
            if not isinstance(m, dict):
                raise bad(f'{name}: a mapping expected')
            for k, v in m.items():
                if allowed is not None and k not in allowed:
                    raise bad(f'{name}: unknown key {k!r}; allowed: {list(allowed)}')
                if not (isinstance(v, (int, float)) and not isinstance(v, bool)
                        and math.isfinite(v) and v >= 0):
                    raise bad(f'{name}.{k}: a finite number >= 0 expected, got {v!r}')
        number_map('fixed', ('stem', 'last_conv'))
        number_map('blocks')
        number_map('platform', ('peak_compute', 'memory_bandwidth'))
        cal = meta['calibration']
        if not (isinstance(cal, dict) and set(cal) == {'scale', 'paths', 'stat'}
                and isinstance(cal['scale'], (int, float)) and cal['scale'] > 0
                and isinstance(cal['paths'], int) and cal['paths'] >= 0
                and cal['stat'] in STATS):
            raise bad(f'calibration: {{scale > 0, paths >= 0, stat in {list(STATS)}}} '
                      f'expected, got {cal!r}')
        if 'stem' not in meta['fixed']:
            raise bad('fixed: the stem entry is missing')
        return meta

    # ------------------------------------------------------------------------ matching
    def check_backbone(self, arch, widen_factor, with_last_conv=False,
                       field: str = 'latency_table') -> None:
        """One-line ``ValueError`` when the table was built for another backbone."""
        want = dict(arch=arch if isinstance(arch, str) else dict(arch),
                    widen_factor=float(widen_factor))
        have = dict(arch=self.meta['arch'], widen_factor=float(self.meta['widen_factor']))
        if want != have:
            raise ValueError(f'{field}: the table was built for {have}, the backbone is '
                             f'{want}; build one with tools/latency_table.py --arch ... '
                             '--widen-factor ...')
        if with_last_conv and 'last_conv' not in self.fixed:
            raise ValueError(f'{field}: the backbone has a last conv and the table does not '
                             'time one; build it with --with-last-conv')

    def describe(self) -> str:
        m = self.meta
        return (f'{m["device_name"]} ({m["device"]}, {m["threads"]} thread(s)), batch '
                f'{m["batch"]}, input {tuple(m["input_shape"])}'
                f'{", channels_last" if m["channels_last"] else ""}')

    def predict(self, genotype, with_last_conv: bool | None = None,
                calibrated: bool = True) -> float:
        """Predicted milliseconds of the path ``genotype`` (any form
        :func:`~nas_det.models.shufflenet.parse_genotype` reads): the stem, the path's
        block entries and the last conv added up, times the table's calibration scale
        (``calibrated=False``: the plain sum)."""
        from .shufflenet import _arch_key, _plan, parse_genotype
        arch = self.meta['arch']
        last = self.meta['with_last_conv'] if with_last_conv is None else with_last_conv
        _, _, plan, space = _plan(_arch_key(arch), float(self.meta['widen_factor']),
                                  tuple(self.meta['input_shape']), False)
        path = parse_genotype(genotype, space)
        total = self.fixed['stem'] + (self.fixed.get('last_conv', 0.0) if last else 0.0)
        for op, spec in zip(path.ops, plan):
            key = block_key(op, *spec)
            if key not in self.blocks:
                raise ValueError(f'latency_table: no entry {key!r} (op|in|out|stride|h|w); '
                                 'the table was built for another space or input')
            total += self.blocks[key]
        return total * (self.meta['calibration']['scale'] if calibrated else 1.0)


def _block_plan(arch, widen_factor, input_shape):
    from .shufflenet import _arch_key, _plan
    return _plan(_arch_key(arch), float(widen_factor), tuple(input_shape), False)


def _sample_paths(space, n: int, seed: int) -> list:
    rng, paths = random.Random(seed), []
    for _ in range(100 * n):  # distinct paths (the space is large)
        if len(paths) == n:
            break
        g = space.sample(rng)
        if g not in paths:
            paths.append(g)
    return paths


def _subnet_fn(meta: dict, genotype, x):
    from .shufflenet import ShuffleNetV2Subnet
    net = ShuffleNetV2Subnet(genotype, arch=meta['arch'], widen_factor=meta['widen_factor'],
                             with_last_conv=meta['with_last_conv'], out_indices=(0, 1, 2, 3))
    return _module_fn(_prepare(net, x.device, meta['channels_last']), x)


def build_latency_table(arch='300M', widen_factor: float = 1.0,
                        input_shape: Sequence[int] = (3, 224, 224), batch: int = 1,
                        device='cpu', channels_last: bool = False,
                        with_last_conv: bool = False, repeats: int = 10, rounds: int = 3,
                        warmup: int = 3, stat: str = 'min', calibrate: int = 4,
                        seed: int = 1000, progress=None) -> LatencyTable:
    """Time the stem, every candidate unit at every distinct block position and the last
    conv (eval mode, ``torch.inference_mode``, random input) on ``device`` with the
    current torch thread count, and ``calibrate`` random whole backbones in the same
    rounds.

    A unit timed alone runs with its weights and input in cache; inside a network they
    are not, so the plain sum of the entries underestimates (on a 2-core CPU by 8-19%).
    The table stores ``scale``, the median over the calibration paths of measured /
    summed, and :meth:`LatencyTable.predict` multiplies by it (``calibrate=0``: scale 1).

    Args:
        stat (str): ``'min'`` (the fastest of all timed calls: robust to other load on the
            machine) or ``'median'``. Defaults to ``'min'``.
        seed (int): seed of the calibration paths.

    Returns:
        LatencyTable: the table (``save`` writes it).
    """
    from mmcv.cnn import ConvModule

    from .flops import conv_out_size
    from .shufflenet import LAST_CHANNELS, OP_KERNELS, ChoiceBlock, arch_layout
    if stat not in STATS:
        raise ValueError(f'stat: one of {list(STATS)} is expected, got {stat!r}')
    device = torch.device(device)
    shape = tuple(int(v) for v in input_shape)
    _, _, plan, space = _block_plan(arch, widen_factor, shape)
    stem_c, channels, _ = arch_layout(arch, widen_factor)
    rng_state = torch.random.get_rng_state()  # seeded weights; the caller's RNG restored
    torch.manual_seed(0)
    try:
        entries = {}
        stem = _prepare(ConvModule(shape[0], stem_c, 3, 2, 1, norm_cfg=dict(type='BN'),
                                   act_cfg=dict(type='ReLU')), device, channels_last)
        x_img = _input(shape, batch, device, channels_last)
        entries['stem'] = _module_fn(stem, x_img)
        for spec in dict.fromkeys(plan):
            c_in, c_out, stride, h, w = spec
            x = _input((c_in, h, w), batch, device, channels_last)
            for op in OP_KERNELS:
                block = _prepare(ChoiceBlock((op,), c_in, c_out, stride, dict(type='BN')),
                                 device, channels_last)
                entries[block_key(op, *spec)] = _module_fn(block, x)
        if with_last_conv:
            c, h, w = channels[-1], plan[-1][3], plan[-1][4]
            h, w = conv_out_size(h, 3, plan[-1][2], 1), conv_out_size(w, 3, plan[-1][2], 1)
            last = _prepare(ConvModule(c, LAST_CHANNELS, 1, norm_cfg=dict(type='BN'),
                                       act_cfg=dict(type='ReLU')), device, channels_last)
            entries['last_conv'] = _module_fn(last, _input((c, h, w), batch, device, channels_last))
        meta = dict(format=FORMAT, device=str(device), torch=torch.__version__,
                    threads=torch.get_num_threads(), batch=int(batch), input_shape=list(shape),
                    arch=arch if isinstance(arch, str) else dict(arch),
                    widen_factor=float(widen_factor), with_last_conv=bool(with_last_conv),
                    channels_last=bool(channels_last), unit='ms', repeats=repeats * rounds)
        cal_paths = _sample_paths(space, calibrate, seed)
        for i, g in enumerate(cal_paths):
            entries[f'path:{i}'] = _subnet_fn(meta, g, x_img)
        ms = _rounds(entries, device, repeats, rounds, warmup, progress, stat)
        measured = [ms.pop(f'path:{i}') for i in range(len(cal_paths))]
        fixed = {k: ms.pop(k) for k in ('stem', 'last_conv') if k in ms}
        meta.update(device_name=torch.cuda.get_device_name(device) if device.type == 'cuda'
                    else (platform.processor() or platform.machine()),
                    fixed=fixed, blocks=ms, platform=measure_platform(device),
                    calibration=dict(scale=1.0, paths=len(cal_paths), stat=stat))
        table = LatencyTable(LatencyTable._check(meta, 'latency table'))
        if cal_paths:
            table.meta['calibration']['scale'] = float(statistics.median(
                m / table.predict(g, calibrated=False) for g, m in zip(cal_paths, measured)))
        return table
    finally:
        torch.random.set_rng_state(rng_state)


def measure_paths(table: LatencyTable, genotypes: Sequence, repeats: int = 10,
                  rounds: int = 3, warmup: int = 3, progress=None) -> list:
    """Measured milliseconds of whole :class:`ShuffleNetV2Subnet` backbones of
    ``genotypes`` in the table's setting (device, batch, input, layout, statistic), timed
    round-robin like the table."""
    m = table.meta
    device = torch.device(m['device'])
    x = _input(tuple(m['input_shape']), m['batch'], device, m['channels_last'])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        entries = {i: _subnet_fn(m, g, x) for i, g in enumerate(genotypes)}
    ms = _rounds(entries, device, repeats, rounds, warmup, progress, m['calibration']['stat'])
    return [ms[i] for i in range(len(genotypes))]
