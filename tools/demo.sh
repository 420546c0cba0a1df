#!/usr/bin/env bash
# Set up the environment, build the embedded data when missing, and run the main job on it.
# Extra arguments go to tools/search.py (e.g. --work-dir, --cfg-options, --resume).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup_env.sh
venv="$(bash tools/setup_env.sh --venv-path)"
config="${NAS_DET_DEMO_CONFIG:-configs/demo/retinanet_r18_fpn_digits.py}"
"$venv/bin/python" tools/make_data.py all --out data
exec "$venv/bin/python" tools/search.py "$config" "$@"
