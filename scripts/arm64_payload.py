"""The part of ``scripts/check_arm64.sh`` that runs inside the arm64 userland, under emulation.

``invoke FILE...``: load each ``.tflite`` file with ai-edge-litert (the device's runtime), allocate,
fill its inputs with numbers of the right type, invoke, and check that every output is finite. One
JSON line per file (with the "CPU part" the process saw in /proc/cpuinfo), printed and flushed before the next file starts, so that when the runtime
kills the process (a segfault or an illegal instruction, which no ``try`` can catch) the caller
knows which file was last reached.

``invoke-onnx FILE...``: the same for ``.onnx`` files with onnxruntime's CPU provider (the
runtime of ``requirements-device-onnx.txt``).

``clip OUT.mp4 [FRAMES]``: a short video of a real portrait (the photograph matplotlib ships) on a
grey 640x480 background, for the demo.

Only numpy, OpenCV (``clip``) and the runtime are imported: it also runs in the bare environments
that hold one ai-edge-litert release and numpy.
"""

import json
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np


def fill(detail: dict, rng: np.random.Generator) -> np.ndarray:
    """Random input for one input tensor: its shape and dtype, in a range its type can hold."""
    shape, dtype = tuple(int(n) for n in detail["shape"]), np.dtype(detail["dtype"])
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, int(info.max) + 1, size=shape, dtype=dtype)
    return rng.random(shape).astype(dtype)


def cpu_part() -> str:
    """The "CPU part" /proc/cpuinfo names (0xd08 for a Cortex-A72), or "" where it names none."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    parts = [
        line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("CPU part")
    ]
    return parts[0] if parts else ""


def _check_each(paths: list[str], runtime: str, outputs_of) -> int:
    """``outputs_of(path, rng)`` for every file, one JSON line at its start and one at its end
    (ok with the output shapes, or the error); a missing or non-finite output is an error.
    Returns 1 when any file failed, else 0."""
    failures = 0
    rng = np.random.default_rng(0)
    part = cpu_part()
    for path in paths:
        row = {"file": Path(path).name, "runtime": runtime, "cpu_part": part}
        print(json.dumps({**row, "stage": "start"}), flush=True)
        started = time.perf_counter()
        try:
            outputs = outputs_of(path, rng)
            if not outputs or not all(np.all(np.isfinite(o.astype(np.float64))) for o in outputs):
                raise ValueError("an output is missing or not finite")
            row.update(ok=True, outputs=[list(o.shape) for o in outputs])
        except Exception as error:  # noqa: BLE001 - every failure is reported, then the next file
            row.update(ok=False, error=f"{type(error).__name__}: {error}")
            failures += 1
        row["seconds"] = round(time.perf_counter() - started, 2)
        print(json.dumps({**row, "stage": "done"}), flush=True)
    return 1 if failures else 0


def invoke(paths: list[str]) -> int:
    from ai_edge_litert.interpreter import Interpreter

    def outputs_of(path, rng):
        interpreter = Interpreter(model_path=path, num_threads=1)
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], fill(detail, rng))
        interpreter.invoke()
        return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]

    return _check_each(paths, f"ai-edge-litert {metadata.version('ai-edge-litert')}", outputs_of)


ONNX_TYPES = {"tensor(float)": np.float32, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8}


def invoke_onnx(paths: list[str]) -> int:
    import onnxruntime

    def outputs_of(path, rng):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        feed = {}
        for arg in session.get_inputs():
            shape = [dim if isinstance(dim, int) else 1 for dim in arg.shape]
            feed[arg.name] = fill({"shape": shape, "dtype": ONNX_TYPES[arg.type]}, rng)
        return session.run(None, feed)

    return _check_each(paths, f"onnxruntime {onnxruntime.__version__}", outputs_of)


def clip(out: str, frames: int = 6) -> int:
    import cv2
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    face = cv2.imread(str(source), cv2.IMREAD_COLOR)
    if face is None:
        raise SystemExit(f"cannot read the portrait {source}")
    width, height = 640, 480
    frame = np.full((height, width, 3), 60, np.uint8)
    face = cv2.resize(face, (300, 352), interpolation=cv2.INTER_AREA)
    top, left = (height - 352) // 2, (width - 300) // 2
    frame[top : top + 352, left : left + 300] = face
    writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*"mp4v"), 15, (width, height))
    for _ in range(frames):
        writer.write(frame)
    writer.release()
    if not Path(out).is_file() or Path(out).stat().st_size == 0:
        raise SystemExit(f"OpenCV wrote no video to {out}")
    print(f"{out}: {frames} frames of {source.name}")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "invoke":
        return invoke(argv[1:])
    if len(argv) >= 2 and argv[0] == "invoke-onnx":
        return invoke_onnx(argv[1:])
    if len(argv) in (2, 3) and argv[0] == "clip":
        return clip(argv[1], *(int(n) for n in argv[2:]))
    raise SystemExit("usage: arm64_payload.py invoke FILE.tflite... | invoke-onnx FILE.onnx... | clip OUT.mp4 [FRAMES]")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
