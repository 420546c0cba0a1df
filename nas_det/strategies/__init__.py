"""Search strategies: ask/tell algorithms over any search space.

The pure ones (random, aging evolution, the DetNAS genetic algorithm, NSGA-II) import no
torch; the REINFORCE controller and progressive SMBO (in their own modules) use torch and are
imported on demand by :func:`build_strategy`. :mod:`.driver` runs any of them against any
objective (ask, evaluate, tell, log, resume from the work dir), without a Runner or torch.
"""
from .base import STRATEGIES, Strategy, build_strategy, register_strategy
from .evolution import GeneticAlgorithm, RegularizedEvolution
from .multi_objective import NSGA2
from .random_search import RandomSearch

__all__ = ['STRATEGIES', 'Strategy', 'build_strategy', 'register_strategy']
__all__ += ['GeneticAlgorithm', 'NSGA2', 'RandomSearch', 'RegularizedEvolution']
