"""Run by torchrun in tests: train a config like tools/search.py does, then let every rank
save its parameters and buffers, so the test can compare ranks."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    from nas_det.engine.launch import load_config, parse_args
    args = parse_args(sys.argv[1:])
    import torch
    import nas_det  # noqa: F401
    from mmengine.dist import get_rank
    from mmengine.runner import Runner
    from nas_det.engine.dist import setup_distributed
    cfg = load_config(args)
    setup_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model.module if hasattr(runner.model, 'module') else runner.model
    torch.save({'params': {k: v.detach().clone() for k, v in model.named_parameters()},
                'buffers': {k: v.detach().clone() for k, v in model.named_buffers()}},
               os.path.join(cfg.work_dir, f'final.rank{get_rank()}.pth'))


if __name__ == '__main__':
    main()
