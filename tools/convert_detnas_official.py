#!/usr/bin/env python
"""Convert an official DetNAS / Single Path One-Shot ImageNet checkpoint for our backbones.

    python tools/convert_detnas_official.py OFFICIAL.pth OUT.pth [--layout auto|detnas|spos]
        [--bn-affine fill|drop] [--prefix backbone.] [--channel-split even_odd|halves]

OFFICIAL is a checkpoint you downloaded yourself (nothing is fetched): the DetNAS ImageNet
supernet (``Supernet-ImageNet``), a DetNAS ImageNet-trained searched network
(``COCO_FPN_300M.pkl`` ...), or the SPOS supernet (``checkpoint-150000.pth.tar``). It is
read with ``torch.load(weights_only=True)``: a file that needs more is refused.

OUT loads with the safe loader into the backbone the tool prints (with
``init_cfg=dict(type='Pretrained', checkpoint=OUT, prefix='backbone.')``, or as a
detector's ``load_from``); the tool builds that backbone and loads OUT strictly before it
writes anything. It also prints the ``data_preprocessor`` the official weights need:
BGR images in 0-255, no mean or std. See configs/detnas/README.md.
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def convert(src, dst, layout='auto', bn_affine='fill', prefix='backbone.',
            channel_split=None, with_last_conv=None):
    """Convert ``src`` into ``dst``; returns ``(ConversionInfo, backbone cfg)``."""
    import torch
    from mmengine.registry import MODELS

    import nas_det  # noqa: F401
    from nas_det.engine.runner.checkpoint import safe_load
    from nas_det.models.official_shufflenet import (OFFICIAL_DATA_PREPROCESSOR,
                                                    convert_official_state_dict)
    from nas_det.models.shufflenet import LAST_CHANNELS
    ckpt = safe_load(src, map_location='cpu', trust=False)
    sd, info = convert_official_state_dict(ckpt, layout, bn_affine, channel_split)
    if with_last_conv is None:  # keep it where our backbone's last conv has its width
        with_last_conv = (info.with_last_conv
                          and sd['last_conv.conv.weight'].shape[0] == LAST_CHANNELS)
    if with_last_conv and not info.with_last_conv:
        raise ValueError('--with-last-conv: the checkpoint has no last conv')
    if not with_last_conv:
        sd = {k: v for k, v in sd.items() if not k.startswith('last_conv.')}
    cfg = info.backbone_cfg(bn_affine)
    backbone = MODELS.build(dict(cfg, with_last_conv=with_last_conv))
    backbone.load_state_dict(sd, strict=True)  # every key and shape fits
    meta = dict(converted_from=osp.basename(src), layout=info.layout, arch=info.arch,
                supernet=info.supernet, channel_split=info.channel_split,
                official_affine_norms=info.affine, bn_affine=bn_affine,
                genotype=None if info.genotype is None else info.genotype.to_dict(),
                skipped=list(info.skipped), backbone=cfg,
                data_preprocessor=dict(OFFICIAL_DATA_PREPROCESSOR))
    out = dict(state_dict={prefix + k: v.detach().clone().contiguous() for k, v in sd.items()},
               meta=meta)
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    tmp = dst + '.tmp'
    torch.save(out, tmp)
    os.replace(tmp, dst)
    torch.load(dst, weights_only=True)  # proves the file loads with the safe loader
    return info, cfg


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument('src', help='the official checkpoint')
    p.add_argument('dst', help='where to write the converted checkpoint')
    p.add_argument('--layout', default='auto', choices=['auto', 'detnas', 'spos'],
                   help='key layout (default: auto, from the stem keys)')
    p.add_argument('--bn-affine', default='fill', choices=['fill', 'drop'],
                   help='affine-free official norms (SPOS): fill weight=1, bias=0 (default) '
                   'or drop them for norm_cfg=dict(type="BN", affine=False)')
    p.add_argument('--prefix', default='backbone.',
                   help="key prefix (default: 'backbone.', as a detector's state dict)")
    p.add_argument('--channel-split', choices=['even_odd', 'halves'],
                   help='override the backbone channel_split (default: halves for the DetNAS '
                   'supernet, even_odd otherwise)')
    last = p.add_mutually_exclusive_group()
    last.add_argument('--with-last-conv', dest='with_last_conv', action='store_true',
                      default=None, help='keep the last 1x1 conv (default: when it is 1024 '
                      'wide, as ours)')
    last.add_argument('--no-last-conv', dest='with_last_conv', action='store_false')
    args = p.parse_args(argv)
    try:
        info, cfg = convert(args.src, args.dst, args.layout, args.bn_affine, args.prefix,
                            args.channel_split, args.with_last_conv)
    except (ValueError, FileNotFoundError) as e:
        p.exit(2, f'{p.prog}: error: {e}\n')
    from nas_det.models.official_shufflenet import OFFICIAL_DATA_PREPROCESSOR
    kind = 'supernet' if info.supernet else f'searched net {"-".join(info.genotype.ops)}'
    print(f'converted {info.layout} {info.arch} {kind} -> {args.dst}'
          + (f' (left out: {", ".join(info.skipped)})' if info.skipped else ''))
    print('backbone (merge into model.backbone):')
    print('  ' + json.dumps(dict(cfg, init_cfg=dict(type='Pretrained', checkpoint=args.dst,
                                                    prefix=args.prefix or None))))
    print('data_preprocessor (merge into model.data_preprocessor):')
    print('  ' + json.dumps(OFFICIAL_DATA_PREPROCESSOR))


if __name__ == '__main__':
    main()
