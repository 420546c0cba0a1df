#!/usr/bin/env bash
# Set up the environment, build the embedded data when missing, and run the main job on it.
# Extra arguments go to tools/search.py (e.g. --work-dir, --cfg-options, --resume).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup_env.sh
venv="$(bash tools/setup_env.sh --venv-path)"
config="${NAS_DET_DEMO_CONFIG:-configs/detnas/retinanet_detnas-shufflenet-300M_search_digits.py}"
"$venv/bin/python" tools/make_data.py all --root data
# --resume: a second run continues (or, when finished, just reports) instead of failing
exec "$venv/bin/python" tools/search.py "$config" --resume "$@"
