#!/usr/bin/env bash
# Set up the environment (idempotent: seconds once done) and run the whole test suite.
# Extra arguments go to pytest, e.g. `bash tools/test.sh -m "not slow"`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup_env.sh
venv="$(bash tools/setup_env.sh --venv-path)"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
exec "$venv/bin/python" -m pytest tests -q -ra --durations=15 "$@"
