"""What a search shows: PNG plots of its trials and of genotypes (search progress, rewards,
NAS-FPN pyramids, cells, MorphNet widths), its scalars on the runner's visualizer, and its
reward / cost Pareto front as ``pareto.json``. Torch-free; matplotlib is imported only
when a plot is drawn."""
from .cell_plots import plot_cells
from .morphnet_plots import plot_morphnet
from .pareto import front_records, write_pareto
from .plots import (moving_average, pareto_front, plot_genotype, plot_pyramid, plot_rewards,
                    plot_search)
from .search_scalars import SearchScalars, trial_scalars

__all__ = ['SearchScalars', 'front_records', 'moving_average', 'pareto_front', 'plot_cells',
           'plot_genotype', 'plot_morphnet', 'plot_pyramid', 'plot_rewards', 'plot_search',
           'trial_scalars', 'write_pareto']
