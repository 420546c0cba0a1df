# The DetNAS search of retinanet_detnas-shufflenet-300M_search_digits.py with FLOPs as a
# second objective instead of a hard limit: NSGA-II (non-dominated sorting with crowding
# distance) maximises the held-out mAP and minimises the backbone's FLOPs at the same time.
#   python tools/search.py configs/detnas/retinanet_detnas-shufflenet-300M_search_digits_nsga2.py
# <work dir>/search/pareto.json holds the mAP / FLOPs front after every generation
# (search_pareto.png draws it); the export takes the path of best mAP on the front. To keep
# a ceiling as well, set search_cfg.max_flops (candidates above it are never asked).
_base_ = './retinanet_detnas-shufflenet-300M_search_digits.py'
search_cfg = dict(
    strategy=dict(_delete_=True, type='NSGA2', population=10, generations=4),
    max_flops=None,
    # random paths near the best one's FLOPs: a check of the single-reward search only
    compare_random=0)
