#!/usr/bin/env bash
# Set up the environment, build the embedded data when missing, and run the DetNAS demo on
# it (bench/detnas_demo.py): supernet pre-training on the digits, held-out split, supernet
# detection training, search under the FLOPs limit on the held-out images, export, then
# the best path and random paths of the same FLOPs retrained from scratch (pre-training
# included) over 2 seeds and compared on val.
# Extra arguments go to bench/detnas_demo.py (e.g. --work-dir, --cfg-options, --full,
# --tiny); a second run continues (or, when finished, just reports) instead of failing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup_env.sh
venv="$(bash tools/setup_env.sh --venv-path)"
config="${NAS_DET_DEMO_CONFIG:-configs/detnas/retinanet_detnas-shufflenet-300M-half_search_digits-easy.py}"
"$venv/bin/python" tools/make_data.py all --root data
exec "$venv/bin/python" bench/detnas_demo.py --config "$config" "$@"
