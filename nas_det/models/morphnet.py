"""MorphNet: channel grouping, the resource-weighted BN-scale regularizer, shrink, expand
and checkpoint slicing.

`MorphNet: Fast & Simple Resource-Constrained Structure Learning of Deep Networks
<https://arxiv.org/abs/1711.06798>`_.

The backbone the found widths are built into,
:class:`~nas_det.models.width_resnet.WidthResNet`, is in :mod:`nas_det.models.width_resnet`
(its names are still found here, with a ``DeprecationWarning``).

* :func:`trace_channels` follows the channels of a backbone built from ``Conv-BN`` pairs
  with ``torch.fx`` and groups those that must live or die together: the operands of an
  addition (residual adds), the input and output of a depthwise conv; concatenation and
  channel slicing (ShuffleNetV2's split) map channels one to one. A layer it cannot follow
  (grouped conv, GroupNorm, a reshape that mixes channels, ...) raises ``ValueError``
  naming the layer.
* :class:`MorphNetRegularizer` turns the traced graph into the FLOP-weighted (or
  size-weighted) penalty on the BN scales: a conv costs ``H_out*W_out*kh*kw*(alive_in /
  groups)*alive_out`` multiply-adds (``/work/shared/ANCHORS.md``; a depthwise conv costs
  ``H_out*W_out*kh*kw`` per live channel) and each channel is charged what removing it
  saves. A channel group's scale is the largest ``|gamma|`` of its members; it is alive
  while that is above ``threshold``.
* :func:`shrink` keeps the alive channels, :func:`expand` finds one width multiplier by
  bisection so the cost hits a budget, :func:`transfer_state_dict` slices trained weights
  to the kept channels.
"""
from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm

from ..space.base import bad_value
from ..space.width import Widths


# ---------------------------------------------------------------------------------------
# channel tracing
# ---------------------------------------------------------------------------------------
@dataclass
class ConvEntry:
    """A weighted layer the tracer found: ``kind`` 'conv' / 'linear' (cost bilinear in
    live input and output channels) or 'depthwise' (input and output channels coupled)."""
    name: str
    kind: str
    in_ids: list
    out_ids: list
    kernel: int  # kh * kw
    out_hw: int  # H_out * W_out (1 for a linear layer)
    bias: bool
    consumer: bool = False  # outside the traced module (a neck or head layer)
    in_hw: int = 1  # H_in * W_in (1 for a linear layer)


@dataclass
class ChannelGraph:
    """What :func:`trace_channels` found (channel ids are ints; see ``finalize``)."""
    parent: list = field(default_factory=list)
    convs: list = field(default_factory=list)
    bns: dict = field(default_factory=dict)  # name -> [channel id]
    input_ids: set = field(default_factory=set)
    conv_out_ids: set = field(default_factory=set)
    bn_ids: set = field(default_factory=set)
    outputs: list = field(default_factory=list)  # label lists of the module's outputs
    output_shapes: list = field(default_factory=list)

    def new(self, n: int) -> list:
        start = len(self.parent)
        self.parent.extend(range(start, start + n))
        return list(range(start, start + n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def finalize(self) -> None:
        """Number the channel groups (``cg``), decide which are prunable, and build the
        width groups (channel groups joined by the BN layers that scale them)."""
        roots = {}
        self.cg_of = [roots.setdefault(self.find(i), len(roots)) for i in range(len(self.parent))]
        self.num_cg = len(roots)
        fixed = [False] * self.num_cg
        has_bn = [False] * self.num_cg
        for i in self.input_ids:
            fixed[self.cg_of[i]] = True
        for i in self.conv_out_ids - self.bn_ids:  # a conv output no BN scales
            fixed[self.cg_of[i]] = True
        for i in self.bn_ids:
            has_bn[self.cg_of[i]] = True
        self.prunable = [h and not f for h, f in zip(has_bn, fixed)]
        # width groups: union of the channel groups each BN covers
        wg_parent = list(range(self.num_cg))

        def wfind(i):
            while wg_parent[i] != i:
                wg_parent[i] = wg_parent[wg_parent[i]]
                i = wg_parent[i]
            return i
        for ids in self.bns.values():
            cgs = [self.cg_of[i] for i in ids]
            for c in cgs[1:]:
                ra, rb = wfind(cgs[0]), wfind(c)
                if ra != rb:
                    wg_parent[max(ra, rb)] = min(ra, rb)
        self.width_groups = []  # list of dict(bns=[names], cgs=[cg in first-seen order])
        index = {}
        for name, ids in self.bns.items():
            root = wfind(self.cg_of[ids[0]])
            if root not in index:
                index[root] = len(self.width_groups)
                self.width_groups.append(dict(bns=[], cgs=[], seen=set()))
            wg = self.width_groups[index[root]]
            wg['bns'].append(name)
            for i in ids:
                c = self.cg_of[i]
                if c not in wg['seen']:
                    wg['seen'].add(c)
                    wg['cgs'].append(c)
        self.wg_of_cg = [-1] * self.num_cg
        for k, wg in enumerate(self.width_groups):
            del wg['seen']
            for c in wg['cgs']:
                self.wg_of_cg[c] = k

    def cgs(self, ids) -> list:
        return [self.cg_of[i] for i in ids]


PASSTHROUGH_MODULES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid,
                       nn.Hardswish, nn.Hardsigmoid, nn.Tanh, nn.Identity, nn.Dropout,
                       nn.Dropout2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
                       nn.AdaptiveMaxPool2d, nn.Upsample, nn.ZeroPad2d)
"""Leaf modules that keep every channel where it is."""

_PASS_FUNCS = {F.relu, F.relu6, F.leaky_relu, F.gelu, F.silu, F.hardswish, F.sigmoid,
               torch.relu, torch.sigmoid, torch.tanh, F.max_pool2d, F.avg_pool2d,
               F.adaptive_avg_pool2d, F.adaptive_max_pool2d, F.interpolate, F.dropout,
               torch.clamp, F.elu}
_PASS_METHODS = {'relu', 'relu_', 'sigmoid', 'contiguous', 'clone', 'clamp', 'clamp_',
                 'float', 'to', 'type_as', 'detach'}
_ELEMENTWISE = {operator.add, operator.iadd, operator.sub, operator.mul, operator.imul,
                operator.truediv, torch.add, torch.sub, torch.mul}
_ELEMENTWISE_METHODS = {'add', 'add_', 'sub', 'mul', 'mul_', 'div'}


def _layer_of(node) -> str:
    stack = node.meta.get('nn_module_stack')
    if stack:
        last = list(stack.values())[-1]
        path = last[0] if isinstance(last, tuple) else str(last)
        return f'{path} (op {node.name})'
    return node.name


class _Tracer(torch.fx.Tracer):
    def is_leaf_module(self, m, qualname):
        if isinstance(m, (nn.Conv2d, nn.Linear, _BatchNorm)):
            return True
        return super().is_leaf_module(m, qualname)


class _Propagator(torch.fx.Interpreter):
    """Runs the traced graph on a real input and follows channel ids alongside."""

    def __init__(self, gm, graph: ChannelGraph):
        super().__init__(gm)
        self.g = graph
        self.labels = {}

    def _lab(self, a):
        if isinstance(a, torch.fx.Node):
            return self.labels.get(a)
        if isinstance(a, (list, tuple)):
            return tuple(self._lab(x) for x in a)
        return None

    def run_node(self, n):
        result = super().run_node(n)
        self.labels[n] = self._propagate(n, result)
        return result

    def _unsupported(self, n, what):
        return ValueError(f'layer {_layer_of(n)}: {what} is not supported by the MorphNet '
                          'channel tracer (it follows Conv2d, Linear, BatchNorm, activations, '
                          'pooling, additions, channel concatenation and channel slicing)')

    def _propagate(self, n, result):
        g = self.g
        if n.op == 'placeholder':
            if isinstance(result, torch.Tensor) and result.dim() >= 2:
                ids = g.new(result.shape[1])
                g.input_ids.update(ids)
                return ids
            return None
        if n.op == 'get_attr':
            return None
        if n.op == 'output':
            out = self._lab(n.args[0])
            outs = out if isinstance(out, tuple) else (out, )
            res = result if isinstance(result, (tuple, list)) else (result, )
            g.outputs = list(outs)
            g.output_shapes = [tuple(r.shape) if isinstance(r, torch.Tensor) else None
                               for r in res]
            return out
        if n.op == 'call_module':
            return self._module(n, self.module.get_submodule(n.target), result)
        return self._function(n, result)

    def _module(self, n, mod, result):
        g = self.g
        x = self._lab(n.args[0]) if n.args else None
        name = n.target
        if isinstance(mod, nn.Conv2d):
            if x is None:
                raise self._unsupported(n, 'a conv whose input channels are unknown')
            c_in, c_out, groups = mod.in_channels, mod.out_channels, mod.groups
            out = g.new(c_out)
            if groups == 1:
                kind = 'conv'
            elif groups == c_in == c_out:
                kind = 'depthwise'
                for a, b in zip(x, out):
                    g.union(a, b)
            else:
                raise self._unsupported(n, f'a grouped conv (groups={groups}, in={c_in}, '
                                           f'out={c_out})')
            g.conv_out_ids.update(out)
            kh, kw = mod.kernel_size
            arg = self.env.get(n.args[0]) if isinstance(n.args[0], torch.fx.Node) else None
            in_hw = (arg.shape[2] * arg.shape[3] if isinstance(arg, torch.Tensor)
                     else result.shape[2] * result.shape[3] * mod.stride[0] * mod.stride[1])
            g.convs.append(ConvEntry(name, kind, list(x), out, kh * kw,
                                     result.shape[2] * result.shape[3], mod.bias is not None,
                                     in_hw=in_hw))
            return out
        if isinstance(mod, nn.Linear):
            if x is None or result.dim() != 2:
                raise self._unsupported(n, 'a linear layer on other than (N, C) input')
            out = g.new(mod.out_features)
            g.conv_out_ids.update(out)
            g.convs.append(ConvEntry(name, 'linear', list(x), out, 1, 1, mod.bias is not None))
            return out
        if isinstance(mod, _BatchNorm):
            if x is None:
                raise self._unsupported(n, 'a norm layer whose input channels are unknown')
            if mod.affine:
                if name in g.bns:  # a shared BN: its channels are one
                    for a, b in zip(g.bns[name], x):
                        g.union(a, b)
                else:
                    g.bns[name] = list(x)
                g.bn_ids.update(x)
            return x
        if isinstance(mod, PASSTHROUGH_MODULES):
            return x
        raise self._unsupported(n, f'module type {type(mod).__name__}')

    def _function(self, n, result):
        t = n.target
        args = n.args
        is_tensor = isinstance(result, torch.Tensor)
        if t is operator.getitem:
            base = self._lab(args[0])
            idx = args[1]
            if isinstance(base, tuple):
                return base[idx]
            if base is None:
                return None
            idx = idx if isinstance(idx, tuple) else (idx, )
            ndim = self.env[args[0]].dim()
            if idx and idx[0] is Ellipsis and len(idx) - 1 <= ndim - 2 \
                    and all(isinstance(i, slice) for i in idx[1:]):
                return base  # spatial cropping only
            if idx[0] != slice(None) or any(i is Ellipsis or isinstance(i, (int, torch.fx.Node))
                                             for i in idx[1:]):
                raise self._unsupported(n, f'indexing {idx!r}')
            return base[idx[1]] if len(idx) > 1 else base
        if not is_tensor and not (isinstance(result, (tuple, list))
                                  and any(isinstance(r, torch.Tensor) for r in result)):
            return None  # sizes, shapes, python numbers
        if n.op == 'call_method':
            x = self._lab(args[0])
            if t in _PASS_METHODS:
                return x
            if t in _ELEMENTWISE_METHODS:
                return self._elementwise(n, [x] + [self._lab(a) for a in args[1:]])
            if t in ('flatten', 'view', 'reshape', 'squeeze', 'mean'):
                return self._reshape(n, args[0], result)
            if t in ('chunk', 'split'):
                return self._split(n, x, result)
            raise self._unsupported(n, f'tensor method {t!r}')
        if t in _PASS_FUNCS:
            return self._lab(args[0])
        if t is F.pad:
            pad = args[1] if len(args) > 1 else n.kwargs.get('pad')
            if len(pad) > 4:
                raise self._unsupported(n, 'padding the channel dimension')
            return self._lab(args[0])
        if t in _ELEMENTWISE:
            return self._elementwise(n, [self._lab(a) for a in args])
        if t is torch.cat:
            dim = args[1] if len(args) > 1 else n.kwargs.get('dim', 0)
            if dim < 0:
                dim += result.dim()
            labs = self._lab(args[0])
            if dim != 1 or any(lab is None for lab in labs):
                raise self._unsupported(n, f'concatenation along dim {dim}')
            return [i for lab in labs for i in lab]
        if t in (torch.flatten, torch.mean, torch.squeeze, torch.reshape):
            return self._reshape(n, args[0], result)
        if t in (torch.chunk, torch.split):
            return self._split(n, self._lab(args[0]), result)
        raise self._unsupported(n, f'function {getattr(t, "__name__", t)!r}')

    def _elementwise(self, n, labs):
        tensors = [lab for lab in labs if isinstance(lab, list)]
        if not tensors:
            return None
        first = tensors[0]
        for other in tensors[1:]:
            if len(other) == len(first):
                for a, b in zip(first, other):
                    self.g.union(a, b)
            elif len(other) != 1 and len(first) != 1:
                raise self._unsupported(n, 'an elementwise op on different channel counts')
        return max(tensors, key=len)

    def _reshape(self, n, src, result):
        x = self._lab(src)
        if x is None:
            return None
        shape = tuple(self.env[src].shape)
        if tuple(result.shape) == shape:
            return x
        if result.dim() >= 2 and result.shape[1] == shape[1] \
                and math.prod(shape[2:]) == math.prod(result.shape[2:]) \
                or (result.dim() == 2 and result.shape[1] == shape[1]):
            return x  # spatial dims flattened, pooled or squeezed; channels untouched
        raise self._unsupported(n, f'a reshape {shape} -> {tuple(result.shape)} that moves '
                                   'channels')

    def _split(self, n, x, result):
        if x is None:
            return None
        sizes = [r.shape[1] if r.dim() > 1 else 0 for r in result]
        if sum(sizes) != len(x):
            raise self._unsupported(n, 'a split along other than the channel dim')
        out, start = [], 0
        for s in sizes:
            out.append(x[start:start + s])
            start += s
        return tuple(out)


def trace_channels(module: nn.Module, input_shape: Sequence[int] = (3, 224, 224)) -> ChannelGraph:
    """Trace ``module`` (a backbone) and group its channels.

    Args:
        module (nn.Module): the network, called as ``module(x)`` with one image.
        input_shape (Sequence[int]): ``(C, H, W)`` of the image the costs refer to.
            Defaults to ``(3, 224, 224)``.

    Returns:
        ChannelGraph: the convs, BN layers, channel groups and width groups.

    Raises:
        ValueError: a layer the tracer cannot follow, named.
    """
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(v, int) and v > 0 for v in shape):
        raise ValueError(f'input_shape: (C, H, W) positive ints are expected, got {input_shape!r}')
    try:
        graph = _Tracer().trace(module)
    except Exception as e:  # data-dependent control flow and the like
        raise ValueError(f'{type(module).__name__} can not be traced with torch.fx for '
                         f'MorphNet ({type(e).__name__}: {e})') from None
    gm = torch.fx.GraphModule(module, graph)
    out = ChannelGraph()
    param = next(module.parameters())
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            _Propagator(gm, out).run(torch.zeros(1, *shape, dtype=param.dtype,
                                                 device=param.device))
    finally:
        module.train(was_training)
    if not out.bns:
        raise ValueError(f'{type(module).__name__} has no BatchNorm layer for MorphNet to '
                         'regularize')
    out.finalize()
    return out


def add_consumers(graph: ChannelGraph, consumers: Sequence) -> ChannelGraph:
    """Add layers outside the traced module that read its outputs (a neck's input convs,
    a classifier's linear layer), so their cost counts and their inputs are sliced.

    Args:
        graph (ChannelGraph): a finalized graph.
        consumers (Sequence[tuple]): ``(name, module, output_index)``; ``module`` an
            ``nn.Conv2d`` (groups 1) or ``nn.Linear`` reading ``graph.outputs[output_index]``
            (a linear layer after global pooling).
    """
    for name, mod, idx in consumers:
        if idx >= len(graph.outputs) or graph.outputs[idx] is None:
            raise ValueError(f'{name}: reads backbone output {idx}, which does not exist')
        x = graph.outputs[idx]
        if isinstance(mod, nn.Conv2d):
            if mod.groups != 1 or mod.in_channels != len(x):
                raise ValueError(f'{name}: expected a groups=1 conv with {len(x)} input '
                                 f'channels, got {mod}')
            _, _, h, w = graph.output_shapes[idx]
            from .flops import conv_out_size
            ho = conv_out_size(h, mod.kernel_size[0], mod.stride[0], mod.padding[0],
                               mod.dilation[0])
            wo = conv_out_size(w, mod.kernel_size[1], mod.stride[1], mod.padding[1],
                               mod.dilation[1])
            kernel, hw = mod.kernel_size[0] * mod.kernel_size[1], ho * wo
            n_out, in_hw = mod.out_channels, h * w
        elif isinstance(mod, nn.Linear):
            if mod.in_features != len(x):
                raise ValueError(f'{name}: expected {len(x)} input features, got {mod}')
            kernel, hw, n_out, in_hw = 1, 1, mod.out_features, 1
        else:
            raise ValueError(f'{name}: a consumer must be a Conv2d or Linear, got '
                             f'{type(mod).__name__}')
        out = graph.new(n_out)
        graph.cg_of.extend(range(graph.num_cg, graph.num_cg + n_out))
        graph.num_cg += n_out
        graph.prunable.extend([False] * n_out)
        graph.wg_of_cg.extend([-1] * n_out)
        graph.convs.append(ConvEntry(name, 'linear' if isinstance(mod, nn.Linear) else 'conv',
                                     list(x), out, kernel, hw, mod.bias is not None, True,
                                     in_hw))
    return graph


# ---------------------------------------------------------------------------------------
# costs and the regularizer
# ---------------------------------------------------------------------------------------
COSTS = ('flops', 'params', 'latency')
PLATFORM_KEYS = ('peak_compute', 'memory_bandwidth')


def read_platform(platform, field: str = 'platform') -> dict:
    """``{peak_compute: MAC/s, memory_bandwidth: bytes/s}`` from a dict with those keys or
    from a latency table file (``tools/latency_table.py`` measures both on a device)."""
    if isinstance(platform, str):
        from .latency import LatencyTable
        platform = LatencyTable.load(platform, field).meta['platform']
    if not isinstance(platform, dict) or set(platform) != set(PLATFORM_KEYS) or not all(
            isinstance(platform[k], (int, float)) and not isinstance(platform[k], bool)
            and platform[k] > 0 for k in PLATFORM_KEYS):
        raise ValueError(f'{field}: a latency table file (tools/latency_table.py) or a dict '
                         f'with positive {list(PLATFORM_KEYS)} is expected, got {platform!r}')
    return {k: float(platform[k]) for k in PLATFORM_KEYS}


class CostModel:
    """Cost of the traced network as a function of which channel groups are alive.

    ``cost = sum(bilinear coeff * live_in * live_out) + sum(linear coeff * live_out)``:
    a conv / linear layer is bilinear (FLOPs: ``kh*kw*H_out*W_out``; params: ``kh*kw``,
    plus its bias as a linear term), a depthwise conv linear in its live channels; with
    ``cost='params'`` each BN layer adds 2 per live channel.

    ``cost='latency'`` is MorphNet's roofline latency (seconds for one image): every
    conv / linear layer costs ``max(MACs / peak_compute, bytes / memory_bandwidth)``,
    bytes being ``bytes_per_element`` times its weights plus its input and output
    activations (``H_in*W_in*live_in + H_out*W_out*live_out``), with the two platform
    figures of ``platform``. Its penalty charges each channel the dominant term's share.

    Args:
        graph (ChannelGraph): a finalized graph (consumers included).
        cost (str): ``'flops'`` (multiply-adds), ``'params'`` or ``'latency'``. Defaults
            to ``'flops'``.
        consumers (bool): count the consumer layers (:func:`add_consumers`) too.
            Defaults to True.
        platform (str | dict, optional): for ``'latency'``: a latency table file or
            ``dict(peak_compute=MAC/s, memory_bandwidth=bytes/s)`` (:func:`read_platform`).
        bytes_per_element (int): 4 for float32. Defaults to 4.
    """

    def __init__(self, graph: ChannelGraph, cost: str = 'flops', consumers: bool = True,
                 platform=None, bytes_per_element: int = 4):
        if cost not in COSTS:
            raise bad_value('cost', cost, COSTS)
        self.graph, self.cost_name = graph, cost
        self.bilinear, self.linear = [], []  # (coeff, in_cgs, out_cgs) / (coeff, cgs)
        self.layers = []  # latency: (macs k, weight k, in_hw, out_hw, depthwise, cin, cout)
        if cost == 'latency':
            self.platform = read_platform(platform, 'morphnet.platform')
            self.bytes_per_element = bytes_per_element
        for c in graph.convs:
            if c.consumer and not consumers:
                continue
            cin, cout = graph.cgs(c.in_ids), graph.cgs(c.out_ids)
            if cost == 'latency':
                self.layers.append((c.kernel * c.out_hw, c.kernel, c.in_hw, c.out_hw,
                                    c.kind == 'depthwise', cin, cout))
            elif cost == 'flops':
                k = c.kernel * c.out_hw
                if c.kind == 'depthwise':
                    self.linear.append((k, cout))
                else:
                    self.bilinear.append((k, cin, cout))
            else:
                if c.kind == 'depthwise':
                    self.linear.append((c.kernel + c.bias, cout))
                else:
                    self.bilinear.append((c.kernel, cin, cout))
                    if c.bias:
                        self.linear.append((1, cout))
        if cost == 'params':
            for ids in graph.bns.values():
                self.linear.append((2, graph.cgs(ids)))
        self._tensors = None

    def _index(self, device):
        if self._tensors is None or self._tensors[0].device != device:
            bi_in = self._flat([b[1] for b in self.bilinear], device)
            bi_out = self._flat([b[2] for b in self.bilinear], device)
            lin = self._flat([li[1] for li in self.linear], device)
            bi_k = torch.tensor([float(b[0]) for b in self.bilinear], device=device,
                                dtype=torch.float64)
            lin_k = torch.tensor([float(li[0]) for li in self.linear], device=device,
                                 dtype=torch.float64)
            self._tensors = (bi_k, lin_k, bi_in, bi_out, lin)
        return self._tensors

    @staticmethod
    def _flat(lists, device):
        """``(members, owner)`` index tensors of a list of channel-group lists, for
        :meth:`_segsum`."""
        idx = [c for lst in lists for c in lst]
        seg = [k for k, lst in enumerate(lists) for _ in lst]
        return (torch.tensor(idx, dtype=torch.long, device=device),
                torch.tensor(seg, dtype=torch.long, device=device))

    @staticmethod
    def _segsum(values, index, n):
        idx, seg = index
        return torch.zeros(n, dtype=values.dtype, device=values.device).index_add_(
            0, seg, values[idx])

    # --------------------------------------------------------------- roofline latency
    def _lat_index(self, device):
        if self._tensors is None or self._tensors[0].device != device:
            cols = list(zip(*self.layers)) if self.layers else [()] * 7
            num = [torch.tensor([float(v) for v in col], dtype=torch.float64, device=device)
                   for col in cols[:4]]
            dw = torch.tensor(list(cols[4]), dtype=torch.bool, device=device)
            self._tensors = (*num, dw, self._flat(cols[5], device), self._flat(cols[6], device))
        return self._tensors

    def _lat_terms(self, a_in, a_out, dw, mk, wk, in_hw, out_hw):
        """Per layer ``(compute seconds, memory seconds)`` for live counts a_in, a_out."""
        pairs = torch.where(dw, a_out, a_in * a_out)
        compute = mk * pairs / self.platform['peak_compute']
        mem = self.bytes_per_element * (wk * pairs + in_hw * a_in + out_hw * a_out) \
            / self.platform['memory_bandwidth']
        return compute, mem

    def _lat_live(self, a):
        mk, wk, in_hw, out_hw, dw, i_in, i_out = self._lat_index(a.device)
        n = len(self.layers)
        return (self._segsum(a, i_in, n), self._segsum(a, i_out, n), dw, mk, wk, in_hw,
                out_hw)

    def cost(self, alive) -> float:
        """Cost with ``alive`` (a 0/1 vector over channel groups, or None: all alive)."""
        if self.cost_name == 'latency':
            if alive is None:
                alive = torch.ones(self.graph.num_cg, dtype=torch.float64)
            a_in, a_out, *rest = self._lat_live(alive.to(torch.float64))
            return float(torch.maximum(*self._lat_terms(a_in, a_out, *rest)).sum())
        device = alive.device if isinstance(alive, torch.Tensor) else torch.device('cpu')
        bi_k, lin_k, bi_in, bi_out, lin = self._index(device)
        if alive is None:
            alive = torch.ones(self.graph.num_cg, dtype=torch.float64)
        a = alive.to(torch.float64)
        a_in = self._segsum(a, bi_in, len(self.bilinear))
        a_out = self._segsum(a, bi_out, len(self.bilinear))
        total = (bi_k * a_in * a_out).sum() + (lin_k * self._segsum(a, lin, len(self.linear))).sum()
        return float(total)

    def penalty(self, scores, alive):
        """``sum(coeff * (live_in * sum(s_out) + live_out * sum(s_in)))`` over bilinear
        layers plus ``sum(coeff * sum(s_out))`` over linear ones, ``s`` the scores of
        prunable channel groups (0 elsewhere): each channel charged what removing it saves.
        With ``'latency'``, per layer the derivative of its dominant roofline term."""
        if self.cost_name == 'latency':
            a = alive.to(torch.float64).detach()
            s = scores.to(torch.float64)
            a_in, a_out, dw, mk, wk, in_hw, out_hw = self._lat_live(a)
            n = len(self.layers)
            _, _, _, _, _, i_in, i_out = self._lat_index(s.device)
            s_in, s_out = self._segsum(s, i_in, n), self._segsum(s, i_out, n)
            compute, mem = self._lat_terms(a_in, a_out, dw, mk, wk, in_hw, out_hw)
            d_pairs = torch.where(dw, s_out, a_in * s_out + a_out * s_in)
            d_compute = mk * d_pairs / self.platform['peak_compute']
            d_mem = self.bytes_per_element * (wk * d_pairs + in_hw * s_in + out_hw * s_out) \
                / self.platform['memory_bandwidth']
            return torch.where(compute >= mem, d_compute, d_mem).sum()
        bi_k, lin_k, bi_in, bi_out, lin = self._index(scores.device)
        a = alive.to(torch.float64).detach()
        s = scores.to(torch.float64)
        nb = len(self.bilinear)
        a_in, a_out = self._segsum(a, bi_in, nb), self._segsum(a, bi_out, nb)
        s_in, s_out = self._segsum(s, bi_in, nb), self._segsum(s, bi_out, nb)
        return (bi_k * (a_in * s_out + a_out * s_in)).sum() + \
            (lin_k * self._segsum(s, lin, len(self.linear))).sum()

    def cost_of_widths(self, wg_widths: Sequence[int]) -> float:
        """Cost when width group ``k`` has ``wg_widths[k]`` channels: every channel of a
        group scaled by ``width / size`` (exact when a layer reads whole groups, as in a
        ResNet; an estimate for partly read groups such as ShuffleNetV2's splits)."""
        g = self.graph
        ratio = []
        for c in range(g.num_cg):
            k = g.wg_of_cg[c]
            ratio.append(1.0 if k < 0 else wg_widths[k] / len(g.width_groups[k]['cgs']))
        if self.cost_name == 'latency':
            r = torch.tensor(ratio, dtype=torch.float64)
            a_in, a_out, *rest = self._lat_live(r)
            return float(torch.maximum(*self._lat_terms(a_in, a_out, *rest)).sum())
        total = 0.0
        for k, cin, cout in self.bilinear:
            total += k * sum(ratio[c] for c in cin) * sum(ratio[c] for c in cout)
        for k, cs in self.linear:
            total += k * sum(ratio[c] for c in cs)
        return total


class MorphNetRegularizer:
    """The MorphNet penalty on the BN scales of ``module`` (usually a backbone).

    Args:
        module (nn.Module): the traced module; its BN layers are read at every call.
        graph (ChannelGraph): its :func:`trace_channels` graph (consumers may be added).
        cost (str): ``'flops'`` (FLOP-weighted), ``'params'`` (size-weighted) or
            ``'latency'`` (roofline, needs ``platform``). Defaults to ``'flops'``.
        threshold (float): a channel group is alive while its scale (largest ``|gamma|``
            of its members) exceeds it. Defaults to 0.1.
        consumers (bool): count consumer layers in the cost. Defaults to True.
        platform (str | dict, optional): see :class:`CostModel`.
    """

    def __init__(self, module: nn.Module, graph: ChannelGraph, cost: str = 'flops',
                 threshold: float = 0.1, consumers: bool = True, platform=None):
        if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) \
                or not threshold >= 0:
            raise ValueError(f'threshold: a number >= 0 is expected, got {threshold!r}')
        self.module, self.graph, self.threshold = module, graph, float(threshold)
        self.model = CostModel(graph, cost, consumers, platform)
        self.bn_names = list(graph.bns)
        self._bn_cg = [graph.cgs(graph.bns[n]) for n in self.bn_names]
        self._idx = None
        self.prunable = torch.tensor(graph.prunable, dtype=torch.bool)

    def _bn_weights(self):
        return [self.module.get_submodule(n).weight for n in self.bn_names]

    def scores(self):
        """Scale of every channel group (0 where no BN scales it)."""
        weights = self._bn_weights()
        dev = weights[0].device
        if self._idx is None or self._idx.device != dev:
            self._idx = torch.tensor([c for cgs in self._bn_cg for c in cgs], device=dev)
            self.prunable = self.prunable.to(dev)
        vals = torch.cat([w.abs() for w in weights])
        s = torch.zeros(self.graph.num_cg, dtype=vals.dtype, device=dev)
        return s.scatter_reduce(0, self._idx, vals, 'amax', include_self=False)

    def alive(self, scores=None):
        """Boolean vector over channel groups: fixed ones are always alive."""
        s = self.scores() if scores is None else scores
        return (s > self.threshold) | ~self.prunable.to(s.device)

    def __call__(self):
        """``(penalty tensor, live cost)`` for the current BN scales."""
        s = self.scores()
        alive = self.alive(s.detach())
        penalty = self.model.penalty(s * self.prunable, alive)
        return penalty.to(s.dtype), self.model.cost(alive)

    def live_cost(self) -> float:
        with torch.no_grad():
            return self.model.cost(self.alive())

    def full_cost(self) -> float:
        return self.model.cost(None)


# ---------------------------------------------------------------------------------------
# widths, shrink, expand
# ---------------------------------------------------------------------------------------
_RESNET_BN = re.compile(r'^layer(\d+)\.(\d+)\.(?:bn(\d)|downsample\.1)$')


def resnet_group_names(backbone: nn.Module) -> dict:
    """``{BN layer name: width-genotype group name}`` of an mmdet ``ResNet`` (plain stem,
    pytorch style) or a :class:`~nas_det.models.width_resnet.WidthResNet`."""
    if getattr(backbone, 'deep_stem', False) or getattr(backbone, 'dcn', None) is not None \
            or getattr(backbone, 'plugins', None):
        raise ValueError('backbone: only the plain ResNet (no deep stem, DCN or plugins) maps '
                         'to WidthResNet widths')
    out = {}
    for name, mod in backbone.named_modules():
        if not isinstance(mod, _BatchNorm):
            continue
        if name == 'bn1':
            out[name] = 'stem'
            continue
        m = _RESNET_BN.match(name)
        if not m:
            raise ValueError(f'backbone: BN layer {name!r} is not one of a ResNet')
        s, b, k = int(m.group(1)), int(m.group(2)) + 1, m.group(3)
        block = backbone.get_submodule(f'layer{s}.{b - 1}')
        last = 3 if hasattr(block, 'conv3') else 2
        if k is None or int(k) == last:
            out[name] = f'stage{s}'
        elif last == 2:
            out[name] = f'stage{s}/block{b}/mid'
        else:
            out[name] = f'stage{s}/block{b}/mid{k}'
    return out


def group_names(graph: ChannelGraph, names: Mapping | None = None) -> list:
    """Name of every width group: the genotype names its BN layers map to (``names``), or
    its first BN layer's name."""
    out = []
    for wg in graph.width_groups:
        if names:
            out.append(sorted({names[b] for b in wg['bns']}))
        else:
            out.append([wg['bns'][0]])
    return out


def widths_from_groups(graph: ChannelGraph, wg_widths: Sequence[int],
                       names: Mapping | None = None, order: Sequence[str] | None = None,
                       absent: Sequence[str] = ()) -> Widths:
    """A :class:`Widths` genotype from per-width-group widths (names as :func:`group_names`);
    ``absent`` names groups the traced network does not have (a removed branch): width 0."""
    d = {n: 0 for n in absent}
    for labels, w in zip(group_names(graph, names), wg_widths):
        for n in labels:
            d[n] = int(w)
    if order is not None:
        missing = [n for n in order if n not in d]
        if missing:
            raise ValueError(f'widths: the traced network has no channels for {missing[:5]}')
        return Widths(tuple((n, d[n]) for n in order))
    return Widths(tuple(d.items()))


def groups_from_widths(graph: ChannelGraph, widths: Widths, names: Mapping | None = None) -> list:
    """Per-width-group widths read back from a genotype (coupled names must agree)."""
    out = []
    for labels in group_names(graph, names):
        vals = {widths[n] for n in labels}
        if len(vals) != 1:
            raise ValueError(f'widths: the groups {labels} share channels (residual adds) and '
                             f'must have one width, got {sorted(vals)}')
        out.append(vals.pop())
    return out


@dataclass
class ShrinkResult:
    keep: list  # bool per channel group
    wg_widths: list  # live width per width group (0: in a removed branch)
    cost: float  # live cost of the shrunk network
    full_cost: float
    removed: list = field(default_factory=list)  # names of the removed branches
    widened: list = field(default_factory=list)  # width groups raised to min_width


def shrink(regularizer: MorphNetRegularizer, min_width: int = 1,
           branches: Mapping | None = None) -> ShrinkResult:
    """Keep the channel groups whose scale exceeds the threshold.

    A layer the threshold empties never dead-ends the network:

    * if it lies in one of ``branches`` (a residual block's inner layers), the whole
      branch goes: every width group of it gets width 0 and the block becomes its
      shortcut (MorphNet removes such structure);
    * elsewhere it keeps its ``min_width`` channels of largest scale (any layer with
      fewer live channels is raised to that too).

    Args:
        regularizer (MorphNetRegularizer): the trained network's regularizer.
        min_width (int): the fewest channels a layer outside a removable branch keeps;
            0 makes an emptied layer there an error. Defaults to 1.
        branches (Mapping[str, Sequence[int]], optional): ``{name: width-group indices}``
            of the removable branches. Defaults to None (none).

    Raises:
        ValueError: with ``min_width=0``, a layer outside every branch would lose every
            channel, so no valid network remains (the layer named).
    """
    if not isinstance(min_width, int) or isinstance(min_width, bool) or min_width < 0:
        raise ValueError(f'min_width: an integer >= 0 is expected, got {min_width!r}')
    g = regularizer.graph
    with torch.no_grad():
        scores = regularizer.scores().cpu().tolist()
        alive = regularizer.alive().cpu()
    keep = [bool(v) for v in alive.tolist()]
    live = [sum(keep[c] for c in wg['cgs']) for wg in g.width_groups]
    branches = dict(branches or {})
    for name, wgs in branches.items():
        bad = [k for k in wgs if not isinstance(k, int) or not 0 <= k < len(g.width_groups)]
        if bad:
            raise ValueError(f'branches[{name!r}]: width-group indices in '
                             f'[0, {len(g.width_groups)}) are expected, got {bad}')
    removed = [name for name, wgs in branches.items() if any(live[k] == 0 for k in wgs)]
    gone = {k for name in removed for k in branches[name]}
    widened = []
    for k, wg in enumerate(g.width_groups):
        if k in gone:
            for c in wg['cgs']:
                keep[c] = False
            live[k] = 0
            continue
        if live[k] >= min(min_width, len(wg['cgs'])) and live[k] > 0:
            continue
        if min_width == 0:
            raise ValueError(f'threshold: {regularizer.threshold} removes every channel of the '
                             f'layer(s) {wg["bns"][:4]}, outside any removable residual '
                             'branch, so no valid network remains; lower the threshold or '
                             'the regularizer strength, or keep min_width >= 1')
        ranked = sorted(wg['cgs'], key=lambda c: (-scores[c], c))
        for c in ranked[:min_width]:
            keep[c] = True
        live[k] = sum(keep[c] for c in wg['cgs'])
        widened.append(k)
    cost = regularizer.model.cost(torch.tensor(keep, dtype=torch.float64))
    return ShrinkResult(keep, live, cost, regularizer.full_cost(), removed, widened)


EXPAND_MODES = ('under', 'nearest')


def expand(cost_fn, widths: Widths, budget: float, divisor: int = 8, max_multiplier=1024.0,
           tol: float = 1e-6, mode: str = 'under') -> tuple:
    """One multiplier for every width so that ``cost_fn(widths.scaled(m, divisor))`` is
    the largest cost not above ``budget`` (MorphNet's expansion step), by bisection; with
    ``mode='nearest'`` the cost closest to the budget, above or below (rounding widths
    to multiples of ``divisor`` makes the cost a step function of the multiplier).

    Args:
        cost_fn (callable): ``Widths -> cost``, non-decreasing in every width.
        widths (Widths): the shrunk widths.
        budget (float): the FLOPs or params budget.
        divisor (int): widths are rounded to multiples of it. Defaults to 8.
        max_multiplier (float): search bound. Defaults to 1024.
        tol (float): relative bisection tolerance on the multiplier. Defaults to 1e-6.
        mode (str): ``'under'`` (never above the budget) or ``'nearest'``.
            Defaults to ``'under'``.

    Returns:
        tuple: ``(multiplier, expanded Widths, cost)``.

    Raises:
        ValueError: the budget is below the cost of the narrowest net (every width at
            ``divisor``) or above that of ``max_multiplier``.
    """
    if not isinstance(budget, (int, float)) or isinstance(budget, bool) or not budget > 0:
        raise ValueError(f'budget: a positive number is expected, got {budget!r}')
    if mode not in EXPAND_MODES:
        raise bad_value('mode', mode, EXPAND_MODES)
    if not any(widths.values):
        raise ValueError('widths: every width is 0; nothing to expand')
    lo = min(divisor / w for w in widths.values if w) / 2
    c_lo = cost_fn(widths.scaled(lo, divisor))
    if c_lo > budget:
        raise ValueError(f'budget: {budget:.6g} is below {c_lo:.6g}, the cost of the narrowest '
                         f'network any multiplier gives (every width {divisor}); no multiplier '
                         'reaches it')
    hi = 1.0
    while cost_fn(widths.scaled(hi, divisor)) <= budget:
        hi *= 2
        if hi > max_multiplier:
            raise ValueError(f'budget: {budget:.6g} is above the cost of the network widened '
                             f'{max_multiplier:g}x; no multiplier up to that reaches it')
    while hi - lo > tol * hi:
        mid = (lo + hi) / 2
        if cost_fn(widths.scaled(mid, divisor)) <= budget:
            lo = mid
        else:
            hi = mid
    out = widths.scaled(lo, divisor)
    cost = cost_fn(out)
    if mode == 'nearest':
        over = widths.scaled(hi, divisor)
        c_over = cost_fn(over)
        if c_over - budget < budget - cost:
            return hi, over, c_over
    return lo, out, cost


# ---------------------------------------------------------------------------------------
# checkpoint slicing
# ---------------------------------------------------------------------------------------
def channel_order(graph: ChannelGraph, keep_widths: Sequence[int], scores) -> list:
    """Which channel groups to keep for target widths: in each width group the
    ``min(width, size)`` groups of highest scale (ties: first), as a bool list."""
    keep = [True] * graph.num_cg
    s = [float(v) for v in scores]
    for wg, w in zip(graph.width_groups, keep_widths):
        ranked = sorted(wg['cgs'], key=lambda c: (-(s[c] if graph.prunable[c] else math.inf), c))
        chosen = set(ranked[:w])
        for c in wg['cgs']:
            keep[c] = c in chosen
    return keep


def transfer_state_dict(graph: ChannelGraph, state_dict: Mapping, target: Mapping,
                        keep: Sequence[bool], prefix: str = '', consumer_prefix: str = '') -> dict:
    """Slice a trained state dict to the kept channels and fit it into ``target``.

    Every conv / linear / BN the graph knows is cut to its kept input and output channels
    (in their original order); where ``target`` is wider (an expanded net) the kept
    channels fill its leading slots and the rest keep ``target``'s fresh values. Other
    entries are copied as they are.

    Args:
        graph (ChannelGraph): the traced graph of the trained module.
        state_dict (Mapping): the trained weights (full model keys).
        target (Mapping): the new model's state dict (shapes and fresh values).
        keep (Sequence[bool]): per channel group.
        prefix (str): key prefix of the traced module (``'backbone.'``). Defaults to ''.
        consumer_prefix (str): key prefix of consumer layers. Defaults to ''.

    Returns:
        dict: a state dict with ``target``'s keys and shapes.
    """
    rules = {}  # key -> (out positions, in positions or None)

    def pos(ids):
        return [i for i, c in enumerate(graph.cgs(ids)) if keep[c]]
    for c in graph.convs:
        p = consumer_prefix if c.consumer else prefix
        out_p = pos(c.out_ids)
        in_p = None if c.kind == 'depthwise' else pos(c.in_ids)
        rules[f'{p}{c.name}.weight'] = (out_p, in_p)
        rules[f'{p}{c.name}.bias'] = (out_p, None)
    for name, ids in graph.bns.items():
        p = pos(ids)
        for k in ('weight', 'bias', 'running_mean', 'running_var'):
            rules[f'{prefix}{name}.{k}'] = (p, None)
    out = {}
    for key, dst in target.items():
        if key not in state_dict:
            raise ValueError(f'state_dict: the trained weights lack {key!r}')
        src = state_dict[key]
        if key in rules:
            o, i = rules[key]
            src = src[o]
            if i is not None:
                src = src[:, i]
        if tuple(src.shape) == tuple(dst.shape):
            out[key] = src.clone().to(dst.dtype)
            continue
        if src.dim() != dst.dim() or any(a > b for a, b in zip(src.shape, dst.shape)):
            raise ValueError(f'state_dict: {key!r} of shape {tuple(src.shape)} does not fit '
                             f'the target shape {tuple(dst.shape)}')
        new = dst.clone()
        new[tuple(slice(0, n) for n in src.shape)] = src.to(dst.dtype)
        out[key] = new
    return out


_MOVED = ('RESNET_ARCH', 'resnet_widths', 'resnet_branches', 'read_widths', 'WidthBlock',
          'WidthResNet')
"""Names that moved to :mod:`nas_det.models.width_resnet`."""


def __getattr__(name):
    """The names of :data:`_MOVED`, from their new module, with a ``DeprecationWarning``."""
    if name in _MOVED:
        import warnings

        from . import width_resnet
        warnings.warn(f'nas_det.models.morphnet.{name} moved to nas_det.models.width_resnet.'
                      f'{name}; import it from there', DeprecationWarning, stacklevel=2)
        return getattr(width_resnet, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = ['ChannelGraph', 'ConvEntry', 'trace_channels', 'add_consumers', 'CostModel',
           'MorphNetRegularizer', 'resnet_group_names', 'group_names', 'widths_from_groups',
           'groups_from_widths', 'ShrinkResult', 'shrink', 'expand', 'EXPAND_MODES',
           'channel_order', 'transfer_state_dict', 'COSTS', 'read_platform']
