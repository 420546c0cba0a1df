"""A toy proxy task over NAS-FPN genotypes for the search tests (registered in mmengine's
root registries; configs import it with ``custom_imports=dict(imports=['nasfpn_toy'])``,
``tests/`` on the ``PYTHONPATH``).

The child is a linear classifier of 16-dim vectors that sees only the first
``2 + 2 * (number of 'sum' cells)`` features, so pyramids with more sum cells reach a
higher accuracy when trained: a reward with a known direction, cheap enough for a
controller search in seconds. With ``nan_if_first_gp`` a child whose first cell is a
global-pooling cell produces a NaN loss (a diverged child).
"""
import time

import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, METRICS, MODELS
from torch import nn

from nas_det.space.nasfpn import Pyramid
from nas_det.space.published import NASFPN_7CELL

FEATURES = 16
CLASSES = 4


@MODELS.register_module()
class NASFPNToyNet(BaseModel):
    def __init__(self, genotype=None, nan_if_first_gp=False, sleep=0.0,
                 data_preprocessor=None, init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        g = NASFPN_7CELL if genotype is None else Pyramid.from_dict(genotype)
        self.keep = min(FEATURES, 2 + 2 * sum(c.op == 'sum' for c in g.cells))
        self.nan = nan_if_first_gp and g.cells[0].op == 'global_pool'
        self.sleep = sleep
        self.fc = nn.Linear(FEATURES, CLASSES)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(list(inputs)).clone()
        x[:, self.keep:] = 0
        logits = self.fc(x)
        if mode == 'loss':
            if self.sleep:
                time.sleep(self.sleep)
            loss = F.cross_entropy(logits, torch.stack(list(data_samples)))
            return {'loss': loss * float('nan') if self.nan else loss}
        if mode == 'predict':
            return [dict(pred=int(p), gt=int(t)) for p, t in zip(logits.argmax(1), data_samples)]
        return logits


@DATASETS.register_module()
class NASFPNToyVectors(torch.utils.data.Dataset):
    metainfo = {}

    def __init__(self, num=256, seed=0, indices=None, **kwargs):
        x = torch.randn(num, FEATURES, generator=torch.Generator().manual_seed(seed))
        w = torch.randn(FEATURES, CLASSES, generator=torch.Generator().manual_seed(123))
        self.x, self.y = x, (x @ w).argmax(1)
        if indices is not None:
            self.x, self.y = self.x[:indices], self.y[:indices]

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], data_samples=self.y[i])


@METRICS.register_module()
class NASFPNToyAccuracy(BaseMetric):
    default_prefix = 'toy'

    def process(self, data_batch, data_samples):
        self.results.extend(float(d['pred'] == d['gt']) for d in data_samples)

    def compute_metrics(self, results):
        return {'accuracy': sum(results) / len(results)}


def toy_config(work_dir=None, max_trials=12, batch_size=4, sleep=0.0, train_iters=20,
               nan_if_first_gp=True) -> str:
    """Text of a controller-search config over the toy task."""
    return f"""
default_scope = 'mmengine'
custom_imports = dict(imports=['nas_det', 'nasfpn_toy'], allow_failed_imports=False)
model = dict(type='NASFPNToyNet', nan_if_first_gp={nan_if_first_gp}, sleep={sleep})
train_dataloader = dict(batch_size=16, sampler=dict(type='DefaultSampler', shuffle=True),
                        dataset=dict(type='NASFPNToyVectors', num=256, seed=0))
val_dataloader = dict(batch_size=64, sampler=dict(type='DefaultSampler', shuffle=False),
                      dataset=dict(type='NASFPNToyVectors', num=128, seed=1))
val_evaluator = dict(type='NASFPNToyAccuracy')
val_cfg = dict(type='ValLoop')
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.5))
randomness = dict(seed=0)
default_hooks = dict(logger=dict(type='LoggerHook', interval=1))
train_cfg = dict(
    type='SearchLoop',
    search_space=dict(type='NASFPNSpace', num_cells=7),
    strategy=dict(type='ReinforceController', batch_size={batch_size}, lr=0.05),
    evaluator=dict(type='ProxyTrainEvaluator', genotype_key='model.genotype',
                   metric='toy/accuracy', train_iters={train_iters}, lr_schedule='constant'),
    max_trials={max_trials})
phases = ['search']
"""
