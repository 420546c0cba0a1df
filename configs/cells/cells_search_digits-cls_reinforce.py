# The cell search of cells_search_digits-cls.py with the NAS / NASNet REINFORCE controller
# (an LSTM emits the five decisions per block, normal cell then reduction cell; policy
# gradient with a moving-average baseline): only the strategy differs.
#   python tools/search.py configs/cells/cells_search_digits-cls_reinforce.py
_base_ = './cells_search_digits-cls.py'
# (3 controller updates of 4 children)
train_cfg = dict(strategy=dict(_delete_=True, type='ReinforceController', batch_size=4,
                               lr=0.01, entropy_weight=1e-4))
