#!/usr/bin/env bash
# Regenerate the paper: set up on first use, run notebooks/NN_*.ipynb with papermill, build
# paper/main.pdf. Options: --profile NAME, --only NN, --from NN, --out DIR, --skip-paper,
# --use-current-env, --help (see README.md).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/setup_env.sh
source "$ROOT/scripts/setup_env.sh"
dfiot_parse_args "$@"
args=("${DFIOT_ARGS[@]+"${DFIOT_ARGS[@]}"}")
dfiot_python_env "$ROOT"
case " ${args[*]:-} " in
    *" --help "* | *" -h "*) ;;
    *" --skip-paper "*) ;;
    *) dfiot_latex ;;
esac
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$PYTHON" -m deepfake_iot.runner "${args[@]+"${args[@]}"}"
