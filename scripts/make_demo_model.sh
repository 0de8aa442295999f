#!/usr/bin/env bash
# Regenerate the committed demo model, demo/light_cnn_int8_synthetic.tflite and its sidecar:
# the default profile's int8 light CNN (params/demo_model.yaml runs only what it needs), trained
# on the embedded synthetic benchmark, and its ONNX twin demo/onnx/light_cnn_int8_synthetic.onnx
# (converted from that very file, verified against it). About 10 minutes on 2 CPU cores.
#   scripts/make_demo_model.sh            # then commit demo/
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${DFIOT_DEMO_BUILD:-$ROOT/build/demo-model}"
"$ROOT/run_all.sh" --profile demo_model --out "$OUT" --only 01 --only 02 --only 03 --only 04 --skip-paper "$@"
source "$ROOT/scripts/setup_env.sh"
dfiot_python_env "$ROOT"
"$PYTHON" -m deepfake_iot.demo_model "$OUT/models/tflite/light_cnn/int8_ptq.tflite" "$ROOT/demo"
"$PYTHON" -m deepfake_iot.onnx_export "$ROOT/demo/light_cnn_int8_synthetic.tflite"
