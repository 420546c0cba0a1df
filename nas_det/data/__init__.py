"""Embedded data sets generated from real MNIST digits (numpy + PIL only)."""
from .digits import (CLASSES, GENERATOR_VERSION, classification_sources, load_mnist,
                     make_classification_set, make_detection_set, mnist_path,
                     render_classification_image, render_detection_image, split_pools)

__all__ = ['CLASSES', 'GENERATOR_VERSION', 'classification_sources', 'load_mnist',
           'make_classification_set', 'make_detection_set', 'mnist_path',
           'render_classification_image', 'render_detection_image', 'split_pools']
