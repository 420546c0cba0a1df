"""Evaluators: ``genotype -> Result``, the one bridge from a search to a reward.

``SupernetEvaluator`` scores paths of a trained one-shot supernet; ``ProxyTrainEvaluator``
builds, trains briefly and validates a child network per candidate. A config names one in
``train_cfg.evaluator`` (:func:`build_evaluator`; :data:`EVALUATORS` lists them).
"""
from ...strategies.driver import Result
from .base import (EVALUATORS, build_dataset, build_evaluator, check_int, local_loader,
                   local_metrics, register_evaluator, reward_from_metrics, unwrap)
from .proxy import ProxyTrainEvaluator, schedule_from_lr_schedule
from .supernet import SupernetEvaluator, bn_recalibration, recalibrate_bn

__all__ = ['EVALUATORS', 'ProxyTrainEvaluator', 'Result', 'SupernetEvaluator', 'bn_recalibration',
           'build_dataset', 'build_evaluator', 'check_int', 'local_loader', 'local_metrics',
           'recalibrate_bn', 'register_evaluator', 'reward_from_metrics',
           'schedule_from_lr_schedule', 'unwrap']
