"""ONNX Runtime as the second backend of ``inference`` (device side: no TensorFlow).

An ``.onnx`` file exported by notebook 04 (``onnx_export``) runs here behind the same small
surface as a TFLite interpreter (``get_input_details``, ``set_tensor``, ``invoke``,
``get_tensor``, ``resize_tensor_input``), so the benchmark, the demo, the gate and the scoring
command treat both formats alike, and ``inference.quantize_input`` / ``dequantize_output`` stay
the one place that knows about int8 input and output.

An int8 ONNX file keeps the TFLite file's boundary: int8 input and output with the same scales and
zero points. ONNX has no field for them on a graph input, so the export writes them into the
file's metadata (``input_scale``, ``input_zero_point``, ``output_scale``, ``output_zero_point``);
a file without them falls back on its sidecar ``.json``.

Execution providers: the first of TensorRT, CUDA and CPU that this ``onnxruntime`` build offers,
in that order, or the ones named (``tensorrt``, ``cuda``, ``cpu`` or ONNX Runtime's own names).
``onnxruntime`` from PyPI offers CPU only; ``onnxruntime-gpu`` (or NVIDIA's Jetson wheel) adds
CUDA and TensorRT. The providers a session really got are what ``providers`` reports.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
PROVIDER_ALIASES = {"tensorrt": "TensorrtExecutionProvider", "trt": "TensorrtExecutionProvider",
                    "cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}  # fmt: skip
QUANTIZATION_KEYS = ("input_scale", "input_zero_point", "output_scale", "output_zero_point")
DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int8)": np.int8,
          "tensor(uint8)": np.uint8, "tensor(int32)": np.int32}  # fmt: skip
# TensorRT builds an engine when a session starts (seconds to minutes); it is cached here
TRT_CACHE = Path.home() / ".cache" / "deepfake-iot" / "tensorrt-engines"


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError(
            "onnxruntime is not installed: pip install -r requirements-device-onnx.txt "
            f"(an .onnx file needs it; {error})"
        ) from error
    return onnxruntime


def provider_names(requested) -> list[str]:
    """ONNX Runtime's names for ``requested`` (a list, or one comma-separated string) of short
    names (``tensorrt``, ``cuda``, ``cpu``) or full names, in order."""
    if isinstance(requested, str):
        requested = [part for part in requested.split(",")]
    names = [PROVIDER_ALIASES.get(str(name).strip().lower(), str(name).strip()) for name in requested]
    return [name for name in names if name]


def choose_providers(requested=None, available=None) -> list[str]:
    """The execution providers to ask for: ``requested`` (each must be available here), else the
    available ones of ``PREFERRED_PROVIDERS`` in that order (TensorRT, CUDA, CPU)."""
    if available is None:
        available = _onnxruntime().get_available_providers()
    if requested:
        names = provider_names(requested)
        missing = [name for name in names if name not in available]
        if missing:
            raise ValueError(f"execution provider(s) {', '.join(missing)} not available in this onnxruntime "
                             f"(available: {', '.join(available)}); onnxruntime-gpu adds CUDA and TensorRT")  # fmt: skip
        return names
    chosen = [name for name in PREFERRED_PROVIDERS if name in available]
    return chosen or list(available[:1])


def _provider_options(providers: list[str]) -> list[dict]:
    options = []
    for name in providers:
        if name == "TensorrtExecutionProvider":
            TRT_CACHE.mkdir(parents=True, exist_ok=True)
            options.append({"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(TRT_CACHE)})
        else:
            options.append({})
    return options


def _quantization(session, sidecar_path: Path | None) -> dict:
    """The boundary's scales and zero points: the file's metadata, else its sidecar, else none."""
    meta = dict(session.get_modelmeta().custom_metadata_map or {})
    if not all(key in meta for key in QUANTIZATION_KEYS) and sidecar_path and sidecar_path.is_file():
        try:
            meta = {**json.loads(sidecar_path.read_text()), **meta}
        except (OSError, json.JSONDecodeError):
            pass
    return {key: float(meta[key]) for key in QUANTIZATION_KEYS if meta.get(key) not in (None, "")}


class OnnxModel:
    """An ONNX Runtime session behind a TFLite interpreter's surface (one input, one output)."""

    def __init__(self, session, quantization: dict):
        self.session = session
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or not outputs:
            raise ValueError(f"expected one input and an output, got {len(inputs)} and {len(outputs)}")
        self._input, self._output = inputs[0], outputs[0]
        shape = list(self._input.shape)
        self._batch_fixed = isinstance(shape[0], int)
        self._shape = [shape[0] if self._batch_fixed else 1, *[int(v) for v in shape[1:]]]
        self._quantization = quantization
        self._feed, self._result = None, None

    @property
    def providers(self) -> list[str]:
        """The execution providers the session runs on, in order of preference."""
        return list(self.session.get_providers())

    def _details(self, arg, prefix: str, shape) -> dict:
        dtype = DTYPES.get(arg.type)
        if dtype is None:
            raise ValueError(f"{prefix} '{arg.name}' has type {arg.type}, which the device code does not handle")
        scale = self._quantization.get(f"{prefix}_scale", 0.0)
        zero_point = int(self._quantization.get(f"{prefix}_zero_point", 0))
        return {"name": arg.name, "index": 0, "shape": np.array(shape, dtype=np.int32), "dtype": dtype,
                "quantization": (float(scale), zero_point)}  # fmt: skip

    def get_input_details(self) -> list[dict]:
        return [self._details(self._input, "input", self._shape)]

    def get_output_details(self) -> list[dict]:
        tail = [v if isinstance(v, int) else 1 for v in list(self._output.shape)[1:]]
        return [self._details(self._output, "output", [self._shape[0], *tail])]

    def resize_tensor_input(self, index: int, shape) -> None:
        shape = [int(v) for v in shape]
        if shape[1:] != self._shape[1:] or (self._batch_fixed and shape[0] != self._shape[0]):
            raise ValueError(f"this ONNX file takes {self._input.shape}, not {shape}")
        self._shape = shape

    def allocate_tensors(self) -> None:
        """Nothing to do: ONNX Runtime allocates per run."""

    def set_tensor(self, index: int, value) -> None:
        self._feed = np.ascontiguousarray(value)

    def invoke(self) -> None:
        if self._feed is None:
            self._feed = np.zeros(self._shape, dtype=self.get_input_details()[0]["dtype"])
        self._result = self.session.run([self._output.name], {self._input.name: self._feed})[0]

    def get_tensor(self, index: int) -> np.ndarray:
        if self._result is None:
            raise ValueError("get_tensor before invoke")
        return self._result


def load(content: bytes, name: str, num_threads: int = 1, providers=None,
         sidecar_path: Path | None = None) -> OnnxModel:  # fmt: skip
    """An ``OnnxModel`` of the ONNX bytes ``content`` (``name`` says where they came from) with
    ``num_threads`` intra-op threads on ``providers`` (``choose_providers``). Raises
    ``ValueError`` naming the file when ONNX Runtime cannot load it, ``ImportError`` when
    onnxruntime is not installed."""
    ort = _onnxruntime()
    chosen = choose_providers(providers, ort.get_available_providers())
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(num_threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = int(os.environ.get("DFIOT_ORT_LOG_LEVEL", "3"))  # errors only
    try:
        session = ort.InferenceSession(content, sess_options=options, providers=chosen,
                                       provider_options=_provider_options(chosen))  # fmt: skip
        return OnnxModel(session, _quantization(session, sidecar_path))
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own pybind classes
        text = " ".join(str(error).split())[:400]
        raise ValueError(f"{name} could not be loaded as an ONNX model: {text}") from error
