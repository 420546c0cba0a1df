"""A search you can watch: every trial's reward, cost and the running best go to the
runner's mmengine visualizer, so the ``vis_backends`` a config names (TensorBoard, W&B,
MLflow, the local ``scalars.json``) show the search as they show training.

Scalars, one step per trial (its 1-based position in the trial log):

* ``search/reward``: the trial's reward (left out for a failed trial);
* ``search/best_reward``: the best finite reward so far;
* ``search/failed``: 1 for a failed trial (NaN / inf reward, an evaluation that raised);
* ``search/cost/<name>``: every numeric cost of the trial (``flops``, ``params``,
  ``seconds``, ...).

Enable TensorBoard in a config as for training::

    visualizer = dict(type='DetLocalVisualizer',
                      vis_backends=[dict(type='LocalVisBackend'),
                                    dict(type='TensorboardVisBackend')])

and run ``tensorboard --logdir <work_dir>``.
"""
from __future__ import annotations

import math


def trial_scalars(record: dict, best: float | None) -> dict:
    """The scalars of one trial record (a ``trials.jsonl`` line) and the running best."""
    out = {}
    if not record.get('failed'):
        out['search/reward'] = float(record['reward'])
    if best is not None:
        out['search/best_reward'] = float(best)
    out['search/failed'] = float(bool(record.get('failed')))
    for name, value in (record.get('cost') or {}).items():
        if (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value)):
            out[f'search/cost/{name}'] = float(value)
    return out


class SearchScalars:
    """Send the trials not yet sent to ``visualizer.add_scalars`` (a no-op without a
    visualizer, e.g. a stub runner). Call it with the search's trial records after each
    batch.

    Args:
        visualizer (mmengine.visualization.Visualizer | None): where the scalars go.
    """

    def __init__(self, visualizer=None):
        self.visualizer = visualizer
        self.sent = 0
        self.best = None

    @classmethod
    def for_runner(cls, runner) -> 'SearchScalars':
        """One for ``runner.visualizer`` (None when the runner has none)."""
        return cls(getattr(runner, 'visualizer', None))

    def __call__(self, trials) -> int:
        """Send the records of ``trials[self.sent:]``; returns how many were sent."""
        new = list(trials[self.sent:])
        for rec in new:
            self.sent += 1
            reward = rec.get('reward')
            if not rec.get('failed') and isinstance(reward, (int, float)) \
                    and math.isfinite(reward) and (self.best is None or reward > self.best):
                self.best = float(reward)
            if self.visualizer is not None:
                self.visualizer.add_scalars(trial_scalars(rec, self.best), step=self.sent)
        return len(new)


__all__ = ['trial_scalars', 'SearchScalars']
