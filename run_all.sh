#!/usr/bin/env bash
# Regenerate the paper: set up on first use, run notebooks/NN_*.ipynb with papermill, build
# paper/main.pdf, and export every executed notebook to build/html/ (index.html lists them).
# Options: --profile NAME, --only NN, --from NN, --out DIR, --skip-paper, --only-paper,
# --use-current-env, --lab (open JupyterLab on the project instead), --help (see README.md).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for arg in "$@"; do  # --help answers before any set-up: the runner's options need only Python
    if [[ "$arg" == "--help" || "$arg" == "-h" ]]; then
        PYTHONPATH="$ROOT/lib${PYTHONPATH:+:$PYTHONPATH}" exec "$(command -v python3 || command -v python)" \
            -m deepfake_iot.run_all --help
    fi
done
# shellcheck source=scripts/setup_env.sh
source "$ROOT/scripts/setup_env.sh"
dfiot_parse_args "$@"
args=("${DFIOT_ARGS[@]+"${DFIOT_ARGS[@]}"}")
dfiot_python_env "$ROOT"
case " ${args[*]:-} " in
    *" --skip-paper "* | *" --lab "*) ;;
    *) dfiot_latex ;;
esac
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$PYTHON" -m deepfake_iot.run_all "${args[@]+"${args[@]}"}"
