"""The model files' import graph (no circle, ``flops`` below the families), the old import
paths of the names that moved, and the search loop's cost model counting as
:func:`~nas_det.models.flops.model_flops`."""
import ast
import os
import random

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS_DIR = os.path.join(ROOT, 'nas_det', 'models')
PKG = 'nas_det.models'


def _model_imports() -> dict:
    """``{module: {sibling modules it imports}}`` over ``nas_det/models/*.py``, counting
    the imports inside functions (a lazy import still closes a circle)."""
    mods = {f[:-3] for f in os.listdir(MODELS_DIR) if f.endswith('.py')} - {'__init__'}
    graph = {}
    for m in mods:
        with open(os.path.join(MODELS_DIR, f'{m}.py')) as f:
            tree = ast.parse(f.read())
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps.update([node.module.split('.')[0]] if node.module
                            else [a.name for a in node.names])
            elif isinstance(node, ast.ImportFrom) and node.level == 0 \
                    and (node.module or '').startswith(PKG + '.'):
                deps.add(node.module[len(PKG) + 1:].split('.')[0])
            elif isinstance(node, ast.Import):
                deps.update(a.name[len(PKG) + 1:].split('.')[0] for a in node.names
                            if a.name.startswith(PKG + '.'))
        graph[m] = (deps & mods) - {m}
    return graph


def test_model_files_import_no_circle():
    graph = _model_imports()
    assert {'flops', 'shufflenet', 'morphnet', 'width_resnet', 'cells', 'cell_ops'} <= set(graph)
    # flops is the shared counting layer: it imports no model family, lazily or not
    assert graph['flops'] == set(), graph['flops']
    assert 'flops' in graph['shufflenet']  # the analytic cost counts with its layer costs
    assert 'morphnet' not in graph['width_resnet'] and 'cells' not in graph['cell_ops']

    def visit(m, stack):
        for d in sorted(graph[m]):
            assert d not in stack, f'import circle: {" -> ".join(stack + [d])}'
            visit(d, stack + [d])
    for m in sorted(graph):
        visit(m, [m])


def test_moved_names_old_paths():
    """Names that moved: found at the old path with a DeprecationWarning, or (the DetNAS
    costs, whose re-export would bring the circle back) a one-line error naming the new
    place."""
    import nas_det.engine.runner.search_loop as search_loop
    import nas_det.models.cells as cells
    import nas_det.models.flops as flops
    import nas_det.models.morphnet as morphnet
    from nas_det.models import cell_ops, shufflenet, width_resnet
    for name in ('WidthResNet', 'WidthBlock', 'resnet_widths', 'resnet_branches',
                 'read_widths', 'RESNET_ARCH'):
        with pytest.warns(DeprecationWarning, match=f'width_resnet.{name}'):
            assert getattr(morphnet, name) is getattr(width_resnet, name)
    with pytest.warns(DeprecationWarning, match='cell_ops.SepConv'):
        from nas_det.models.cells import SepConv
    assert SepConv is cell_ops.SepConv
    assert cells.OPS is cell_ops.OPS and cells.build_op is cell_ops.build_op
    with pytest.warns(DeprecationWarning, match='SearchCostModel'):
        assert search_loop.CostModel is search_loop.SearchCostModel
    for name in ('backbone_cost', 'unit_cost', 'specs_cost'):
        with pytest.raises(ImportError, match=f'nas_det.models.shufflenet import {name}'):
            getattr(flops, name)
        assert callable(getattr(shufflenet, name))
    with pytest.raises(ImportError, match='moved to nas_det.models.shufflenet'):
        from nas_det.models.flops import backbone_cost  # noqa: F401
    with pytest.raises(AttributeError):
        morphnet.no_such_name


def test_search_cost_model_counts_as_model_flops():
    """The FLOPs the search limits and plots are model_flops' figure, with the path set,
    and the path in use is restored."""
    import nas_det  # noqa: F401
    from nas_det.engine.runner.search_loop import SearchCostModel
    from nas_det.models.flops import model_flops
    from nas_det.models.nasfpn import NASFPNSupernet
    from nas_det.space import NASFPNSpace
    from nas_det.space.published import NASFPN_7CELL
    import torch
    neck = NASFPNSupernet([8, 8, 8, 8], 8, 5, stack_times=1, start_level=1)
    shapes = [(8, 32, 32), (8, 16, 16), (8, 8, 8), (8, 4, 4)]
    neck.set_choices(NASFPN_7CELL)
    cost = SearchCostModel(neck, shapes, 'model.neck')
    rng = random.Random(1)
    for g in [NASFPN_7CELL] + [NASFPNSpace(7).sample(rng) for _ in range(2)]:
        got = cost(g)
        assert neck.choices == NASFPN_7CELL
        neck.set_choices(g)
        want = model_flops(neck, (tuple(torch.zeros(1, *s) for s in shapes),))
        neck.set_choices(NASFPN_7CELL)
        assert got == {'flops': want['flops']} and got['flops'] > 0
