"""Loading and running a model file on the device: ``.tflite`` under a TFLite runtime (LiteRT),
``.onnx`` under ONNX Runtime, chosen by the file's suffix, behind one small interface.

This module never imports TensorFlow unless asked to fall back on it: on a Raspberry Pi only
``ai-edge-litert`` (the maintained LiteRT runtime, pinned in ``requirements-device.txt``) or its
predecessor ``tflite-runtime`` (last release 2.14, ``numpy<2``, the documented fallback) is
installed, and ``onnxruntime`` where ``requirements-device-onnx.txt`` adds it.

``load_model`` returns an object with a TFLite interpreter's surface (``get_input_details``,
``set_tensor``, ``invoke``, ``get_tensor``, ...) and the runtime's name. A ``.tflite`` file runs on
the named TFLite runtime or the first of

1. ``ai_edge_litert.interpreter`` (measured fastest: the int8 light CNN runs about 9x faster
   than under tflite-runtime 2.14, and it loads every file the 2.21 converter writes),
2. ``tflite_runtime.interpreter``,
3. ``tensorflow.lite`` (deprecated there, kept as the analysis machine's last resort)

that imports. An ``.onnx`` file runs on ``onnxruntime`` (``onnx_backend``: execution providers
TensorRT, then CUDA, then CPU, among those installed, or as named). A ``runtime`` argument names
the runtime for files of its own kind and is ignored for the other kind, so one setting serves a
list holding both. A file that is not a TFLite flatbuffer is refused with a ``ValueError``
before the interpreter sees it, since the native loader may abort the process. A file whose graph
the XNNPACK delegate refuses runs on the runtime's built-in kernels, with a ``RuntimeWarning``
saying so (its timings are then not XNNPACK's).

The one place that knows about int8/uint8 input and output is the pair ``quantize_input`` /
``dequantize_output``: ``real = scale * (q - zero_point)``. Float models pass through both.
"""

from __future__ import annotations

import os
import struct
import sys
import warnings
from pathlib import Path

import numpy as np

RUNTIMES = ("ai_edge_litert", "tflite_runtime", "tensorflow")  # TFLite runtimes, in preference order
ONNX_RUNTIME = "onnxruntime"
MODEL_SUFFIXES = (".tflite", ".onnx")
# runtime -> the distributions that may provide it (onnxruntime-gpu provides onnxruntime too)
RUNTIME_PACKAGES = {"ai_edge_litert": ("ai-edge-litert",), "tflite_runtime": ("tflite-runtime",),
                    "tensorflow": ("tensorflow",), ONNX_RUNTIME: ("onnxruntime", "onnxruntime-gpu")}  # fmt: skip
TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier, bytes 4..8 of every .tflite file
# Images per invoke when a whole split is scored. Measured with TensorFlow's interpreter (XNNPACK,
# 1 thread, 480 crops of 96 px): batches of 64 or 256 were no faster than single invokes, for the
# light CNN (0.25 s / 0.88 s against 0.11 s) and EfficientNet-B0 (0.5-1.1x), since a single
# invoke has almost no fixed cost and a batch's activations leave the CPU caches. One image per
# invoke is therefore the default, and also what a device does; ``predict`` batches on request.
EVAL_BATCH_SIZE = 1


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
        "no TFLite runtime imports; install ai-edge-litert (requirements-device.txt). "
        + "; ".join(reasons)
    )


def check_tflite_bytes(content: bytes, name: str = "model") -> None:
    """Raise ``ValueError`` naming ``name`` unless ``content`` looks like a TFLite flatbuffer.

    Checks the ``TFL3`` identifier at bytes 4..8 and that the root table offset (bytes 0..4,
    little-endian) points inside the content. It does not verify the whole flatbuffer; the
    interpreter's own errors are turned into ``ValueError`` by ``load_model``.
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


def _new_interpreter(interpreter_class, content: bytes, num_threads: int, **options):
    with warnings.catch_warnings():
        # tf.lite.Interpreter warns that it is deprecated on every construction
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
        interpreter = interpreter_class(model_content=content, num_threads=num_threads, **options)
    interpreter.allocate_tensors()
    return interpreter


def _without_default_delegates(interpreter_class):
    """The runtime's ``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES`` (no XNNPACK)."""
    module = sys.modules[interpreter_class.__module__]
    return module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES


def _load_tflite(content: bytes, name: str, num_threads: int, runtime: str | None):
    check_tflite_bytes(content, name)
    interpreter_class, runtime_name = available_runtime(runtime)
    try:
        interpreter = _new_interpreter(interpreter_class, content, num_threads)
    except (ValueError, RuntimeError) as error:
        if "XNNPACK" not in str(error):
            raise ValueError(f"{name} could not be loaded as a TFLite model: {error}") from error
        # XNNPACK (the default CPU delegate) refuses some valid int8 graphs, e.g. a layer whose
        # calibration outputs were all zero gets a near-zero scale; the built-in kernels run them.
        try:
            interpreter = _new_interpreter(
                interpreter_class, content, num_threads,
                experimental_op_resolver_type=_without_default_delegates(interpreter_class),
            )  # fmt: skip
        except (ValueError, RuntimeError) as second:
            raise ValueError(f"{name} could not be loaded as a TFLite model: {second}") from second
        warnings.warn(
            f"{name}: the XNNPACK delegate refused the model ({str(error).strip()}); it runs on "
            f"{runtime_name}'s built-in kernels instead, which are slower, so its timings are not "
            "XNNPACK's",
            RuntimeWarning,
            stacklevel=3,
        )
    return interpreter, runtime_name


def model_format(source: str | Path | bytes) -> str:
    """``"onnx"`` for a path ending in ``.onnx``, else ``"tflite"`` (model bytes are TFLite)."""
    if isinstance(source, bytes | bytearray):
        return "tflite"
    return "onnx" if Path(source).suffix.lower() == ".onnx" else "tflite"


def load_model(
    source: str | Path | bytes,
    num_threads: int = 1,
    runtime: str | None = None,
    providers=None,
):
    """``(model, runtime name)`` ready to invoke, for a ``.tflite`` or ``.onnx`` path or TFLite
    bytes; the model has a TFLite interpreter's surface whichever runtime runs it.

    ``runtime`` names a TFLite runtime (for ``.tflite`` files) or ``onnxruntime`` (for ``.onnx``
    files) and is ignored for files of the other kind; ``providers`` lists ONNX Runtime's
    execution providers in order (default: TensorRT, CUDA, CPU among the available ones). Raises
    ``ValueError`` naming the path for a missing, empty, truncated or foreign file, and
    ``ImportError`` when no runtime for the file's kind is installed.
    """
    kind = model_format(source)
    if isinstance(source, bytes | bytearray):
        content, name = bytes(source), "the model bytes"
    else:
        name = str(source)
        if not os.path.isfile(name):
            raise ValueError(f"model file {name} does not exist (run the quantization step)")
        content = Path(name).read_bytes()
    if kind == "tflite":
        return _load_tflite(content, name, num_threads, None if runtime == ONNX_RUNTIME else runtime)
    if not content:
        raise ValueError(f"{name} is not an ONNX model: the file is empty")
    from deepfake_iot import onnx_backend

    sidecar = Path(name).with_suffix(".json")
    return onnx_backend.load(content, name, num_threads, providers, sidecar), ONNX_RUNTIME


def providers_of(model) -> list[str]:
    """The execution providers an ONNX model runs on; ``["CPU"]`` for a TFLite interpreter (no
    delegate other than its CPU kernels is used here)."""
    return list(getattr(model, "providers", None) or ["CPU"])


def runtime_version(name: str) -> str:
    """The installed version of runtime ``name`` (its distribution's), or ``"unknown"``."""
    import importlib.metadata

    for distribution in RUNTIME_PACKAGES.get(name, (name,)):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


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


def _check_images(interpreter, images) -> np.ndarray:
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    expected = tuple(int(v) for v in interpreter.get_input_details()[0]["shape"][1:])
    if images.ndim != 4 or images.shape[1:] != expected:
        raise ValueError(
            f"images have shape {images.shape}, the model expects (N, {', '.join(map(str, expected))})"
        )
    return images


def _set_batch(interpreter, batch: int) -> None:
    """Resize the input's batch dimension to ``batch`` and reallocate, unless it already is."""
    inp = interpreter.get_input_details()[0]
    if int(inp["shape"][0]) != batch:
        interpreter.resize_tensor_input(inp["index"], [batch, *[int(v) for v in inp["shape"][1:]]])
        interpreter.allocate_tensors()


def _invoke(interpreter, chunk: np.ndarray) -> np.ndarray:
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    interpreter.set_tensor(inp["index"], quantize_input(chunk, inp))
    interpreter.invoke()
    raw = dequantize_output(interpreter.get_tensor(out["index"]), out)
    if raw.shape[0] != len(chunk):
        raise ValueError(f"the output has batch {raw.shape[0]}, the input {len(chunk)}")
    return raw.reshape(len(chunk), -1)[:, 0]


def _predict_one_by_one(interpreter, images: np.ndarray) -> np.ndarray:
    _set_batch(interpreter, 1)
    scores = [_invoke(interpreter, images[index : index + 1]) for index in range(len(images))]
    return np.concatenate(scores) if scores else np.zeros(0, dtype=np.float32)


def predict(interpreter, images, batch_size: int = 1) -> np.ndarray:
    """P(fake) for each image of ``images`` (float RGB in [0, 1], shape (N, S, S, 3)).

    One image per ``invoke`` by default, as on a device. A larger ``batch_size`` resizes the
    input tensor once to that batch (``resize_tensor_input`` + ``allocate_tensors``) and pads
    the last, smaller chunk, so the tensors are allocated a single time; the scores are the
    same, since inference treats every image of a batch on its own. A model that cannot run
    batched (a batch dimension fixed inside the graph, an output that does not follow the
    input's batch) falls back on one invoke per image, with a warning. The interpreter is
    left with the batch it last ran.
    """
    images = _check_images(interpreter, images)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    batch = min(batch_size, len(images))
    if batch <= 1:
        return _predict_one_by_one(interpreter, images).astype(np.float32)
    scores = []
    try:
        _set_batch(interpreter, batch)
        for start in range(0, len(images), batch):
            chunk = images[start : start + batch]
            count = len(chunk)
            if count < batch:  # pad rather than reallocate for the last chunk
                padding = np.zeros((batch - count, *chunk.shape[1:]), dtype=np.float32)
                chunk = np.concatenate([chunk, padding])
            scores.append(_invoke(interpreter, chunk)[:count])
    except (RuntimeError, ValueError) as error:
        warnings.warn(
            f"batched inference failed ({error}); falling back on one invoke per image",
            RuntimeWarning,
            stacklevel=2,
        )
        return _predict_one_by_one(interpreter, images).astype(np.float32)
    return np.concatenate(scores).astype(np.float32)


def calibrate(p_fake, sidecar: dict) -> np.ndarray:
    """P(fake) calibrated as the sidecar's ``calibration`` says (Platt scaling, fitted on
    validation by notebook 05 and moved to the deployment prior: ``sigmoid(slope * logit(p) +
    intercept)``); unchanged when the sidecar has none. Decisions stay on the raw score: the
    sidecar's ``threshold`` and ``operating_points`` are thresholds of the raw P(fake)."""
    p_fake = np.asarray(p_fake, dtype=np.float64)
    calibration = sidecar.get("calibration")
    if not calibration:
        return p_fake
    if calibration.get("method") != "platt" or not {"slope", "intercept"} <= set(calibration):
        raise ValueError(f"the sidecar's calibration {calibration!r} is not a Platt scaling with slope and intercept")
    clipped = np.clip(p_fake, 1e-7, 1 - 1e-7)
    logit = np.log(clipped) - np.log1p(-clipped)
    return 1.0 / (1.0 + np.exp(-(float(calibration["slope"]) * logit + float(calibration["intercept"]))))
