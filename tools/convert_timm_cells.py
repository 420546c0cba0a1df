#!/usr/bin/env python
"""Convert timm's NASNet-A Large / PNASNet-5 Large weights for our cell networks.

    python tools/convert_timm_cells.py SRC DST [--arch auto|nasnetalarge|pnasnet5large]
        [--prefix backbone.] [--no-head]

SRC is a ``nasnetalarge`` / ``pnasnet5large`` checkpoint you downloaded yourself (nothing
is fetched): timm's ``model.safetensors`` or ``pytorch_model.bin``, or any ``.pth`` of
``timm.create_model(arch).state_dict()`` (bare, or under ``state_dict`` / ``model``). A
``.safetensors`` file is read as such, anything else with ``torch.load(weights_only=True)``:
a file that needs more is refused. The keys are renamed by
:func:`nas_det.models.timm_mapping.convert_timm_state_dict` (no tensor changes); the widths
(``filters``, the stem) and the classes are read from the weights.

DST loads with the safe loader: with the default ``--prefix backbone.`` the cells go under
``backbone.`` and the classifier under ``head.fc.``, so
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')`` on the
``CellNetBackbone`` the tool prints loads it (or ``load_from=DST`` for a
``CellImageClassifier`` with a ``CellClsHead``); with ``--prefix ''`` the keys are those of
``CellNetwork`` (classifier ``fc.``), so ``init_cfg=dict(type='Pretrained', checkpoint=DST)``
on the printed ``CellNetwork`` loads it. The tool builds that network and loads DST's
weights strictly before it writes anything. Equal outputs need ``padding='timm'`` (in the
printed config) and timm's input: RGB, mean 127.5, std 127.5 (the printed
``data_preprocessor``), 331x331 at ImageNet. See configs/cells/README.md.
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

STEMS = {'conv0.conv.weight': 'nasnetalarge', 'conv_0.conv.weight': 'pnasnet5large'}


def detect_arch(sd) -> str:
    found = [arch for key, arch in STEMS.items() if key in sd]
    if len(found) != 1:
        raise ValueError(f'--arch: cannot tell the timm model from the keys (no stem key '
                         f'among {list(STEMS)}); name it: --arch nasnetalarge|pnasnet5large')
    return found[0]


def network_kwargs(sd, arch):
    """Our ``CellNetwork`` kwargs for the mapped state dict ``sd`` (widths from shapes)."""
    from nas_det.models.cells import LAYOUTS
    from nas_det.models.timm_mapping import ARCHS
    kw = dict(ARCHS[arch]['model'], padding='timm')
    lay = LAYOUTS[kw['layout']]
    for key in ('stem.conv.weight', f'cells.{lay["num_stem_cells"]}.pre0.conv.weight'):
        if key not in sd:
            raise ValueError(f'state_dict: no {key!r} (timm {arch}: '
                             f'{"conv0" if arch == "nasnetalarge" else "conv_0"}.conv.weight, '
                             'cell_0.conv_1x1.conv.weight) to read the widths from')
    stem = sd['stem.conv.weight'].shape[0]
    if stem != 32 * lay['stem_multiplier']:
        kw['stem_multiplier'] = stem // 32 if stem % 32 == 0 else stem / 32
    kw['filters'] = sd[f'cells.{lay["num_stem_cells"]}.pre0.conv.weight'].shape[0]
    kw['num_classes'] = sd['fc.weight'].shape[0] if 'fc.weight' in sd else 0
    return kw


def convert(src, dst, arch='auto', prefix='backbone.', head=True):
    """Convert ``src`` into ``dst``; returns ``(arch, CellNetwork kwargs, backbone cfg,
    number of keys written)``."""
    import torch

    import nas_det  # noqa: F401
    from nas_det.engine.runner.checkpoint import read_state_dict, write_checkpoint
    from nas_det.models.cells import CellNetwork
    from nas_det.models.timm_mapping import TIMM_DATA_PREPROCESSOR, convert_timm_state_dict
    timm_sd = read_state_dict(src)
    if arch == 'auto':
        arch = detect_arch(timm_sd)
    sd = convert_timm_state_dict(timm_sd, arch)
    kw = network_kwargs(sd, arch)
    with torch.device('meta'):  # shapes only: no memory for a second copy
        net = CellNetwork(**kw)
    try:
        net.load_state_dict(sd, strict=True, assign=True)  # every key and shape fits
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        raise ValueError(f'state_dict: does not fit CellNetwork({kw}): '
                         f'{" ".join(lines[1:3]) or lines[0]}') from None
    head_prefix = 'head.' if prefix == 'backbone.' else prefix
    out = {}
    for k, v in sd.items():
        if k.startswith('fc.'):
            if head:
                out[head_prefix + k] = v
        else:
            out[prefix + k] = v
    cfg = dict(type='CellNetBackbone', **{k: v for k, v in kw.items() if k != 'num_classes'})
    meta = dict(converted_from=osp.basename(src), timm_model=arch, network=kw, backbone=cfg,
                data_preprocessor=dict(TIMM_DATA_PREPROCESSOR),
                classifier=(head_prefix + 'fc') if head and kw['num_classes'] else None)
    write_checkpoint(dict(state_dict={k: v.detach().contiguous() for k, v in out.items()},
                          meta=meta), dst)
    return arch, kw, cfg, len(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument('src', help='the timm checkpoint (.safetensors, .bin or .pth)')
    p.add_argument('dst', help='where to write the converted checkpoint')
    p.add_argument('--arch', default='auto', choices=['auto', 'nasnetalarge', 'pnasnet5large'],
                   help='the timm model (default: auto, from the stem key)')
    p.add_argument('--prefix', default='backbone.',
                   help="key prefix of the cells (default: 'backbone.', the classifier then "
                   "under 'head.fc.'; '': CellNetwork keys, the classifier under 'fc.')")
    p.add_argument('--no-head', dest='head', action='store_false',
                   help="leave out the classifier (timm's last_linear)")
    args = p.parse_args(argv)
    try:
        arch, kw, cfg, n = convert(args.src, args.dst, args.arch, args.prefix, args.head)
    except (ValueError, FileNotFoundError) as e:
        p.exit(2, f'{p.prog}: error: {e}\n')
    from nas_det.models.timm_mapping import TIMM_DATA_PREPROCESSOR
    head = (f'classifier {"head." if args.prefix == "backbone." else args.prefix}fc '
            f'({kw["num_classes"]} classes)' if args.head and kw['num_classes']
            else 'no classifier')
    print(f'converted timm {arch}: {n} keys mapped ({head}) -> {args.dst}')
    init = dict(type='Pretrained', checkpoint=args.dst)
    if args.prefix:
        init['prefix'] = args.prefix
        print('backbone (merge into model.backbone):')
        print('  ' + json.dumps(dict(cfg, init_cfg=init)))
    else:
        print('network (as model, or its stem and cells in a CellNetBackbone):')
        print('  ' + json.dumps(dict(kw, type='CellNetwork', init_cfg=init)))
    print('data_preprocessor (merge into model.data_preprocessor; mmpretrain: to_rgb):')
    print('  ' + json.dumps(TIMM_DATA_PREPROCESSOR))


if __name__ == '__main__':
    main()
