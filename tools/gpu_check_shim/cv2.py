"""A stand-in for OpenCV, for the GPU check only (tools/gpu_check.sh).

The GPU machine has no package index and takes at most 64 MiB of carried files; OpenCV's
wheel alone is about 57 MiB. mmcv and mmengine import ``cv2`` at import time but, with
mmcv's Pillow backends (which ``tools/gpu_check.py --pillow`` selects), call none of its
functions on the training path of the check. This module gives them the names they import:
constants become distinct integers, and any function other than the two no-ops below raises,
so a path that really needs OpenCV fails loudly instead of computing something wrong.
"""
__version__ = '0.0.0+nas_det_gpu_check_shim'
_ids = {}


def setNumThreads(n):  # noqa: N802  (mmengine's set-up calls it)
    return None


def __getattr__(name):
    if name.startswith('__'):
        raise AttributeError(name)
    if name.isupper() or name.split('_')[0].isupper():
        return _ids.setdefault(name, 1000 + len(_ids))

    def missing(*args, **kwargs):
        raise NotImplementedError(f'cv2.{name}: OpenCV is not installed (the GPU check runs '
                                  'with a stand-in; use the Pillow backends)')
    return missing
