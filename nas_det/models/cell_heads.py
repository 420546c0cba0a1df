"""A classification head for cell networks under mmpretrain's ``ImageClassifier``, with
NASNet's auxiliary classifier.

:class:`~nas_det.models.cells.CellNetwork` holds its own auxiliary head; under
mmpretrain the backbone (:class:`~nas_det.models.cells.CellNetBackbone`) only gives stage
features, so the auxiliary classifier lives in the head: give the backbone
``out_indices=(num_stages - 2, num_stages - 1)`` (the stage that ends just before the
last reduction, and the last stage), no neck, and this head::

    model = dict(
        type='ImageClassifier',
        backbone=dict(type='CellNetBackbone', genotype='nasnet_a', layout='cifar',
                      out_indices=(1, 2), drop_path_rate=0.4),
        head=dict(type='CellClsHead', num_classes=10, in_channels=768,
                  aux_in_channels=384, aux_feat_size=16, aux_weight=0.4, dropout=0.))

In training the loss is ``loss(logits) + aux_weight * loss(aux_logits)`` (reported as
``loss`` and ``loss_aux``); prediction uses the main classifier only. With
``aux_in_channels=None`` it is a plain head (pool, dropout, linear) over the last stage,
and the ``ImageClassifier`` then computes exactly what ``CellNetwork`` does.

The head's widths depend on the genotype (a cell's output width is the number of states
it concatenates times its filters), so :class:`CellImageClassifier` (an
``ImageClassifier``) fills ``in_channels=None`` and ``aux_in_channels='auto'`` from the
backbone it builds: one config then serves every genotype (search children, exports).

Needs mmpretrain (the ``cls`` extra); registered in mmengine's root ``MODELS``.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import MODELS, DefaultScope
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.models.heads import ClsHead

from .cells import AuxHead


def aux_pooled_size(feat_size: int) -> int:
    """Side of the map the auxiliary head's full-map conv sees: NASNet pools the tapped
    feature map (side ``feat_size``) with a 5x5 window at stride 3 when it is that large."""
    return (feat_size - 5) // 3 + 1 if feat_size >= 5 else feat_size


@MODELS.register_module()
class CellClsHead(ClsHead):
    """ReLU-ed last stage -> global average pool -> dropout -> linear, plus an optional
    NASNet auxiliary classifier on the stage before (see the module docstring).

    Args:
        num_classes (int): number of classes.
        in_channels (int): width of the last stage.
        dropout (float): dropout before the linear layer. Defaults to 0.
        aux_in_channels (int, optional): width of the stage the auxiliary classifier
            reads (``feats[-2]``); None for no auxiliary classifier. Defaults to None.
        aux_feat_size (int): side of that stage's map at the training input size (CIFAR
            layout at 32x32: 16 for the stage before the second reduction; mobile
            layout at 224: 14). Other sizes are pooled to it. Defaults to 8.
        aux_weight (float): weight of the auxiliary loss (NASNet: 0.4). Defaults to 0.4.
        norm_cfg (dict, optional): norm layers of the auxiliary classifier.
        **kwargs: :class:`mmpretrain.models.heads.ClsHead` arguments (``loss``, ``topk``,
            ``cal_acc``, ``init_cfg``).
    """

    def __init__(self, num_classes: int, in_channels: int, dropout: float = 0.,
                 aux_in_channels: Optional[int] = None, aux_feat_size: int = 8,
                 aux_weight: float = 0.4, norm_cfg=None, **kwargs):
        # ClsHead builds its loss in the current default scope: under an mmdet or mmengine
        # scope (a detector's runner, a direct construction) mmpretrain's losses are not found
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            super().__init__(**kwargs)
        for name, v in (('num_classes', num_classes), ('in_channels', in_channels)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f'{name}: a positive int is expected, got {v!r}')
        if not 0 <= dropout < 1:
            raise ValueError(f'dropout: a value in [0, 1) is expected, got {dropout!r}')
        if aux_in_channels is not None and (not isinstance(aux_in_channels, int)
                                            or aux_in_channels < 1):
            raise ValueError(f'aux_in_channels: a positive int or None is expected, got '
                             f'{aux_in_channels!r}')
        if not isinstance(aux_feat_size, int) or aux_feat_size < 1:
            raise ValueError(f'aux_feat_size: a positive int is expected, got {aux_feat_size!r}')
        if aux_weight < 0:
            raise ValueError(f'aux_weight: a value >= 0 is expected, got {aux_weight!r}')
        self.num_classes, self.in_channels = num_classes, in_channels
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_channels, num_classes)
        self.aux_weight = aux_weight
        self.aux_head = None if aux_in_channels is None else AuxHead(
            aux_in_channels, num_classes, aux_pooled_size(aux_feat_size), norm_cfg)

    def _check(self, feats):
        if not isinstance(feats, (tuple, list)) or not feats or feats[-1].dim() != 4:
            raise ValueError('CellClsHead: expects the backbone\'s tuple of stage maps (no '
                             'neck: the head pools itself)')
        if feats[-1].shape[1] != self.in_channels:
            raise ValueError(f'in_channels: {self.in_channels}, but the last stage has '
                             f'{feats[-1].shape[1]} channels')
        if self.aux_head is not None and len(feats) < 2:
            raise ValueError('aux_in_channels: the auxiliary classifier reads feats[-2]; give '
                             'the backbone two out_indices (the stage before the last '
                             'reduction, and the last)')

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        self._check(feats)
        return F.adaptive_avg_pool2d(F.relu(feats[-1]), 1).flatten(1)

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        return self.fc(self.dropout(self.pre_logits(feats)))

    def loss(self, feats: Tuple[torch.Tensor], data_samples: List, **kwargs) -> dict:
        losses = self._get_loss(self(feats), data_samples, **kwargs)
        if self.aux_head is not None and self.aux_weight > 0:
            aux = self._get_loss(self.aux_head(feats[-2]), data_samples, **kwargs)
            losses['loss_aux'] = self.aux_weight * aux['loss']
        return losses


@MODELS.register_module()
class CellImageClassifier(ImageClassifier):
    """mmpretrain's ``ImageClassifier`` whose head widths come from its backbone.

    The backbone is built first; a head ``in_channels`` of None becomes the width of the
    backbone's last output, an ``aux_in_channels`` of ``'auto'`` the width of the output
    before it. Given widths are checked against the backbone's. Everything else is
    ``ImageClassifier``'s (same state-dict keys, same ``loss`` / ``predict`` / ``tensor``
    modes), so checkpoints move freely between the two.

    Example::

        model = dict(type='CellImageClassifier',
                     backbone=dict(type='CellNetBackbone', genotype=GENOTYPE,
                                   layout='cifar', out_indices=(1, 2)),
                     head=dict(type='CellClsHead', num_classes=10, in_channels=None,
                               aux_in_channels='auto', aux_feat_size=16))
    """

    def __init__(self, backbone, head, neck=None, **kwargs):
        from mmpretrain.registry import MODELS as PRETRAIN_MODELS
        if not isinstance(backbone, nn.Module):
            backbone = PRETRAIN_MODELS.build(backbone)
        chans = getattr(backbone, 'out_channels', None)
        if isinstance(head, dict) and chans is not None and neck is None:
            head = dict(head)
            chans = tuple(chans)
            if head.get('in_channels') is None:
                head['in_channels'] = chans[-1]
            elif head['in_channels'] != chans[-1]:
                raise ValueError(f"head.in_channels: {head['in_channels']}, but the backbone's "
                                 f'last output has {chans[-1]} channels (set it to None to '
                                 'take it from the backbone)')
            if head.get('aux_in_channels') == 'auto':
                if len(chans) < 2:
                    raise ValueError("head.aux_in_channels: 'auto' reads the backbone's output "
                                     'before the last; give the backbone two out_indices')
                head['aux_in_channels'] = chans[-2]
        elif isinstance(head, dict) and (head.get('in_channels') is None
                                         or head.get('aux_in_channels') == 'auto'):
            raise ValueError('head.in_channels: None / aux_in_channels: \'auto\' need a backbone '
                             'with out_channels and no neck')
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)


__all__ = ['CellClsHead', 'CellImageClassifier', 'aux_pooled_size']
