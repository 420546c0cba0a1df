# The cell search of cells_search_digits-cls.py with progressive SMBO (PNAS): cells grow
# one block at a time (children of 1, 2, ... 5 blocks), an LSTM surrogate ranks the
# expansions and the top `beam` are trained: 5 blocks x beam 2 = 10 children, then the
# beam goes on at 5 blocks up to max_trials (12). Only the strategy differs.
#   python tools/search.py configs/cells/cells_search_digits-cls_pnas.py
_base_ = './cells_search_digits-cls.py'
train_cfg = dict(strategy=dict(_delete_=True, type='ProgressiveSMBO', beam=2,
                               surrogate='lstm', epochs=30, max_candidates=500))
