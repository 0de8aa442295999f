"""ONNX export of the verified TFLite files (notebook 04): one ``.onnx`` beside every variant.

tf2onnx converts each ``.tflite`` file itself (``tf2onnx.convert.from_tflite``), not the Keras
model: its Keras path is broken on Keras 3 and untested past TensorFlow 2.15, and converting the
file means the ONNX file is the very model the paper evaluated. An int8 file becomes a QDQ graph
(QuantizeLinear/DequantizeLinear around the integer operators) with the TFLite file's int8 input
and output; their scales and zero points go into the ONNX file's metadata, where
``onnx_backend`` reads them (ONNX has no such field on a graph input).

Each exported file is verified against its ``.tflite`` source on the validation crops, both run
through ``inference`` (LiteRT and ONNX Runtime's CPU provider): the largest and mean absolute
score difference, the share of equal decisions at the file's threshold, and the ONNX file's own
validation AUC are its row of ``results/onnx_export.csv`` and its sidecar's ``export`` entry. A
file beyond the tolerance is rejected: removed, and its row says it disagrees and by how much
(notebook 04 reports it; ``check_agreement`` raises for callers that must stop); a variant
tf2onnx cannot convert is a row with the converter's reason, never silently left out.

TensorFlow side: tf2onnx imports TensorFlow, so it is imported only inside ``convert``; the
device reads the ONNX files with ``onnx_backend`` alone.

    python -m deepfake_iot.onnx_export DIR/FILE.tflite [--out DIR/onnx/FILE.onnx] [--opset 13]

exports one file (its sidecar beside it) and verifies it on random images in [0, 1], for a
``.tflite`` file without its run (the committed demo model, ``scripts/make_demo_model.sh``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_iot import inference, metrics
from deepfake_iot.paths import atomic_write_bytes, atomic_write_json

TOOLS = ("tf2onnx", "onnx", "onnxruntime")
COLUMNS = ["model", "variant", "group", "status", "reason", "images", "max_abs_diff", "mean_abs_diff",
           "decision_agreement", "val_auc", "tflite_kb", "onnx_kb", "opset", "path"]  # fmt: skip
QUANTIZATION_KEYS = ("input_scale", "input_zero_point", "output_scale", "output_zero_point")


def tools_missing() -> str | None:
    """Why the export cannot run here (a tool that is not installed), or None."""
    missing = [name for name in TOOLS if importlib.util.find_spec(name) is None]
    if missing:
        return f"{', '.join(missing)} not installed (requirements.txt pins them)"
    return None


def tool_versions() -> dict:
    versions = {}
    for name in TOOLS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def convert(tflite_path: Path | str, opset: int, metadata: dict):
    """The ONNX model (a ``ModelProto``) of a ``.tflite`` file, checked by ``onnx.checker``,
    with ``metadata`` (strings) in its metadata properties. Raises whatever tf2onnx raises."""
    import onnx
    import tf2onnx

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():  # tf2onnx reads the file with the deprecated tf.lite.Interpreter
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
        proto, _ = tf2onnx.convert.from_tflite(str(tflite_path), opset=int(opset))
    lower_hard_swish(proto)
    onnx.helper.set_model_props(proto, {key: str(value) for key, value in metadata.items()})
    onnx.checker.check_model(proto)
    return proto


def lower_hard_swish(proto) -> int:
    """Rewrite every ``HardSwish`` node of an ONNX graph older than opset 14 (where ONNX added it)
    as ``Mul(x, HardSigmoid(x, alpha=1/6, beta=0.5))``, which is its definition, in place; returns
    how many were rewritten. tf2onnx handles TFLite's HARD_SWISH (MobileNetV3) only from opset 14
    and otherwise leaves a node that no opset-13 runtime (TensorRT 8.2 of JetPack 4) knows."""
    import onnx

    opset = next((entry.version for entry in proto.opset_import if entry.domain in ("", "ai.onnx")), 0)
    if opset >= 14:
        return 0
    nodes, rewritten = [], 0
    for node in proto.graph.node:
        if node.op_type != "HardSwish" or node.domain not in ("", "ai.onnx"):
            nodes.append(node)
            continue
        gate = f"{node.output[0]}__hard_sigmoid"
        nodes.append(onnx.helper.make_node("HardSigmoid", [node.input[0]], [gate], name=f"{node.name}/hard_sigmoid",
                                           alpha=1.0 / 6.0, beta=0.5))  # fmt: skip
        nodes.append(onnx.helper.make_node("Mul", [node.input[0], gate], list(node.output), name=f"{node.name}/mul"))
        rewritten += 1
    if rewritten:
        del proto.graph.node[:]
        proto.graph.node.extend(nodes)
    return rewritten


def compare(onnx_path: Path, tflite_path: Path, images, labels, threshold: float) -> dict:
    """Both files' scores on ``images`` (ONNX Runtime on the CPU provider): the largest and mean
    absolute difference, the share of equal decisions at ``threshold``, the ONNX file's AUC."""
    tflite_model, tflite_runtime = inference.load_model(tflite_path)
    onnx_model, _ = inference.load_model(onnx_path, providers=["cpu"])
    reference = inference.predict(tflite_model, images)
    scores = inference.predict(onnx_model, images)
    difference = np.abs(scores.astype(np.float64) - reference)
    measured = metrics.frame_metrics(np.asarray(labels).astype(int).reshape(-1), scores, threshold)
    return {"images": int(len(scores)), "max_abs_diff": float(difference.max()) if len(scores) else float("nan"),
            "mean_abs_diff": float(difference.mean()) if len(scores) else float("nan"),
            "decision_agreement": float(np.mean((scores >= threshold) == (reference >= threshold))),
            "val_auc": float(measured["roc_auc"]), "runtimes": f"{tflite_runtime} against onnxruntime (CPU)"}  # fmt: skip


def _sidecar(tflite_sidecar: dict, onnx_path: Path, content: bytes, source: str, check: dict, export: dict) -> dict:
    record = {**tflite_sidecar, "file": onnx_path.name, "format": "onnx", "file_size_bytes": len(content),
              "source_file": source, "validation_auc": check["val_auc"], "export": {**export, **check}}  # fmt: skip
    record["tool_versions"] = {**tflite_sidecar.get("tool_versions", {}), **tool_versions()}
    return record


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to the run's root (how files are named in its tables), else whole."""
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def export_file(tflite_path: Path, onnx_path: Path, images, labels, *, opset: int, out_root: Path) -> dict:
    """Convert one ``.tflite`` file to ``onnx_path`` with its sidecar, verify it on ``images``
    and return its row (``status`` ``ok``; ``not converted`` with the converter's reason)."""
    sidecar = json.loads(tflite_path.with_suffix(".json").read_text())
    source = _relative(tflite_path, out_root)
    row = {"model": tflite_path.parent.name, "variant": tflite_path.stem, "group": sidecar.get("group", "main"),
           "opset": int(opset), "tflite_kb": tflite_path.stat().st_size / 1024}  # fmt: skip
    digest = hashlib.sha256(tflite_path.read_bytes()).hexdigest()
    metadata = {key: sidecar[key] for key in QUANTIZATION_KEYS if key in sidecar}
    metadata.update(source_file=source, source_sha256=digest, variant=tflite_path.stem, threshold=sidecar["threshold"])
    try:
        content = convert(tflite_path, opset, metadata).SerializeToString()
    except Exception as error:  # noqa: BLE001 - tf2onnx raises many kinds; the reason is the row
        reason = " ".join(f"{type(error).__name__}: {error}".split())[:300]
        return {**row, "status": "not converted", "reason": reason}
    atomic_write_bytes(onnx_path, content)
    check = compare(onnx_path, tflite_path, images, labels, float(sidecar["threshold"]))
    export = {"converter": "tf2onnx.convert.from_tflite", "opset": int(opset), "source_sha256": digest,
              "verified_on": "validation crops"}
    atomic_write_json(onnx_path.with_suffix(".json"), _sidecar(sidecar, onnx_path, content, source, check, export))
    check.pop("runtimes")
    return {**row, "status": "ok", "reason": "", **check, "onnx_kb": len(content) / 1024,
            "path": _relative(onnx_path, out_root)}  # fmt: skip


def export_variants(quantization: pd.DataFrame, out_root: Path, onnx_dir: Path, images_by_size: dict,
                    *, opset: int, tolerance: float) -> pd.DataFrame:  # fmt: skip
    """One ``.onnx`` (with sidecar) per file of notebook 04's quantization table (its ``path``
    column, relative to ``out_root``), verified on ``images_by_size[input size]`` (images,
    labels). Returns one row per file (``COLUMNS``); ``status`` is ``ok``, ``not converted`` or
    ``disagrees`` (beyond ``tolerance``: its files are removed, ``check_agreement`` raises)."""
    from tqdm.auto import tqdm

    rows = []
    for relative in tqdm(list(quantization["path"]), desc="ONNX export"):
        tflite_path = Path(out_root) / relative
        onnx_path = Path(onnx_dir) / tflite_path.parent.name / f"{tflite_path.stem}.onnx"
        size = int(json.loads(tflite_path.with_suffix(".json").read_text())["input_size"])
        images, labels = images_by_size[size]
        row = export_file(tflite_path, onnx_path, images, labels, opset=opset, out_root=Path(out_root))
        if row["status"] == "ok" and not row["max_abs_diff"] <= tolerance:
            row.update(status="disagrees", reason=f"scores differ by up to {row['max_abs_diff']:.3g} > {tolerance:g}")
            for path in (onnx_path, onnx_path.with_suffix(".json")):
                path.unlink(missing_ok=True)
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


def check_agreement(table: pd.DataFrame, tolerance: float) -> None:
    """``ValueError`` naming every exported file whose scores left the tolerance."""
    bad = table[table["status"] == "disagrees"] if len(table) else table
    if len(bad):
        names = ", ".join(f"{row.model}/{row.variant} ({row.max_abs_diff:.3g})" for row in bad.itertuples())
        raise ValueError(f"{len(bad)} ONNX file(s) disagree with their .tflite source beyond {tolerance:g} "
                         f"on the validation crops: {names}; they were removed")  # fmt: skip


def _difference(value: float) -> str:
    """A score difference for the paper: ``0``, or two significant digits (``3.0e-08``)."""
    if value != value:
        return "--"
    return "0" if value == 0 else f"{value:.1e}"


def export_macros(table: pd.DataFrame, tolerance: float, opset: int) -> dict:
    """The export's numbers the paper quotes: files converted and not, the largest score
    difference over every converted file and over the int8 ones, the lowest decision agreement."""
    done = table[table["status"] == "ok"] if len(table) else table
    int8 = done[done["variant"].astype(str).str.startswith("int8")] if len(done) else done
    largest = float(done["max_abs_diff"].max()) if len(done) else float("nan")
    return {"NumOnnxFiles": int(len(done)), "NumOnnxFailed": int((table["status"] != "ok").sum()) if len(table) else 0,
            "OnnxMaxDiff": _difference(largest),
            **outside_clauses(table, int8),
            "OnnxMinAgreementPct": f"{100 * done['decision_agreement'].min():.1f}" if len(done) else "--",
            "OnnxTolerance": f"{tolerance:g}", "OnnxOpset": int(opset),
            "OnnxTools": ", ".join(f"{name} {version}" for name, version in tool_versions().items())}  # fmt: skip


def outside_clauses(table: pd.DataFrame, int8_within: pd.DataFrame) -> dict:
    """The paper's words for the integer files within the tolerance (``OnnxIntClause``, empty
    where none is) and for the files that converted but left it (``OnnxOutsideClause``, empty
    where none did): which, by how much, and how often they still take their sources' decisions."""
    within = f" (the integer files within {_difference(float(int8_within['max_abs_diff'].max()))})" if len(int8_within) else ""
    outside = table[table["status"] == "disagrees"] if len(table) else table
    if not len(outside):
        return {"OnnxIntClause": within, "OnnxOutsideClause": ""}
    from deepfake_iot.analysis import MODEL_NAMES

    variant = {"int8_ptq": "int8 PTQ", "int8_qat": "int8 QAT"}
    names = ", ".join(f"{MODEL_NAMES.get(row.model, row.model)} {variant.get(row.variant, row.variant)}"
                      for row in outside.itertuples())  # fmt: skip
    clause = (f": {names}, which converted but score up to {_difference(float(outside['max_abs_diff'].max()))} "
              f"away from their sources under ONNX Runtime and take their decisions on "
              f"{100 * float(outside['decision_agreement'].min()):.1f}% of the crops or more")
    return {"OnnxIntClause": within, "OnnxOutsideClause": clause}


def summary(table: pd.DataFrame, tolerance: float) -> str:
    """What the export did, in a few lines: files converted, the largest difference, failures."""
    done = table[table["status"] == "ok"]
    lines = [f"{len(done)} of {len(table)} file(s) exported to ONNX; largest score difference against the "
             f".tflite source {_difference(float(done['max_abs_diff'].max()) if len(done) else float('nan'))} "
             f"(tolerance {tolerance:g}), lowest decision agreement "
             f"{done['decision_agreement'].min():.1%}" if len(done) else f"none of {len(table)} file(s) exported"]  # fmt: skip
    lines += [f"  {row.model}/{row.variant}: {row.status}: {row.reason}" for row in table[table["status"] != "ok"].itertuples()]
    return "\n".join(lines)


def sync_sidecar(tflite_path: Path | str, entries: dict) -> Path | None:
    """Copy ``entries`` (notebook 05's calibration and operating points, fitted on the ``.tflite``
    file's validation scores) into the ONNX twin's sidecar, where one exists: the twin's scores
    were verified to match; returns the sidecar written, or None."""
    from deepfake_iot.runtimes import twin_of

    sidecar = twin_of(tflite_path).with_suffix(".json")
    if not sidecar.is_file():
        return None
    record = {**json.loads(sidecar.read_text()), **entries}
    return atomic_write_json(sidecar, record)


def _main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m deepfake_iot.onnx_export", description="Export one .tflite "
                                     "file (with its sidecar) to ONNX and verify it on random images.")  # fmt: skip
    parser.add_argument("tflite", type=Path)
    parser.add_argument("--out", type=Path, help="the .onnx file (default: onnx/<name>.onnx in the .tflite file's "
                        "folder; never beside it, where both would share one sidecar)")
    parser.add_argument("--opset", type=int, default=13)
    parser.add_argument("--tolerance", type=float, default=0.01, help="largest score difference accepted")
    parser.add_argument("--images", type=int, default=64, help="random images the two files are compared on")
    args = parser.parse_args(argv)
    size = int(json.loads(args.tflite.with_suffix(".json").read_text())["input_size"])
    rng = np.random.default_rng(0)
    images = rng.random((args.images, size, size, 3), dtype=np.float32)
    labels = np.arange(args.images) % 2  # the AUC of random images means nothing; the differences do
    out = args.out or args.tflite.parent / "onnx" / f"{args.tflite.stem}.onnx"
    if out.with_suffix(".json").resolve() == args.tflite.with_suffix(".json").resolve():
        parser.error(f"argument --out: {out} would share its sidecar with {args.tflite}; choose another folder")
    row = export_file(args.tflite.resolve(), out.resolve(), images, labels, opset=args.opset,
                      out_root=args.tflite.resolve().parent)  # fmt: skip
    if row["status"] != "ok":
        print(f"error: {args.tflite} was not converted: {row['reason']}", file=sys.stderr)
        return 1
    sidecar = out.with_suffix(".json")
    record = json.loads(sidecar.read_text())
    record["export"]["verified_on"] = f"{args.images} random images in [0, 1]"
    record.pop("validation_auc", None)  # the AUC of random images means nothing
    record["export"].pop("val_auc", None)
    atomic_write_json(sidecar, record)
    print(f"{out}: largest score difference {row['max_abs_diff']:.3g}, mean {row['mean_abs_diff']:.3g}, "
          f"{row['decision_agreement']:.1%} equal decisions on {args.images} random images")
    if not row["max_abs_diff"] <= args.tolerance:
        print(f"error: beyond the tolerance {args.tolerance:g}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main())
