#!/usr/bin/env bash
# The prepared GPU check (10 minutes at most on one H100): mmcv with CUDA ops, then the DetNAS
# supernet trained on CUDA (tools/gpu_check.py: focal loss and NMS on CUDA, loss curve, img/s
# of the supernet and of the standalone subnet).
#
# Two steps, because the GPU machine has no package index:
#   bash tools/gpu_check.sh --prepare [PYVER]   # here, with the index: the pure-Python and
#                                               # binary wheels for Python PYVER (default 3.12)
#                                               # and the mmcv sdist into .gpu_wheels/ (<64 MiB)
#   bash tools/gpu_check.sh [--iters N]         # there, with .gpu_wheels carried: installs
#                                               # them into a venv that sees the image's torch,
#                                               # builds mmcv's CUDA ops for this GPU's
#                                               # architecture (wheel kept in .gpu_wheels/built,
#                                               # and copied to $OUT when set), runs the check
# Environment: MAX_JOBS (compile jobs, default nproc), TORCH_CUDA_ARCH_LIST (default: the
# visible GPU's), GPU_CHECK_VENV (default /tmp/nas_det_gpu_venv).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wh="$here/.gpu_wheels"
stack="$here/requirements/stack.txt"
pin() { sed -n "s/^$1==//p" "$stack"; }
log() { echo "[gpu_check] $*" >&2; }
trap 'rc=$?; log "FAILED at line $LINENO (exit $rc): see the messages above"; exit $rc' ERR

if [ "${1:-}" = --prepare ]; then
  pyv="${2:-3.12}"
  mkdir -p "$wh"
  # No dependencies resolved here: the image has torch, numpy, setuptools, ninja, and the
  # list below is what mmcv / mmengine / mmdet import on the training path. OpenCV's wheel
  # (57 MiB) does not fit the carry limit: tools/gpu_check_shim/cv2.py stands in for it, and
  # the check runs with mmcv's Pillow backends (--pillow).
  python3 -m pip download -q --no-deps --only-binary :all: --python-version "$pyv" \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    -d "$wh" "mmengine==$(pin mmengine)" "mmdet==$(pin mmdet)" "pycocotools==$(pin pycocotools)" \
    "mlxtend==$(pin mlxtend)" addict yapf termcolor rich markdown-it-py mdurl pygments \
    terminaltables shapely pyyaml platformdirs tomli \
    "setuptools==$(sed -n 's/^setuptools==//p' "$here/requirements/build.txt")" \
    "wheel==$(sed -n 's/^wheel==//p' "$here/requirements/build.txt")"
  # the sdist's metadata step needs the pinned setuptools: the project's environment has it
  venv_py="$(bash "$here/tools/setup_env.sh" --venv-path)/bin/python"
  "$venv_py" -m pip download -q --no-deps --no-binary :all: --no-build-isolation \
    -c "$here/requirements/build.txt" "mmcv==$(pin mmcv)" -d "$wh"
  size=$(du -sm "$wh" | cut -f1)
  log "prepared $wh: $(ls "$wh" | wc -l) files, ${size} MiB (carry it: run(carry=['.gpu_wheels']))"
  [ "$size" -lt 60 ] || { log "the wheels take ${size} MiB: over the 64 MiB carry limit"; exit 1; }
  exit 0
fi

iters=300
[ "${1:-}" = --iters ] && iters="$2"
venv="${GPU_CHECK_VENV:-/tmp/nas_det_gpu_venv}"
t0=$(date +%s)
python3 -m venv --system-site-packages "$venv"   # sees the image's torch with CUDA
py="$venv/bin/python"
"$py" -m pip install -q --no-index --no-deps "$wh"/*.whl
shim=""
if ! "$py" -c 'import cv2' 2>/dev/null; then
  shim="$here/tools/gpu_check_shim"; log "no OpenCV here: using the stand-in $shim/cv2.py"
fi
export PYTHONPATH="${shim}${PYTHONPATH:+:$PYTHONPATH}"
if ! "$py" -c 'import mmcv.ops' 2>/dev/null; then
  built=$(ls "$wh"/built/mmcv-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$built" ]; then
    arch="${TORCH_CUDA_ARCH_LIST:-$("$py" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')}"
    src=$(mktemp -d); tar -xzf "$wh"/mmcv-*.tar.gz -C "$src"; d=$(ls -d "$src"/mmcv-*/ | head -n1)
    # torch's headers need C++20 (mmcv 2.1.0 asks for C++17): the fix of tools/setup_env.sh
    sed -i "s/'-std=c++17'/'-std=c++20'/g" "$d/setup.py"
    log "building mmcv $(pin mmcv) with CUDA ops for sm ${arch} (MAX_JOBS=${MAX_JOBS:-$(nproc)})"
    tb=$(date +%s)
    (cd "$d" && MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$arch" MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      "$py" -m pip wheel -q --no-deps --no-build-isolation --no-index . -w "$wh/built")
    built=$(ls "$wh"/built/mmcv-*.whl | head -n1)
    log "mmcv CUDA build: $(( $(date +%s) - tb )) s, $(du -h "$built" | cut -f1)"
    [ -n "${OUT:-}" ] && cp "$built" "$OUT"/ || true
  fi
  "$py" -m pip install -q --no-index --no-deps "$built"
fi
"$py" -m pip install -q --no-index --no-deps --no-build-isolation -e "$here"
log "set-up took $(( $(date +%s) - t0 )) s"
"$py" "$here/tools/gpu_check.py" --iters "$iters" --work-dir "${OUT:-/tmp}/gpu_check" \
  --data-root /tmp/nas_det_gpu_data ${shim:+--pillow}
