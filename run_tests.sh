#!/usr/bin/env bash
# The whole test suite: set up on first use, then pytest (unit tests of lib/, notebook hygiene,
# and an end-to-end run of every notebook on the smoke profile). Extra arguments go to pytest,
# e.g. ./run_tests.sh -m "not slow" for the quick unit tests only.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/setup_env.sh
source "$ROOT/scripts/setup_env.sh"
dfiot_parse_args "$@"
args=("${DFIOT_ARGS[@]+"${DFIOT_ARGS[@]}"}")
dfiot_python_env "$ROOT"
dfiot_latex
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
cd "$ROOT"
exec "$PYTHON" -m pytest "${args[@]+"${args[@]}"}"
