"""The one export: a genotype into a config file that trains the fixed network.

Every family's export goes through the same two steps, :func:`fill` then :func:`write`:

1. **source** (:func:`fill`): the search config itself (DetNAS: its supernet becomes the
   fixed subnet; MorphNet: the trained model's config), or a *template*, an ordinary
   config of the network to train (NAS-FPN, cells), found by :func:`resolve_template`:
   as given, then beside the search config, then in the repository;
2. **genotype**: rebuilt through its space (:func:`nas_det.space.loading.load_genotype`):
   only the canonical dict made by the genotype object reaches the file, an unknown key
   is refused;
3. **slot**: the genotype goes to a dotted key (``model.backbone.genotype``) whose
   parent must exist (:func:`slot`, the one dotted-key walker);
4. **clean** (:func:`write`): the keys that belong to the search run are dropped
   (:data:`DROP_KEYS`) and ``load_from`` is set by the rule below;
5. **widths** (option ``fit_widths``): the neck / head input widths that follow the
   backbone are recomputed from the backbone built on the 'meta' device;
6. **write**: keys that ``Config.dump`` could not write as plain literals are refused
   (a quote, a backslash or a control character would become code in the file), the
   file is written and parsed back, and (option ``check``, on by default) the model is
   built from the parsed file on the 'meta' device (no weights allocated), so a bad
   genotype or a bad width fails here and not when training starts;
7. **drawing** (option ``draw`` of the phases): the genotype drawn next to the config,
   for the kinds that have a diagram (cells, NAS-FPN pyramids).

``load_from`` rule: an exported config never inherits the ``load_from`` of the config it
is made from (a search config's is its supernet or ``'previous'``; a template's belongs
to the architecture the template was written for). It names a checkpoint only when the
export itself wrote one for the exported network: the DetNAS supernet's weights sliced by
name (``<name>_init.pth``, phase option ``init_from_supernet``) and MorphNet's shrunk
network (``shrunk/model.pth``); otherwise it is written as ``None``.

The families' adapters are thin: :mod:`.subnet` (DetNAS path: supernet -> subnet, phase
``export``), :mod:`.template` (a NAS-FPN pyramid or any genotype into one template, phase
``export_genotype``), :mod:`.cells` (a cell genotype into several templates with width
fitting and a drawing, phase ``cell_export``), :mod:`.widths` (MorphNet widths).
"""
from __future__ import annotations

import copy
import json
import os
import os.path as osp

from ...space.loading import genotype_dict, load_genotype

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
DROP_KEYS = ('phases', 'export', 'morphnet_export', 'work_dir', 'launcher', 'resume',
             'load_from')
"""Top-level keys of the search run that no exported config keeps (``load_from`` is then
set by the rule of the module docstring)."""


def read_genotype(genotype, kind: str | None = None) -> dict:
    """The canonical genotype dict of a ``best_genotype.json``, a genotype dict or object.

    The genotype is rebuilt through its space (:func:`nas_det.space.loading.genotype_dict`):
    the returned dict is made by the genotype object, so nothing of the input but
    validated values reaches a written config; an unknown key is refused.
    """
    return genotype_dict(genotype, kind)


def resolve_template(path: str, base_dir: str | None = None,
                     field: str = 'export.template') -> str:
    """``path`` as given (absolute, or from the working directory), else relative to
    ``base_dir`` (the search config's folder), else to the repository root."""
    path = os.fspath(path)
    tried = [path]
    if osp.isfile(path):
        return path
    for root in (base_dir, REPO_ROOT):
        if root and not osp.isabs(path):
            cand = osp.join(root, path)
            tried.append(cand)
            if osp.isfile(cand):
                return cand
    raise FileNotFoundError(f'{field}: config {path!r} not found (tried {tried})')


def config_dict(source, base_dir: str | None = None, field: str = 'export.template') -> dict:
    """A plain deep copy of ``source``: a ``Config``, a dict, or a config file
    (:func:`resolve_template`)."""
    if isinstance(source, (str, os.PathLike)):
        from mmengine.config import Config
        source = Config.fromfile(resolve_template(source, base_dir, field))
    if hasattr(source, '_cfg_dict'):
        source = source._cfg_dict
    return copy.deepcopy(source.to_dict() if hasattr(source, 'to_dict') else dict(source))


def slot(data: dict, dotted: str, field: str = 'export.genotype_key', where: str = 'the config'):
    """``(parent, key)`` of the dotted key ``dotted`` in ``data``: every part but the last
    must name a dict. The one dotted-key walker of the export."""
    if not isinstance(dotted, str) or not dotted or '' in dotted.split('.'):
        raise ValueError(f'{field}: a dotted key such as model.backbone.genotype is '
                         f'expected, got {dotted!r}')
    parts = dotted.split('.')
    node = data
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node, dict) or not isinstance(node.get(part), dict):
            raise ValueError(f'{field}: {where} has no {".".join(parts[:i + 1])!r} (a dict) '
                             'to put the genotype in')
        node = node[part]
    return node, parts[-1]


def set_key(data: dict, dotted: str, value, field: str = 'export.genotype_key',
            where: str = 'the config') -> None:
    """Put ``value`` at the dotted key ``dotted`` (its parent must exist)."""
    parent, key = slot(data, dotted, field, where)
    parent[key] = value


def check_config_keys(data, path: str = '') -> None:
    """Refuse a dict key that ``Config.dump`` could not write as a plain string literal.

    mmengine writes dict keys between quotes without escaping them (values go through
    ``repr``), so a key holding a quote, a backslash or a control character would become
    code in the written file.
    """
    if isinstance(data, dict):
        for k, v in data.items():
            key = f'{path}.{k}' if path else str(k)
            plain = (isinstance(k, str) and k.isprintable() and not any(c in k for c in '\'"\\')) \
                or (k is None or isinstance(k, (bool, int, float)))
            if not plain:
                raise ValueError(f'{path or "config"}: the key {k!r} cannot be written into a '
                                 'config file (quotes, backslashes and control characters are '
                                 'refused)')
            check_config_keys(v, key)
    elif isinstance(data, (list, tuple)):
        for i, v in enumerate(data):
            check_config_keys(v, f'{path}[{i}]')


def dump_config(data: dict, path: str):
    """Write ``data`` as a config file (after :func:`check_config_keys`) and parse it back.

    Returns:
        Config: the written file, parsed.
    """
    from mmengine.config import Config
    check_config_keys(data)
    Config(data).dump(path)
    return Config.fromfile(path)


def build_on_meta(module_cfg: dict, scope: str | None = None):
    """Build a module config in ``scope`` without allocating weights (the 'meta' device)."""
    import torch
    from mmengine.registry import MODELS, DefaultScope
    import nas_det.models  # noqa: F401
    if scope:
        try:
            __import__(f'{scope}.registry')
        except ImportError:
            pass
    with DefaultScope.overwrite_default_scope(scope), torch.device('meta'):
        return MODELS.build(copy.deepcopy(module_cfg))


def fit_widths(model_cfg: dict, scope: str | None = None) -> dict:
    """Recompute, in place, the widths that follow the backbone: ``neck.in_channels`` (a
    list, e.g. FPN) and, for a ``CellClsHead`` without a neck, ``head.in_channels`` and
    ``head.aux_in_channels`` (unless they are left to a ``CellImageClassifier``).
    Returns ``{key: value}`` of what was set."""
    backbone = build_on_meta(model_cfg['backbone'], scope)
    chans = [int(c) for c in backbone.out_channels]
    changed = {}
    neck = model_cfg.get('neck')
    if isinstance(neck, dict) and isinstance(neck.get('in_channels'), (list, tuple)):
        neck['in_channels'] = chans
        changed['model.neck.in_channels'] = chans
    head = model_cfg.get('head')
    if neck is None and isinstance(head, dict) and head.get('type') == 'CellClsHead':
        if head.get('in_channels') is not None:
            head['in_channels'] = chans[-1]
            changed['model.head.in_channels'] = chans[-1]
        aux = head.get('aux_in_channels')
        if aux is not None and aux != 'auto':
            if len(chans) < 2:
                raise ValueError('model.head.aux_in_channels: the backbone has one output')
            head['aux_in_channels'] = chans[-2]
            changed['model.head.aux_in_channels'] = chans[-2]
    return changed


def fill(source, genotype, genotype_key: str, kind: str | None = None,
         base_dir: str | None = None, field: str = 'export.genotype_key',
         template_field: str = 'export.template') -> tuple:
    """Steps 1-3: ``(data, genotype_dict)``: a plain copy of ``source`` with the rebuilt
    genotype at ``genotype_key``.

    Args:
        source (Config | dict | str): the config, or a template file
            (:func:`resolve_template`).
        genotype: a genotype object, its dict, a ``best_genotype.json`` or a published
            name (:func:`~nas_det.space.loading.load_genotype`).
        genotype_key (str): dotted key of the slot; its parent must exist.
        kind (str, optional): the space the genotype must belong to. Defaults to None (any).
        base_dir (str, optional): folder also searched for a relative template.
        field (str): the setting named in errors about the slot. Defaults to
            'export.genotype_key'.
        template_field (str): the setting named when a template is not found. Defaults
            to 'export.template'.
    """
    g = read_genotype(genotype, kind)  # before the template: a bad genotype fails first
    where = f'{source}' if isinstance(source, (str, os.PathLike)) else 'the config'
    data = config_dict(source, base_dir, template_field)
    set_key(data, genotype_key, copy.deepcopy(g), field, where)
    return data, g


def write(data: dict, path: str, load_from: str | None = None, fit: bool = False,
          check: bool = True):
    """Steps 4-6: drop :data:`DROP_KEYS`, set ``load_from``, fit the widths (``fit``),
    write ``path`` with the key check, parse it back and build its model on the 'meta'
    device (``check``). ``data`` is changed in place.

    Returns:
        Config: the written file, parsed.
    """
    for k in DROP_KEYS:
        data.pop(k, None)
    data['load_from'] = osp.abspath(load_from) if load_from else None
    if fit:
        fit_widths(data['model'], data.get('default_scope'))
    d = osp.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    written = dump_config(data, path)
    if check and isinstance(written.get('model'), dict):
        build_on_meta(written.model, written.get('default_scope'))
    return written


def save_genotype(g: dict, path: str) -> str:
    """Write ``{"genotype": g}`` (the canonical dict, never an input's bytes)."""
    with open(path, 'w') as f:
        json.dump({'genotype': g}, f, indent=2)
    return path


def draw(g: dict, path: str, title: str = '') -> str | None:
    """The diagram of ``g`` at ``path`` when its kind has one (cells, NAS-FPN pyramids);
    else None."""
    from ..visualization.plots import plot_genotype
    return plot_genotype(load_genotype(g), path, title)


def phase_genotype(exp: dict, ctx, phase: str):
    """``export.genotype`` or the search phase's ``best_genotype``, else a one-line error."""
    genotype = exp.get('genotype') or ctx.outputs.get('search', {}).get('best_genotype')
    if not genotype:
        raise ValueError(f"phase '{phase}': no genotype: run a search phase first or set "
                         'export.genotype to a best_genotype.json')
    return genotype


def config_dir(cfg) -> str | None:
    """The folder of the search config's file (templates are also looked up there)."""
    name = getattr(cfg, 'filename', None)
    return osp.dirname(name) if name else None


__all__ = ['DROP_KEYS', 'REPO_ROOT', 'build_on_meta', 'check_config_keys', 'config_dict',
           'draw', 'dump_config', 'fill', 'fit_widths', 'read_genotype', 'resolve_template',
           'save_genotype', 'set_key', 'slot', 'write']
