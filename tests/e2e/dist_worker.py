"""Run by torchrun in tests: train a config like tools/search.py does, then let every rank
save its parameters and buffers, so the test can compare ranks.

Each rank's ``UniformSamplingHook`` gets its own seed (``seed + 1000 * rank``), so the ranks
train the same paths only through the hook's broadcast; the weights before training
(after initialisation and DDP's own broadcast) are saved as ``init.rank<r>.pth``."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _weights(model):
    return {'params': {k: v.detach().clone() for k, v in model.named_parameters()},
            'buffers': {k: v.detach().clone() for k, v in model.named_buffers()}}


def main():
    from nas_det.engine.launch import load_config, parse_args
    args = parse_args(sys.argv[1:])
    import torch
    import nas_det  # noqa: F401
    from mmengine.dist import get_rank
    from mmengine.hooks import Hook
    from mmengine.runner import Runner
    from nas_det.engine.launch.dist import setup_distributed
    cfg = load_config(args)
    setup_distributed(cfg, args.launcher)
    rank = int(os.environ.get('RANK', 0))
    for h in cfg.get('custom_hooks', []):
        if h['type'] == 'UniformSamplingHook':
            h['seed'] = h.get('seed', 0) + 1000 * rank

    def unwrap(model):
        return model.module if hasattr(model, 'module') else model

    class SaveInit(Hook):
        def before_train(self, runner):
            torch.save(_weights(unwrap(runner.model)),
                       os.path.join(cfg.work_dir, f'init.rank{get_rank()}.pth'))

    runner = Runner.from_cfg(cfg)
    runner.register_hook(SaveInit(), 'LOWEST')
    runner.train()
    torch.save(_weights(unwrap(runner.model)),
               os.path.join(cfg.work_dir, f'final.rank{get_rank()}.pth'))


if __name__ == '__main__':
    main()
