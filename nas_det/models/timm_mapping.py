"""Map timm's ``nasnetalarge`` / ``pnasnet5large`` state dicts onto :class:`CellNetwork`.

timm unrolls every cell by hand; ours are compiled from genotypes, so the two share
weights cell by cell, op by op. The mapping is a short table of renames (no tensor is
changed, nothing is unpickled: it takes and returns plain ``{key: tensor}`` dicts).

Cells, in forward order (``cells.{i}``):

* ``nasnetalarge``: ``cell_stem_0``, ``cell_stem_1``, ``cell_0`` .. ``cell_5``,
  ``reduction_cell_0``, ``cell_6`` .. ``cell_11``, ``reduction_cell_1``, ``cell_12`` ..
  ``cell_17`` (22 cells).
* ``pnasnet5large``: ``cell_stem_0``, ``cell_stem_1``, ``cell_0`` .. ``cell_11`` (14 cells).

Inside a cell:

=========================================  ====================================
timm                                        ours
=========================================  ====================================
``conv_1x1.{conv,bn}``                      ``pre0.{conv,bn}`` (``h0``)
``conv_prev_1x1.{conv,bn}``                 ``pre1.{conv,bn}`` (``h1``, 1x1)
``[conv_prev_1x1.]path_1.conv``             ``pre1.conv1`` (``h1``, factorized
``[conv_prev_1x1.]path_2.conv``             ``pre1.conv2``  reduction)
``[conv_prev_1x1.]final_path_bn``           ``pre1.bn``
``comb_iter_{j}_left`` / ``_right``         ``block{j+2}.op0`` / ``op1``
``...separable_{n}.depthwise_conv2d``       ``...dw{n}``
``...separable_{n}.pointwise_conv2d``       ``...pw{n}``
``...bn_sep_{n}``                           ``...bn{n}``
``...{conv,bn}`` (pool fix-up, strided id)  ``...{conv,bn}``
=========================================  ====================================

and outside: ``conv0`` / ``conv_0`` (``.conv``, ``.bn``) -> ``stem``, ``last_linear`` ->
``fc``. timm's left / right branch of ``comb_iter_j`` is the TF code's left / right
operation of block ``j``, i.e. the genotype's ``op0`` / ``op1``.

Equal logits also need timm's padding: build ours with ``padding='timm'`` (TF 'SAME'
padding, and stride-2 average pools that count the zero padding, as timm's
``AvgPool2dSame`` does; ``padding='tf'`` averages the valid pixels only, as TF does).

On the command line: ``tools/convert_timm_cells.py SRC DST --arch nasnetalarge``.
"""
from __future__ import annotations

import re
from typing import Mapping

from ..space.base import bad_value

NASNET_CELLS = (['cell_stem_0', 'cell_stem_1'] + [f'cell_{i}' for i in range(6)]
                + ['reduction_cell_0'] + [f'cell_{i}' for i in range(6, 12)]
                + ['reduction_cell_1'] + [f'cell_{i}' for i in range(12, 18)])
"""timm ``nasnetalarge`` cells in forward order."""
PNASNET_CELLS = ['cell_stem_0', 'cell_stem_1'] + [f'cell_{i}' for i in range(12)]
"""timm ``pnasnet5large`` cells in forward order."""

ARCHS = {
    'nasnetalarge': dict(cells=NASNET_CELLS, stem='conv0',
                         model=dict(genotype='nasnet_a', layout='large', cells_per_stage=6,
                                    filters=168)),
    'pnasnet5large': dict(cells=PNASNET_CELLS, stem='conv_0',
                          model=dict(genotype='pnasnet_5', layout='large', cells_per_stage=4,
                                     filters=216)),
}
"""Per timm model: its cells in order, its stem name, and our equivalent
:class:`~nas_det.models.cells.CellNetwork` kwargs (add ``padding='timm'``)."""

TIMM_DATA_PREPROCESSOR = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5],
                              bgr_to_rgb=True)
"""The input timm's ``nasnetalarge`` / ``pnasnet5large`` weights expect (their
``pretrained_cfg``: RGB, mean 0.5, std 0.5 of 0-1 pixels; 331x331 at ImageNet), as an
mmdet ``data_preprocessor`` (mmpretrain's ``ClsDataPreprocessor`` spells ``bgr_to_rgb``
as ``to_rgb``)."""

_INNER = [  # (pattern, replacement) applied to the key inside a cell, in order
    (r'^conv_1x1\.', 'pre0.'),
    (r'^(?:conv_prev_1x1\.)?path_([12])\.conv\.', r'pre1.conv\1.'),
    (r'^(?:conv_prev_1x1\.)?final_path_bn\.', 'pre1.bn.'),
    (r'^conv_prev_1x1\.', 'pre1.'),
    (r'^comb_iter_(\d+)_left\.', lambda m: f'block{int(m.group(1)) + 2}.op0.'),
    (r'^comb_iter_(\d+)_right\.', lambda m: f'block{int(m.group(1)) + 2}.op1.'),
    (r'\.separable_(\d)\.depthwise_conv2d\.', r'.dw\1.'),
    (r'\.separable_(\d)\.pointwise_conv2d\.', r'.pw\1.'),
    (r'\.bn_sep_(\d)\.', r'.bn\1.'),
]
_LEAF = re.compile(r'^(pre[01]\.(conv[12]?|bn)|block\d+\.op[01]\.(dw\d|pw\d|bn\d?|conv))\.'
                   r'(weight|bias|running_mean|running_var|num_batches_tracked)$')


def _inner_key(key: str, full_key: str) -> str:
    for pattern, repl in _INNER:
        key = re.sub(pattern, repl, key)
    if not _LEAF.match(key):
        raise ValueError(f'state_dict: key {full_key!r} has no counterpart in CellNetwork')
    return key


def convert_timm_state_dict(state_dict: Mapping, arch: str = 'nasnetalarge') -> dict:
    """Rename a timm ``nasnetalarge`` / ``pnasnet5large`` state dict to our keys.

    Args:
        state_dict (Mapping): ``timm.create_model(arch).state_dict()`` (tensors untouched).
        arch (str): ``'nasnetalarge'`` or ``'pnasnet5large'``. Defaults to 'nasnetalarge'.

    Returns:
        dict: the same tensors under :class:`~nas_det.models.cells.CellNetwork` keys;
        load it into ``CellNetwork(**ARCHS[arch]['model'], padding='timm')`` with
        ``strict=True``.

    Raises:
        ValueError: for an unknown ``arch`` or a key the mapping does not know.
    """
    if arch not in ARCHS:
        raise bad_value('arch', arch, list(ARCHS))
    cfg = ARCHS[arch]
    index = {name: i for i, name in enumerate(cfg['cells'])}
    out = {}
    for key, value in state_dict.items():
        head, _, rest = key.partition('.')
        if head == cfg['stem'] and rest.split('.')[0] in ('conv', 'bn'):
            new = f'stem.{rest}'
        elif head == 'last_linear':
            new = f'fc.{rest}'
        elif head in index:
            new = f'cells.{index[head]}.{_inner_key(rest, key)}'
        else:
            raise ValueError(f'state_dict: key {key!r} has no counterpart in CellNetwork '
                             f'(known prefixes: {cfg["stem"]}, last_linear, '
                             f'{", ".join(cfg["cells"][:3])}, ...)')
        if new in out:
            raise ValueError(f'state_dict: keys map onto the same key {new!r}')
        out[new] = value
    return out


__all__ = ['ARCHS', 'NASNET_CELLS', 'PNASNET_CELLS', 'TIMM_DATA_PREPROCESSOR',
           'convert_timm_state_dict']
