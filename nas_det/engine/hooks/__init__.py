"""mmengine hooks, one per file (registered in mmengine's root HOOKS registry), and the
runner-free sampling recipe of the one-shot supernet hook."""
from .channels_last_hook import ChannelsLastHook, to_channels_last
from .drop_path_schedule_hook import DropPathScheduleHook, drop_path_modules
from .sampling_recipe import SamplingRecipe, inherit_choice_weights
from .uniform_sampling_hook import UniformSamplingHook, searchable_modules

__all__ = ['ChannelsLastHook', 'DropPathScheduleHook', 'SamplingRecipe', 'UniformSamplingHook',
           'drop_path_modules', 'inherit_choice_weights', 'searchable_modules',
           'to_channels_last']
