# The cell search of cells_search_digits-cls.py with the NAS / NASNet REINFORCE controller
# (an LSTM emits the five decisions per block, normal cell then reduction cell; policy
# gradient with a moving-average baseline): only the strategy differs.
#   python tools/search.py configs/cells/cells_search_digits-cls_reinforce.py
_base_ = './cells_search_digits-cls.py'
train_cfg = dict(strategy='reinforce')  # a preset of the base's `strategies`