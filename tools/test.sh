#!/usr/bin/env bash
# Set up the environment (idempotent: seconds once done) and run the whole test suite.
# Extra arguments go to pytest, e.g. `bash tools/test.sh -m "not slow"`.
# The suite runs in NAS_DET_TEST_WORKERS processes (default: the cores, at most 4; each test
# file stays in one process), one thread each; NAS_DET_TEST_WORKERS=1 runs it in one process.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup_env.sh
venv="$(bash tools/setup_env.sh --venv-path)"
cores=$(nproc)
workers="${NAS_DET_TEST_WORKERS:-$(( cores < 4 ? cores : 4 ))}"
if [ "$workers" -gt 1 ]; then
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
  par=(-n "$workers" --dist loadfile)
else
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
  par=()
fi
exec "$venv/bin/python" -m pytest tests -q -ra --durations=25 "${par[@]}" "$@"
