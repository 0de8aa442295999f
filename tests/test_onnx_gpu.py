"""ONNX Runtime's GPU execution providers (CUDA, TensorRT) on the committed demo model's ONNX
twin: they score as the CPU provider does and the benchmark names them. They run only where
this onnxruntime build offers them (``onnxruntime-gpu`` on an NVIDIA machine, NVIDIA's wheel on a
Jetson) and skip elsewhere, saying why; ``scripts/gpu_check.sh`` runs them with the rest of the
GPU check. The CPU provider is tested everywhere (``test_inference.py``, ``test_device_env.py``).
"""

import numpy as np
import pytest

from deepfake_iot import inference, timing
from deepfake_iot.demo_model import demo_onnx_path

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
GPU_PROVIDERS = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}


def _require(short: str) -> str:
    name = GPU_PROVIDERS[short]
    available = ort.get_available_providers()
    if name not in available:
        pytest.skip(f"{name} is not offered by this onnxruntime ({ort.__version__}: {', '.join(available)}); "
                    "it needs onnxruntime-gpu and an NVIDIA GPU")  # fmt: skip
    return name


@pytest.mark.parametrize("short", sorted(GPU_PROVIDERS))
def test_a_gpu_provider_scores_as_the_cpu_does(short):
    name = _require(short)
    images = np.random.default_rng(0).random((16, 96, 96, 3), dtype=np.float32)
    cpu, _ = inference.load_model(demo_onnx_path(), providers=["cpu"])
    gpu, runtime = inference.load_model(demo_onnx_path(), providers=[short, "cpu"])
    assert runtime == "onnxruntime" and inference.providers_of(gpu)[0] == name, inference.providers_of(gpu)
    step = inference.io_details(cpu)["output_scale"]
    assert np.abs(inference.predict(gpu, images) - inference.predict(cpu, images)).max() <= step + 1e-6


@pytest.mark.parametrize("short", sorted(GPU_PROVIDERS))
def test_the_benchmark_names_the_gpu_provider(short):
    name = _require(short)
    row = timing.benchmark_model(demo_onnx_path(), warmup=20, runs=50, providers=[short, "cpu"])
    assert row["provider"] == name.replace("ExecutionProvider", "") and row["runtime"] == "onnxruntime"
    assert row["min_ms"] <= row["median_ms"] <= row["max_ms"]
