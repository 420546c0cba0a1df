"""Embedded data sets generated from real MNIST digits (numpy + PIL only)."""
from .digits import (CLASSES, GENERATOR_VERSION, load_mnist, make_classification_set,
                     make_detection_set, mnist_path, split_pools)

__all__ = ['CLASSES', 'GENERATOR_VERSION', 'load_mnist', 'make_classification_set',
           'make_detection_set', 'mnist_path', 'split_pools']
