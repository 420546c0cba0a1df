#!/usr/bin/env python
"""Does a DetNAS ShuffleNetV2 supernet learn the embedded digits? A plain-torch probe.

Trains the 20-block (300M space) backbone + global pooling + a linear layer on
``data/digits_cls`` (64x64, upscaled from 32; batch 32; SGD with Nesterov momentum 0.9,
weight decay 4e-5, one-cycle schedule with 15% warm-up) and prints the mean train loss of
the last 50 iterations and the val top-1 of the all-``shuffle3x3`` path on the first 500
val digits, every ``--val-every`` iterations and at the end. Before val the path's BN
statistics are reset and re-estimated on 20 train batches, as the search does
(``--recal-batches``; 0 keeps the running statistics of training). ``--data mnist`` is
the control: the plain MNIST digits of the same split, which a fixed path learns in ~100
iterations. The README's DetNAS status table came from these runs. ``--sampling``:

- ``fixed``: always the all-``shuffle3x3`` path (a plain ShuffleNetV2), the baseline;
- ``random``: a uniform random path per iteration (single-path one-shot, as
  ``UniformSamplingHook``);
- ``same``: one random op for all blocks per iteration (4 networks sharing stem and head);
- ``two``: each block ``shuffle3x3`` or ``shuffle5x5`` at random;
- ``fair``: strict-fair sampling (FairNAS): per iteration, the 4 choices of every block in
  a random order over 4 forward/backward passes, gradients summed, one step.

    python bench/supernet_cls.py --sampling fixed random --iters 300 --lr 0.2 --width 0.5
    python bench/supernet_cls.py --data mnist --sampling fixed two random --iters 300 --lr 0.05
    python bench/supernet_cls.py --tiny --data /tmp/digits_cls_tiny   # CI size, seconds

The set under ``--data`` is built when missing (``--tiny``: 160 train / 60 val digits).

Runs on one thread by default (``--threads``) so that figures repeat exactly.
"""
import argparse
import os.path as osp
import random
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

SAMPLINGS = ('fixed', 'random', 'same', 'two', 'fair')


def load_plain_mnist(split, limit=None):
    """The plain 28x28 MNIST digits (white on black, padded to 32) of the embedded
    set's fixed train / val split: the control where every CNN learns in ~100 steps."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from nas_det.data import digits
    images, labels = digits.load_mnist()
    idx = digits.split_pools()[split]  # sorted, and the csv is sorted by class: mix
    idx = idx[np.random.default_rng(0).permutation(len(idx))][:limit]
    x = F.pad(torch.tensor(images[idx]).float(), (2, 2, 2, 2))
    x = (x / 255. - 0.1) / 0.3  # about zero mean, unit std
    return x[:, None].expand(-1, 3, -1, -1).contiguous(), torch.tensor(labels[idx])


def load(root, split, limit=None):
    import numpy as np
    import torch
    from PIL import Image
    if root == 'mnist':
        return load_plain_mnist(split, limit)
    meta = osp.join(root, 'meta', f'{split}.txt')
    if not osp.isfile(meta):
        raise SystemExit(f'--data: no {meta}; build the set with '
                         f'`python tools/make_data.py cls --out {root}`')
    with open(meta) as f:
        lines = f.read().split('\n')
    lines = [ln for ln in lines if ln.strip()][:limit]
    xs, ys = [], []
    for ln in lines:
        path, label = ln.split()
        xs.append(np.asarray(Image.open(osp.join(root, split, path)).convert('RGB')))
        ys.append(int(label))
    x = torch.tensor(np.stack(xs)).permute(0, 3, 1, 2).float()
    return (x - 120.) / 58., torch.tensor(ys)


def run(sampling, data, args):
    import logging

    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from mmengine.logging import MMLogger

    from nas_det.engine.evaluators import bn_recalibration
    from nas_det.models.shufflenet import ShuffleNetV2Supernet
    from nas_det.space.detnas import DETNAS_OPS
    (xt, yt), (xv, yv) = data
    torch.manual_seed(0)
    bb = ShuffleNetV2Supernet(arch='300M', widen_factor=args.width, out_indices=(4, ),
                              with_last_conv=True,
                              norm_cfg=dict(type='BN', affine=not args.no_bn_affine))
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    bb.init_weights()
    if args.init == 'group-fan-out':
        for m in bb.modules():
            if isinstance(m, nn.Conv2d) and m.groups > 1:
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0, (2. / fan_out) ** 0.5)
    fixed = ['shuffle3x3'] * 20
    bb.set_choices(fixed)
    fc = nn.LazyLinear(10)
    model = nn.ModuleDict(dict(bb=bb, fc=fc))

    def forward(x):
        x = F.interpolate(x, size=args.size, mode='bilinear') if args.size != 32 else x
        return fc(bb(x)[0].mean((2, 3)))

    with torch.no_grad():
        forward(xt[:2])  # materialise the lazy layer before the optimizer sees it
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=4e-5,
                          nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.iters,
                                                pct_start=0.15)
    g = torch.Generator().manual_seed(0)
    rng = random.Random(0)

    def val():
        bb.set_choices(fixed)
        model.eval()
        with torch.no_grad():
            if args.recal_batches:  # as the search does
                with bn_recalibration([bb]):
                    rg = torch.Generator().manual_seed(1)
                    for _ in range(args.recal_batches):
                        forward(xt[torch.randint(0, len(xt), (args.batch_size, ),
                                                 generator=rg)])
            acc = (forward(xv).argmax(1) == yv).float().mean().item() * 100
        model.train()
        return acc

    t0 = time.time()
    losses = []
    for it in range(args.iters):
        idx = torch.randint(0, len(xt), (args.batch_size, ), generator=g)
        opt.zero_grad()
        if sampling == 'fair':
            orders = [rng.sample(DETNAS_OPS, len(DETNAS_OPS)) for _ in range(20)]
            for k in range(len(DETNAS_OPS)):
                bb.set_choices([o[k] for o in orders])
                loss = F.cross_entropy(forward(xt[idx]), yt[idx])
                loss.backward()
        else:
            if sampling == 'random':
                bb.set_choices([rng.choice(DETNAS_OPS) for _ in range(20)])
            elif sampling == 'same':
                bb.set_choices([rng.choice(DETNAS_OPS)] * 20)
            elif sampling == 'two':
                bb.set_choices([rng.choice(DETNAS_OPS[:2]) for _ in range(20)])
            loss = F.cross_entropy(forward(xt[idx]), yt[idx])
            loss.backward()
        opt.step()
        sched.step()
        losses = (losses + [loss.item()])[-50:]
        if args.val_every and (it + 1) % args.val_every == 0 and it + 1 < args.iters:
            print(f'  {sampling}: iteration {it + 1}: train loss '
                  f'{sum(losses) / len(losses):.3f}, '
                  f'val top-1 {val():.1f}% ({time.time() - t0:.0f} s)', flush=True)
    print(f'{sampling:>6}: {args.iters} iterations, lr {args.lr:g}, width {args.width:g}'
          f'{", BN without affine" if args.no_bn_affine else ""}: '
          f'train loss {sum(losses) / len(losses):.3f}, val top-1 {val():.1f}% '
          f'({time.time() - t0:.0f} s)', flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--sampling', nargs='+', default=['fixed', 'random'], choices=SAMPLINGS)
    p.add_argument('--iters', type=int, default=300)
    p.add_argument('--lr', type=float, default=0.2)
    p.add_argument('--width', type=float, default=0.5, help='widen_factor (0.5)')
    p.add_argument('--size', type=int, default=64, help='input side in px (64)')
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--val-every', type=int, default=0, help='0: only at the end')
    p.add_argument('--no-bn-affine', action='store_true',
                   help='BN without scale and shift in the backbone (as some SPOS code)')
    p.add_argument('--recal-batches', type=int, default=20,
                   help='before val, reset the BN statistics of the path and re-estimate '
                   'them on this many train batches, as the search does (20; 0: keep the '
                   'running statistics of training)')
    p.add_argument('--init', default='default', choices=('default', 'group-fan-out'),
                   help="'group-fan-out': redraw grouped (depthwise) convs with a fan-out "
                   "of k*k*out/groups (timm's), not mmengine's Kaiming k*k*out")
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--data', default='data/digits_cls',
                   help="the classification set's folder (built when missing), or 'mnist': "
                   "the plain MNIST digits of the same split (a control)")
    p.add_argument('--tiny', action='store_true',
                   help='CI size: 3 iterations of batch 4, width 0.25, 32 px, 2 recal batches')
    args = p.parse_args(argv)
    if args.tiny:
        args.iters, args.batch_size, args.width, args.size = 3, 4, 0.25, 32
        args.recal_batches = min(args.recal_batches, 2)
    for name in ('iters', 'batch_size', 'size'):
        if getattr(args, name) <= 0:
            raise SystemExit(f'--{name.replace("_", "-")}: a positive integer is expected')
    if args.lr <= 0 or args.width <= 0:
        raise SystemExit('--lr and --width: positive numbers are expected')
    import torch
    torch.set_num_threads(args.threads)
    if args.data != 'mnist' and not osp.isfile(osp.join(args.data, 'meta', 'val.txt')):
        size = dict(num_train=160, num_val=60) if args.tiny else {}
        print(f'building {args.data} (python tools/make_data.py cls --out {args.data}'
              + (' --train 160 --val 60' if args.tiny else '') + ')', flush=True)
        from nas_det.data import make_classification_set
        make_classification_set(args.data, **size)
    data = load(args.data, 'train'), load(args.data, 'val', 500)
    print(f'DetNAS supernet on {args.data}: {len(data[0][1])} train digits, val on '
          f'{len(data[1][1])}; chance is 10%', flush=True)
    for sampling in args.sampling:
        run(sampling, data, args)


if __name__ == '__main__':
    main()
