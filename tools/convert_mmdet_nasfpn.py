#!/usr/bin/env python
"""Convert mmdet's NAS-FPN weights for our NASFPNNeck (the published pyramid as data).

    python tools/convert_mmdet_nasfpn.py SRC DST

SRC is a checkpoint you downloaded yourself (nothing is fetched): mmdet's RetinaNet NAS-FPN
(``retinanet_r50_nasfpn_crop640_50e_coco-*.pth``, keys ``neck.fpn_stages.*``), or a bare
``NASFPN`` neck state dict (keys ``fpn_stages.*``), bare or under ``state_dict``. It is read
with ``torch.load(weights_only=True)`` (a ``.safetensors`` file as such): a file that needs
more is refused. The neck's keys are renamed by
:func:`nas_det.models.nasfpn.mmdet_to_nasfpn_state_dict` (no tensor changes); every other
key (``backbone.*``, ``bbox_head.*``) is kept as it is, the optimizer state and the old
meta are left out.

DST loads with the safe loader: ``load_from=DST`` for the whole detector (e.g.
configs/nasfpn/retinanet_r50_nasfpn-published_crop640-50e_coco.py), or
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='neck.')`` on the neck (no prefix
for a bare neck). The tool reads the neck's widths, stacks and norm from the weights, builds
that ``NASFPNNeck`` and loads DST's neck weights strictly before it writes anything. See
configs/nasfpn/README.md.
"""
import argparse
import json
import os.path as osp
import re
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

_STAGE = re.compile(r'(.*?)fpn_stages\.\d+\.')


def neck_prefix(sd) -> str:
    """The prefix of mmdet ``NASFPN`` keys in ``sd`` (``'neck.'``, or ``''`` for a bare
    neck)."""
    prefixes = {m.group(1) for m in map(_STAGE.match, sd) if m}
    if len(prefixes) != 1:
        found = f'prefixes {sorted(prefixes)}' if prefixes else 'none'
        raise ValueError(f'state_dict: one mmdet NASFPN neck (keys [PREFIX]fpn_stages.*) is '
                         f'expected, found {found}')
    return prefixes.pop()


def neck_kwargs(neck_sd) -> dict:
    """``NASFPNNeck`` kwargs that give the keys and shapes of ``neck_sd`` (our keys, no
    prefix); the lateral ``in_channels`` are those from mmdet's ``start_level`` on."""
    def indices(pattern):
        return sorted({int(m.group(1)) for m in map(re.compile(pattern).match, neck_sd) if m})

    laterals = indices(r'lateral_convs\.(\d+)\.conv\.weight$')
    if laterals != list(range(len(laterals))) or not laterals:
        raise ValueError(f'state_dict: lateral_convs.{{0..n}}.conv.weight are expected, found '
                         f'indices {laterals}')
    widths = [neck_sd[f'lateral_convs.{i}.conv.weight'].shape for i in laterals]
    norm = any('.bn.' in k for k in neck_sd)
    return dict(in_channels=[int(s[1]) for s in widths], out_channels=int(widths[0][0]),
                num_outs=len(laterals) + len(indices(r'extra_downsamples\.(\d+)\.')),
                stack_times=max(indices(r'stages\.(\d+)\.'), default=-1) + 1, start_level=0,
                norm_cfg=dict(type='BN') if norm else None)


def convert(src, dst):
    """Convert ``src`` into ``dst``; returns ``(prefix, neck cfg, keys renamed, keys
    written)``."""
    import nas_det  # noqa: F401
    from nas_det.engine.runner.checkpoint import read_state_dict, write_checkpoint
    from nas_det.models.nasfpn import NASFPNNeck, mmdet_to_nasfpn_state_dict
    sd = read_state_dict(src)
    prefix = neck_prefix(sd)
    mapped = mmdet_to_nasfpn_state_dict(sd)
    renamed = sum(k not in sd for k in mapped)
    neck_keys = ('lateral_convs.', 'extra_downsamples.', 'stages.')
    neck_sd = {k[len(prefix):]: v for k, v in mapped.items()
               if k.startswith(prefix) and k[len(prefix):].startswith(neck_keys)}
    kw = neck_kwargs(neck_sd)
    neck = NASFPNNeck(**kw, init_cfg=None)
    try:
        neck.load_state_dict(neck_sd, strict=True)  # every key and shape fits
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        raise ValueError(f'state_dict: does not fit NASFPNNeck({kw}): '
                         f'{" ".join(lines[1:3]) or lines[0]}') from None
    cfg = dict(type='NASFPNNeck', genotype='nasfpn_7cell', **kw)
    meta = dict(converted_from=osp.basename(src), neck=cfg, neck_prefix=prefix)
    write_checkpoint(dict(state_dict={k: v.detach().contiguous() for k, v in mapped.items()},
                          meta=meta), dst)
    return prefix, cfg, renamed, len(mapped)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument('src', help="mmdet's NAS-FPN checkpoint (detector or bare neck)")
    p.add_argument('dst', help='where to write the converted checkpoint')
    args = p.parse_args(argv)
    try:
        prefix, cfg, renamed, n = convert(args.src, args.dst)
    except (ValueError, FileNotFoundError) as e:
        p.exit(2, f'{p.prog}: error: {e}\n')
    print(f'converted mmdet NASFPN ({cfg["stack_times"]} stacks): {renamed} keys mapped, '
          f'{n} written -> {args.dst}')
    init = dict(type='Pretrained', checkpoint=args.dst)
    if prefix:
        init['prefix'] = prefix
    print('neck (merge into model.neck; in_channels: the inputs from start_level on):')
    print('  ' + json.dumps(dict(cfg, init_cfg=init)))
    if prefix:
        print(f'whole detector: load_from = {args.dst!r}')


if __name__ == '__main__':
    main()
