"""``DropPathScheduleHook``: NASNet's ScheduledDropPath for cell networks (registered in
mmengine's root HOOKS registry)."""
from __future__ import annotations

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


def drop_path_modules(model) -> list:
    """``[(name, module)]`` of every module with ``set_drop_path_progress`` (the cell
    stacks of :mod:`nas_det.models.cells`), outermost only."""
    if is_model_wrapper(model):
        model = model.module
    found = []
    for n, m in model.named_modules():
        if callable(getattr(m, 'set_drop_path_progress', None)) \
                and not any(n.startswith(f'{p}.') for p, _ in found if p):
            found.append((n, m))
    return found


@HOOKS.register_module()
class DropPathScheduleHook(Hook):
    """NASNet's ScheduledDropPath: the drop-path probability grows linearly over training.

    Before each training iteration every cell network of the model gets
    ``progress = min(1, (iter + offset) / (max_iters * ramp))``: cell ``i`` of ``n`` then
    drops a branch with probability ``drop_path_rate * (i + 1) / n * progress`` (the rate
    is the model's ``drop_path_rate``; TF: ``1 - keep_prob`` scaled by the cell's depth and
    by ``current_step / total_steps``). Progress follows ``runner.iter``, so a resumed run
    continues the ramp where it stopped. In eval mode nothing is dropped.

    Args:
        ramp (float): fraction of training over which the probability reaches its final
            value (1.0: the whole run, as NASNet). Defaults to 1.0.
        offset (int): iterations added before dividing (1: the first iteration already
            drops a little). Defaults to 0.
    """

    priority = 'NORMAL'

    def __init__(self, ramp: float = 1.0, offset: int = 0):
        if not isinstance(ramp, (int, float)) or not 0 < ramp <= 1:
            raise ValueError(f'ramp: a value in (0, 1] is expected, got {ramp!r}')
        if not isinstance(offset, int) or offset < 0:
            raise ValueError(f'offset: an int >= 0 is expected, got {offset!r}')
        self.ramp, self.offset = float(ramp), offset
        self._modules = None

    def before_train(self, runner) -> None:
        self._modules = drop_path_modules(runner.model)
        if not self._modules:
            raise ValueError('DropPathScheduleHook: the model has no module with '
                             'set_drop_path_progress() (a CellNetBackbone or CellNetwork)')
        rates = [getattr(m, 'drop_path_rate', 0.) for _, m in self._modules]
        if not any(rates):
            runner.logger.warning('DropPathScheduleHook: drop_path_rate is 0 in every cell '
                                  'network: nothing will be dropped')

    def progress(self, runner) -> float:
        total = max(int(runner.max_iters * self.ramp), 1)
        return min(1., (runner.iter + self.offset) / total)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        p = self.progress(runner)
        for _, m in self._modules:
            m.set_drop_path_progress(p)
        if hasattr(runner, 'message_hub'):
            runner.message_hub.update_scalar('train/drop_path_progress', p)
