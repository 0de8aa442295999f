#!/usr/bin/env bash
# The whole test suite: set up on first use, then pytest (unit tests of lib/, notebook hygiene,
# and an end-to-end run of every notebook on the smoke profile). Extra arguments go to pytest,
# e.g. ./run_tests.sh -m "not slow" for the quick unit tests only.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for arg in "$@"; do  # --help answers before any set-up
    if [[ "$arg" == "--help" || "$arg" == "-h" ]]; then
        cat <<'USAGE'
usage: ./run_tests.sh [--use-current-env] [PYTEST ARGUMENTS ...]

The test suite: sets up .venv on first use (as run_all.sh does), then runs pytest on tests/:
unit tests of lib/, notebook hygiene, the device environments and an end-to-end run of every
notebook on the smoke profile (the last two are marked slow and take minutes).

  ./run_tests.sh -m "not slow"          the quick unit tests only
  ./run_tests.sh tests/test_score.py -q one file
  --use-current-env                     the active Python instead of .venv (DFIOT_USE_CURRENT_ENV=1)

Every other argument goes to pytest (its own options: .venv/bin/python -m pytest --help).
USAGE
        exit 0
    fi
done
# shellcheck source=scripts/setup_env.sh
source "$ROOT/scripts/setup_env.sh"
dfiot_parse_args "$@"
args=("${DFIOT_ARGS[@]+"${DFIOT_ARGS[@]}"}")
dfiot_python_env "$ROOT"
dfiot_latex
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
cd "$ROOT"
exec "$PYTHON" -m pytest "${args[@]+"${args[@]}"}"
