"""Architectures as data: genotypes and search spaces (standard library only)."""
from .base import Assignment, ChoiceSpace, Decision, SearchSpace, bad_value
from .cells import (AMOEBA_OPS, CELL_OPS, COMBINE_OPS, CONCAT_RULES, NASNET_OPS, PNAS_OPS, Block,
                    Cell, CellGenotype, CellSpace)
from .detnas import DETNAS_OPS, DETNAS_PRESETS, DetNASPath, DetNASSpace
from .nasfpn import LEVELS, NASFPN_OPS, MergeCell, NASFPNSpace, Pyramid
from .published import (AMOEBANET_A, NASFPN_7CELL, NASNET_A, PNASNET_5, PUBLISHED,
                        PUBLISHED_SPACES, get_published, published_space)
from .registry import (GENOTYPES, SPACES, build_space, genotype_from_dict, register_space,
                       space_config)
from .width import Widths, WidthSpace, removed_branches, round_width

__all__ = ['Assignment', 'ChoiceSpace', 'Decision', 'SearchSpace', 'bad_value']
__all__ += ['AMOEBA_OPS', 'CELL_OPS', 'COMBINE_OPS', 'CONCAT_RULES', 'NASNET_OPS', 'PNAS_OPS',
            'Block', 'Cell', 'CellGenotype', 'CellSpace']
__all__ += ['DETNAS_OPS', 'DETNAS_PRESETS', 'DetNASPath', 'DetNASSpace']
__all__ += ['LEVELS', 'NASFPN_OPS', 'MergeCell', 'NASFPNSpace', 'Pyramid']
__all__ += ['AMOEBANET_A', 'NASFPN_7CELL', 'NASNET_A', 'PNASNET_5', 'PUBLISHED',
            'PUBLISHED_SPACES', 'get_published', 'published_space']
__all__ += ['GENOTYPES', 'SPACES', 'build_space', 'genotype_from_dict', 'register_space',
            'space_config']
__all__ += ['Widths', 'WidthSpace', 'removed_branches', 'round_width']
