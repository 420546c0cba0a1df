from setuptools import find_packages, setup
setup(name='nas_det', version='0.1.0', packages=find_packages(include=['nas_det', 'nas_det.*']))
