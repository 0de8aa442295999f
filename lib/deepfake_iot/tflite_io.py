"""Running a ``.tflite`` model with whichever TFLite runtime is installed (device side).

This module never imports TensorFlow unless asked to fall back on it: on a Raspberry Pi only
``tflite-runtime`` (its last release, 2.14, needs ``numpy<2``) or its maintained successor
``ai-edge-litert`` is installed. ``load_interpreter`` picks the first of

1. ``tflite_runtime.interpreter``,
2. ``ai_edge_litert.interpreter``,
3. ``tensorflow.lite`` (deprecated there, kept as the analysis machine's fallback)

that imports, or the one named. A file that is not a TFLite flatbuffer is refused with a
``ValueError`` before the interpreter sees it, since the native loader may abort the process.

The one place that knows about int8/uint8 input and output is the pair ``quantize_input`` /
``dequantize_output``: ``real = scale * (q - zero_point)``. Float models pass through both.
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import numpy as np

RUNTIMES = ("tflite_runtime", "ai_edge_litert", "tensorflow")
TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier, bytes 4..8 of every .tflite file


def _interpreter_class(runtime: str):
    if runtime == "tflite_runtime":
        from tflite_runtime.interpreter import Interpreter
    elif runtime == "ai_edge_litert":
        from ai_edge_litert.interpreter import Interpreter
    elif runtime == "tensorflow":
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    else:
        raise ValueError(f"unknown TFLite runtime '{runtime}': use one of {', '.join(RUNTIMES)}")
    return Interpreter


def available_runtime(runtime: str | None = None):
    """``(Interpreter class, runtime name)``: the named runtime, or the first that imports."""
    if runtime is not None:
        try:
            return _interpreter_class(runtime), runtime
        except ImportError as error:
            raise ImportError(f"the TFLite runtime '{runtime}' does not import: {error}") from error
    reasons = []
    for name in RUNTIMES:
        try:
            return _interpreter_class(name), name
        except Exception as error:  # noqa: BLE001 - tflite_runtime under numpy 2 fails oddly
            reasons.append(f"{name}: {type(error).__name__}: {error}")
    raise ImportError(
        "no TFLite runtime imports; install ai-edge-litert (or tflite-runtime with numpy<2). "
        + "; ".join(reasons)
    )


def check_tflite_bytes(content: bytes, name: str = "model") -> None:
    """Raise ``ValueError`` naming ``name`` unless ``content`` looks like a TFLite flatbuffer.

    Checks the ``TFL3`` identifier at bytes 4..8 and that the root table offset (bytes 0..4,
    little-endian) points inside the content. It does not verify the whole flatbuffer; the
    interpreter's own errors are turned into ``ValueError`` by ``load_interpreter``.
    """
    if len(content) < 16:
        raise ValueError(
            f"{name} is not a TFLite model: {len(content)} bytes is too short (truncated or empty)"
        )
    if content[4:8] != TFLITE_IDENTIFIER:
        raise ValueError(
            f"{name} is not a TFLite model: bytes 4..8 are {content[4:8]!r}, not {TFLITE_IDENTIFIER!r}"
        )
    (root_offset,) = struct.unpack_from("<I", content, 0)
    if root_offset < 8 or root_offset >= len(content):
        raise ValueError(
            f"{name} is not a valid TFLite model: root offset {root_offset} is outside its "
            f"{len(content)} bytes (the file is probably truncated)"
        )


def load_interpreter(
    model_path: str | Path | bytes, num_threads: int = 1, runtime: str | None = None
):
    """``(interpreter, runtime name)`` with tensors allocated, for a ``.tflite`` path or bytes.

    Raises ``ValueError`` naming the path for a missing, empty, truncated or foreign file.
    """
    if isinstance(model_path, bytes | bytearray):
        content, name = bytes(model_path), "the model bytes"
    else:
        name = str(model_path)
        if not os.path.isfile(name):
            raise ValueError(f"TFLite model {name} does not exist (run the quantization step)")
        content = Path(name).read_bytes()
    check_tflite_bytes(content, name)
    interpreter_class, runtime_name = available_runtime(runtime)
    try:
        with warnings.catch_warnings():
            # tf.lite.Interpreter warns that it is deprecated on every construction
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
            interpreter = interpreter_class(model_content=content, num_threads=num_threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:
        raise ValueError(f"{name} could not be loaded as a TFLite model: {error}") from error
    return interpreter, runtime_name


def _single(details) -> dict:
    return details[0] if isinstance(details, list | tuple) else details


def _scale_zero_point(details: dict) -> tuple[float, int]:
    scale, zero_point = details.get("quantization", (0.0, 0))
    return float(scale), int(zero_point)


def quantize_input(images_float01, input_details) -> np.ndarray:
    """Images in [0, 1] as the model's input dtype: ``q = round(x / scale) + zero_point``.

    ``np.round`` rounds half to even, the same as TFLite's own quantize kernel; the result is
    clipped to the integer dtype's range. Float inputs are only cast. ``input_details`` is one
    entry (or the list) of ``interpreter.get_input_details()``.
    """
    details = _single(input_details)
    dtype = np.dtype(details["dtype"])
    images = np.asarray(images_float01, dtype=np.float32)
    if np.issubdtype(dtype, np.floating):
        return images.astype(dtype)
    scale, zero_point = _scale_zero_point(details)
    if scale <= 0:
        raise ValueError(
            f"input '{details.get('name')}' is {dtype} but has no quantization scale: "
            "the file was converted without input quantization parameters"
        )
    info = np.iinfo(dtype)
    quantized = np.round(images / scale) + zero_point
    return np.clip(quantized, info.min, info.max).astype(dtype)


def dequantize_output(raw, output_details) -> np.ndarray:
    """The model's output as float32: ``scale * (q - zero_point)``; float outputs are cast."""
    details = _single(output_details)
    raw = np.asarray(raw)
    if np.issubdtype(np.dtype(details["dtype"]), np.floating):
        return raw.astype(np.float32)
    scale, zero_point = _scale_zero_point(details)
    if scale <= 0:
        raise ValueError(f"output '{details.get('name')}' is integer but has no scale")
    return ((raw.astype(np.float32) - zero_point) * scale).astype(np.float32)


def io_details(interpreter) -> dict:
    """Input size, dtypes, scales and zero points: what a sidecar records."""
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    in_scale, in_zero = _scale_zero_point(inp)
    out_scale, out_zero = _scale_zero_point(out)
    return {
        "input_shape": [int(v) for v in inp["shape"]],
        "input_size": int(inp["shape"][1]),
        "input_dtype": np.dtype(inp["dtype"]).name,
        "input_scale": in_scale,
        "input_zero_point": in_zero,
        "output_dtype": np.dtype(out["dtype"]).name,
        "output_scale": out_scale,
        "output_zero_point": out_zero,
    }


def predict(interpreter, images, batch_size: int = 1) -> np.ndarray:
    """P(fake) for each image of ``images`` (float RGB in [0, 1], shape (N, S, S, 3)).

    One image per ``invoke`` by default, as on a device; a larger ``batch_size`` resizes the
    input tensor to that batch (and to the last, smaller batch).
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    inp = interpreter.get_input_details()[0]
    expected = tuple(int(v) for v in inp["shape"][1:])
    if images.ndim != 4 or images.shape[1:] != expected:
        raise ValueError(
            f"images have shape {images.shape}, the model expects (N, {', '.join(map(str, expected))})"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    scores = []
    current = int(inp["shape"][0])
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        if len(chunk) != current:
            interpreter.resize_tensor_input(inp["index"], [len(chunk), *expected])
            interpreter.allocate_tensors()
            current = len(chunk)
        inp = interpreter.get_input_details()[0]
        out = interpreter.get_output_details()[0]
        interpreter.set_tensor(inp["index"], quantize_input(chunk, inp))
        interpreter.invoke()
        raw = interpreter.get_tensor(out["index"])
        scores.append(dequantize_output(raw, out).reshape(len(chunk), -1)[:, 0])
    if not scores:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(scores).astype(np.float32)
