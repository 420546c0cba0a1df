#!/usr/bin/env python
"""Export a fixed (exported) detector to ONNX and check it with onnxruntime.

    python tools/export_onnx.py SUBNET_CONFIG [--checkpoint CKPT] [--out-dir DIR]
        [--part backbone_neck|detector|both] [--shape H W] [--dynamic] [--opset 17]

SUBNET_CONFIG is the config the export phase wrote (``<work_dir>/export/subnet.py``, a
``ShuffleNetV2Subnet`` or other fixed network), CKPT its trained checkpoint (default: the
config's ``load_from``; without either the initial weights are exported, which only checks
the graph). Written, with the TorchScript-based exporter (``dynamo=False``):

* ``DIR/backbone_neck.onnx``: ``input`` (N, 3, H, W, after the data preprocessor) ->
  ``feat_0`` .. ``feat_k``, the neck's outputs.
* ``DIR/detector.onnx``: the whole detector without post-processing: the head's raw
  outputs, ``cls_score_0`` .. / ``bbox_pred_0`` .. per level (and ``centerness_*`` etc.
  where the head has more). No anchors, box decoding or NMS: those belong to the runtime,
  which mmdeploy provides (configs/detnas/README.md). A two-stage detector exports its
  RPN head's raw outputs (the RoI head needs proposals, i.e. NMS).

Each file is run with onnxruntime (CPU) on a random input and compared with torch; the
largest difference is printed and a difference above ``--atol`` / ``--rtol`` (1e-4) fails.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

PARTS = ('backbone_neck', 'detector', 'both')


def _flatten(outs):
    if isinstance(outs, (list, tuple)):
        return [t for o in outs for t in _flatten(o)]
    return [outs]


def build_detector(config, checkpoint=None, cfg_options=None):
    """The detector of ``config`` in eval mode, with ``checkpoint`` (or ``load_from``)
    loaded by mmengine's (safe) loader; returns ``(model, cfg, checkpoint or None)``."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import load_checkpoint

    import nas_det  # noqa: F401
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)
    checkpoint = checkpoint or cfg.get('load_from')
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=False)
    else:
        model.init_weights()
    return model.eval(), cfg, checkpoint


class BackboneNeck(nn.Module):
    """``x -> model.extract_feat(x)``: the backbone and the neck."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return tuple(self.model.extract_feat(x))


class RawDetector(nn.Module):
    """``x -> the head's raw outputs`` (a flat tuple): the detector without
    post-processing (the RPN head of a two-stage detector)."""

    def __init__(self, model):
        super().__init__()
        head = getattr(model, 'bbox_head', None) or getattr(model, 'rpn_head', None)
        if head is None:
            raise ValueError('model: no bbox_head or rpn_head to export the raw outputs of')
        self.model, self.head = model, head

    def raw(self, x):
        return self.head(self.model.extract_feat(x))

    def forward(self, x):
        return tuple(_flatten(self.raw(x)))


def head_output_names(outs) -> list:
    """``cls_score_{i}``, ``bbox_pred_{i}``, ``centerness_{i}`` (``output{g}_{i}`` for any
    further group) for the head's output groups and levels."""
    groups = ['cls_score', 'bbox_pred', 'centerness']
    names = []
    for g, level_outs in enumerate(outs):
        base = groups[g] if g < len(groups) else f'output{g}'
        names += [f'{base}_{i}' for i in range(len(_flatten(level_outs)))]
    return names


def export_and_check(module, x, path, output_names, dynamic=False, opset=17,
                     atol=1e-4, rtol=1e-4) -> float:
    """Export ``module`` at input ``x`` to ``path``; run onnxruntime on another input of
    the same shape; return the largest |ort - torch| (ValueError beyond the tolerance)."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    axes = None
    if dynamic:
        axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
        axes.update({n: {0: 'batch'} for n in output_names})
    with torch.no_grad():
        torch.onnx.export(module, (x,), path, input_names=['input'], output_names=output_names,
                          opset_version=opset, dynamic_axes=axes, dynamo=False,
                          do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    probe = torch.rand_like(x) * 255
    with torch.no_grad():
        want = [t.numpy() for t in _flatten(module(probe))]
    got = sess.run(None, {'input': probe.numpy()})
    worst = 0.0
    for name, w, g in zip(output_names, want, got):
        if w.shape != g.shape:
            raise ValueError(f'{name}: onnxruntime shape {g.shape} != torch {w.shape}')
        worst = max(worst, float(np.abs(w - g).max()))
        if not np.allclose(g, w, atol=atol, rtol=rtol):
            raise ValueError(f'{name}: onnxruntime differs from torch by '
                             f'{float(np.abs(w - g).max()):.3g} (atol {atol}, rtol {rtol})')
    return worst


def export_onnx(config, checkpoint=None, out_dir='onnx', part='both', shape=(320, 320),
                dynamic=False, opset=17, atol=1e-4, rtol=1e-4, cfg_options=None) -> dict:
    """Write the ONNX file(s); returns ``{part: (path, max |ort - torch|)}``."""
    if part not in PARTS:
        from nas_det.space.base import bad_value
        raise bad_value('part', part, PARTS)
    model, _, _ = build_detector(config, checkpoint, cfg_options)
    os.makedirs(out_dir, exist_ok=True)
    x = torch.rand(1, 3, *shape) * 255
    done = {}
    if part in ('backbone_neck', 'both'):
        m = BackboneNeck(model).eval()
        with torch.no_grad():
            n = len(_flatten(m(x)))
        path = osp.join(out_dir, 'backbone_neck.onnx')
        done['backbone_neck'] = (path, export_and_check(
            m, x, path, [f'feat_{i}' for i in range(n)], dynamic, opset, atol, rtol))
    if part in ('detector', 'both'):
        m = RawDetector(model).eval()
        with torch.no_grad():
            outs = m.raw(x)
        path = osp.join(out_dir, 'detector.onnx')
        done['detector'] = (path, export_and_check(
            m, x, path, head_output_names(outs), dynamic, opset, atol, rtol))
    return done


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument('config', help='the exported (fixed-network) config')
    p.add_argument('--checkpoint', help="trained checkpoint (default: the config's load_from)")
    p.add_argument('--out-dir', default='onnx', help='where to write (default: onnx)')
    p.add_argument('--part', default='both', choices=PARTS)
    p.add_argument('--shape', type=int, nargs=2, default=(320, 320), metavar=('H', 'W'),
                   help='input height and width (default: 320 320)')
    p.add_argument('--dynamic', action='store_true', help='dynamic batch, height and width')
    p.add_argument('--opset', type=int, default=17)
    p.add_argument('--atol', type=float, default=1e-4)
    p.add_argument('--rtol', type=float, default=1e-4)
    args = p.parse_args(argv)
    try:
        done = export_onnx(args.config, args.checkpoint, args.out_dir, args.part,
                           tuple(args.shape), args.dynamic, args.opset, args.atol, args.rtol)
    except (ValueError, FileNotFoundError) as e:
        p.exit(2, f'{p.prog}: error: {e}\n')
    for name, (path, diff) in done.items():
        print(f'{name}: {path} (onnxruntime vs torch: max |diff| {diff:.2e})')


if __name__ == '__main__':
    main()
