"""``frozen_stages`` / ``norm_eval`` behaviour shared by our backbones (as mmdet's ResNet)."""
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm


class FrozenStagesMixin:
    """Put before ``BaseModule`` in the bases. The subclass sets ``norm_eval`` and lists
    the modules of its frozen stages in :meth:`_frozen_modules`; their weights stop
    training and they stay in eval mode, and with ``norm_eval`` every norm layer stays in
    eval mode while the backbone trains."""

    def _frozen_modules(self) -> list:
        raise NotImplementedError

    def _freeze_stages(self):
        for m in self._frozen_modules():
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True):
        """Set train mode, keeping frozen stages (and norm layers when ``norm_eval``) in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, (_BatchNorm, nn.GroupNorm)):
                    m.eval()
        return self
