# shellcheck shell=bash
# Sourced by run_all.sh and run_tests.sh. Makes sure the project's environment exists:
#   - .venv with the pinned requirements.txt and lib/ installed editable, re-installed only
#     when requirements.txt or pyproject.toml changed (a stamp of their hash);
#   - a Jupyter kernel for the project (python3 inside .venv, and "deepfake-iot" for the user);
#   - a LaTeX engine (latexmk or tectonic), installed when this machine allows it.
# DFIOT_USE_CURRENT_ENV=1 (or --use-current-env) uses the active Python instead (conda, Colab).

dfiot_log() { printf '[setup] %s\n' "$*" >&2; }

# Take --use-current-env out of the arguments (it sets DFIOT_USE_CURRENT_ENV=1); the rest are
# left in the array DFIOT_ARGS for the caller.
dfiot_parse_args() {
    DFIOT_ARGS=()
    local arg
    for arg in "$@"; do
        if [[ "$arg" == "--use-current-env" ]]; then export DFIOT_USE_CURRENT_ENV=1; else DFIOT_ARGS+=("$arg"); fi
    done
}

dfiot_python_env() {
    local root="$1"
    if [[ "${DFIOT_USE_CURRENT_ENV:-0}" == "1" ]]; then
        PYTHON="$(command -v python3 || command -v python)"
        if ! "$PYTHON" -c "import deepfake_iot, papermill" 2>/dev/null; then
            dfiot_log "the current Python ($PYTHON) lacks the project: run 'pip install -r requirements.txt -e .' first"
            return 1
        fi
        export PYTHON
        return 0
    fi
    local base
    base="$(command -v python3.11 || command -v python3)"
    if [[ ! -x "$root/.venv/bin/python" ]]; then
        dfiot_log "creating $root/.venv with $("$base" --version)"
        "$base" -m venv "$root/.venv"
    fi
    local stamp_file="$root/.venv/.setup-stamp" stamp
    stamp="$(cat "$root/requirements.txt" "$root/pyproject.toml" | sha256sum | cut -c1-16)"
    if [[ ! -f "$stamp_file" || "$(cat "$stamp_file")" != "$stamp" ]]; then
        dfiot_log "installing requirements.txt and lib/ into .venv (first use or requirements changed)"
        "$root/.venv/bin/python" -m pip install --quiet --upgrade pip
        "$root/.venv/bin/python" -m pip install --quiet -r "$root/requirements.txt"
        "$root/.venv/bin/python" -m pip install --quiet --no-deps -e "$root"
        "$root/.venv/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
        "$root/.venv/bin/python" -m ipykernel install --user --name deepfake-iot \
            --display-name "Python (deepfake-iot)" >/dev/null 2>&1 || true
        echo "$stamp" > "$stamp_file"
    fi
    PYTHON="$root/.venv/bin/python"
    export PYTHON
    export PATH="$root/.venv/bin:$PATH"
}

dfiot_latex() {
    if command -v latexmk >/dev/null 2>&1 || command -v tectonic >/dev/null 2>&1; then
        return 0
    fi
    if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
        dfiot_log "no LaTeX engine: installing latexmk and TeX Live from Debian's packages (about a minute)"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends latexmk \
            texlive-latex-recommended texlive-latex-extra texlive-publishers texlive-fonts-recommended >/dev/null
    elif [[ -n "${CONDA_PREFIX:-}" ]] && command -v conda >/dev/null 2>&1; then
        dfiot_log "no LaTeX engine: installing tectonic from conda-forge into $CONDA_PREFIX"
        conda install -y -q -c conda-forge tectonic >/dev/null
    else
        dfiot_log "no LaTeX engine and no way to install one here: install latexmk + TeX Live"
        dfiot_log "(Debian/Ubuntu: sudo apt-get install latexmk texlive-latex-recommended texlive-latex-extra texlive-publishers)"
        dfiot_log "or tectonic; the notebooks still run, the PDF is skipped"
    fi
}
