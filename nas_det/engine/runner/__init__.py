"""What runs inside an mmengine Runner: the search loop (``train_cfg=dict(type='SearchLoop',
...)``, registered in mmengine's root LOOPS registry) and the safe checkpoint save and load
that ``import nas_det`` installs in mmengine's runner (:func:`checkpoint.install`)."""
from . import checkpoint
from .search_loop import SearchCostModel, SearchLoop, check_search_config

__all__ = ['SearchCostModel', 'SearchLoop', 'check_search_config', 'checkpoint']
