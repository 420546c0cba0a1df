"""Reference networks with the official DetNAS / SPOS ShuffleNetV2 key layouts (for tests).

Written for the tests from the layouts described in
:mod:`nas_det.models.official_shufflenet`: module names give the official state-dict
keys, and the forward follows the official code's computation (conv biases in DetNAS's
first and last convs, affine-free norms in SPOS, DetNAS's two channel shuffles), so a
converted state dict can be checked against an independent implementation.
"""
import torch
import torch.nn as nn

OPS = ('shufflenet_3x3', 'shufflenet_5x5', 'shufflenet_7x7', 'xception_3x3')
PRESET_300M = dict(stem=16, widths=(64, 160, 320, 640), blocks=(4, 4, 8, 4), last=1024)


def split_reference(x, method):
    """The kept and the transformed half of a stride-1 block's input, by index lists."""
    c = x.shape[1]
    if method == 'halves':  # interleave [0, c/2, 1, c/2+1, ...], keep the first half
        order = [g * (c // 2) + j for j in range(c // 2) for g in (0, 1)]
        return x[:, order[:c // 2]], x[:, order[c // 2:]]
    pairs = x.unflatten(1, (c // 2, 2))  # even_odd
    return pairs[:, :, 0], pairs[:, :, 1]


def _bn(c, affine):
    return nn.BatchNorm2d(c, affine=affine)


class DetNASUnit(nn.Module):
    """A DetNAS ``ShuffleNetV2BlockSearched``: ``conv`` (and ``proj_conv``) with named
    layers."""

    def __init__(self, name, op, cin, cout, stride, split):
        super().__init__()
        self.stride, self.split = stride, split
        mid = cout // 2
        c_in, c_out = (cin, cout - cin) if stride == 2 else (cin // 2, cout // 2)
        k = int(op[-1])
        p = f'{name}_{op}'

        def part(x, ci, co, kernel, s, spatial, relu):
            seq = nn.Sequential()
            if spatial:
                seq.add_module(f'interstellar{p}_branch2{x}_s',
                               nn.Conv2d(ci, ci, kernel, s, kernel // 2, groups=ci, bias=False))
                seq.add_module(f'interstellar{p}_branch2{x}_s_bn', _bn(ci, True))
            seq.add_module(f'interstellar{p}_branch2{x}', nn.Conv2d(ci, co, 1, bias=False))
            seq.add_module(f'bn{p}_branch2{x}', _bn(co, True))
            if relu:
                seq.add_module(f'relu{p}_branch2{x}', nn.ReLU())
            return seq

        if op.startswith('xception'):
            self.conv = nn.Sequential(part('a', c_in, mid, 3, stride, True, True),
                                      part('b', mid, mid, 3, 1, True, True),
                                      part('c', mid, c_out, 3, 1, True, False))
        else:
            first = part('a', c_in, mid, 1, 1, False, True)
            second = nn.Sequential()
            second.add_module(f'interstellar{p}_branch2b_s',
                              nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False))
            second.add_module(f'interstellar{p}_branch2b_s_bn', _bn(mid, True))
            second.add_module(f'interstellar{p}_branch2b', nn.Conv2d(mid, c_out, 1, bias=False))
            second.add_module(f'bn{p}_branch2b', _bn(c_out, True))
            self.conv = nn.Sequential(first, second)
        if stride == 2:
            proj = nn.Sequential()
            proj.add_module(f'interstellar{name}_proj_s',
                            nn.Conv2d(cin, cin, k, 2, k // 2, groups=cin, bias=False))
            proj.add_module(f'interstellar{name}_proj_s_bn', _bn(cin, True))
            proj.add_module(f'interstellar{name}_proj', nn.Conv2d(cin, cin, 1, bias=False))
            proj.add_module(f'bn{name}_proj', _bn(cin, True))
            proj.add_module(f'relu{name}_proj', nn.ReLU())
            self.proj_conv = proj

    def forward(self, x):
        if self.stride == 1:
            keep, x = split_reference(x, self.split)
        else:
            keep = self.proj_conv(x)
        return torch.cat((keep, torch.relu(self.conv(x))), 1)


class SPOSUnit(nn.Module):
    """A SPOS ``Shufflenet`` / ``Shuffle_Xception`` block: numbered ``branch_main`` and
    ``branch_proj`` layers with affine-free norms."""

    def __init__(self, op, cin, cout, stride):
        super().__init__()
        self.stride = stride
        mid = cout // 2
        c_in, c_out = (cin, cout - cin) if stride == 2 else (cin // 2, cout // 2)
        k = int(op[-1])

        def dw(c, kernel, s):
            return [nn.Conv2d(c, c, kernel, s, kernel // 2, groups=c, bias=False),
                    _bn(c, False)]

        def pw(ci, co):
            return [nn.Conv2d(ci, co, 1, bias=False), _bn(co, False), nn.ReLU()]

        if op.startswith('xception'):
            layers = (dw(c_in, 3, stride) + pw(c_in, mid) + dw(mid, 3, 1) + pw(mid, mid)
                      + dw(mid, 3, 1) + pw(mid, c_out))
        else:
            layers = pw(c_in, mid) + dw(mid, k, stride) + pw(mid, c_out)
        self.branch_main = nn.Sequential(*layers)
        if stride == 2:
            self.branch_proj = nn.Sequential(*(dw(cin, k, 2) + pw(cin, cin)))

    def forward(self, x):
        if self.stride == 1:
            keep, x = split_reference(x, 'even_odd')
        else:
            keep = self.branch_proj(x)
        return torch.cat((keep, self.branch_main(x)), 1)


class ConvBNReLU(nn.Module):
    def __init__(self, cin, cout, k, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=True)
        self.bn = _bn(cout, True)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class OfficialRef(nn.Module):
    """The whole official network: ``layout`` ``'detnas'`` or ``'spos'``; ``ops`` (official
    op indices, one per block) builds a searched network, None a supernet. ``forward(x,
    path)`` returns the four stage outputs and the last conv's output."""

    def __init__(self, layout, ops=None, split='halves', preset=PRESET_300M):
        super().__init__()
        self.layout, self.supernet = layout, ops is None
        stem, widths, blocks, last = (preset[k] for k in ('stem', 'widths', 'blocks', 'last'))
        if layout == 'detnas':
            self.first_conv = ConvBNReLU(3, stem, 3, 2)
        else:
            self.first_conv = nn.Sequential(nn.Conv2d(3, stem, 3, 2, 1, bias=False),
                                            _bn(stem, False), nn.ReLU())
        self.features = nn.ModuleList()
        self.stage_ends = []
        cin, i = stem, 0
        for s, (cout, n) in enumerate(zip(widths, blocks)):
            for b in range(n):
                stride = 2 if b == 0 else 1

                def unit(op_id):
                    if layout == 'detnas':
                        return DetNASUnit(f'{s + 1}{chr(97 + b)}', OPS[op_id], cin, cout,
                                          stride, split)
                    return SPOSUnit(OPS[op_id], cin, cout, stride)

                self.features.append(nn.ModuleList([unit(j) for j in range(4)])
                                     if ops is None else unit(ops[i]))
                cin, i = cout, i + 1
            self.stage_ends.append(i - 1)
        if layout == 'detnas':
            self.last_conv = ConvBNReLU(cin, last, 1, 1)
            self.fc = nn.Module()
            self.fc.fc = nn.Linear(last, 1000)
        else:
            self.conv_last = nn.Sequential(nn.Conv2d(cin, last, 1, bias=False),
                                           _bn(last, False), nn.ReLU())
            self.classifier = nn.Sequential(nn.Linear(last, 1000, bias=False))

    def forward(self, x, path=None):
        x = self.first_conv(x)
        outs = []
        for i, block in enumerate(self.features):
            x = block[path[i]](x) if self.supernet else block(x)
            if i in self.stage_ends:
                outs.append(x)
        last = self.last_conv if self.layout == 'detnas' else self.conv_last
        return outs + [last(x)]


@torch.no_grad()
def randomize(model, seed=0):
    """Random weights, norm statistics and affine parameters (conv weights scaled by fan-in
    so activations stay of order one)."""
    g = torch.Generator().manual_seed(seed)
    for name, t in model.state_dict().items():
        if t.dtype == torch.long:
            t.fill_(int(torch.randint(1, 1000, (), generator=g)))
        elif name.endswith('running_var'):
            t.copy_(torch.rand(t.shape, generator=g) + 0.5)
        elif t.dim() == 1:  # norm weights around 1; norm biases, means, conv biases around 0
            base = 1.0 if name.endswith('.weight') else 0.0
            t.copy_(base + 0.2 * torch.randn(t.shape, generator=g))
        else:
            fan_in = t[0].numel()
            t.copy_(torch.randn(t.shape, generator=g) / fan_in ** 0.5)
    return model
