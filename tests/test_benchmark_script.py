"""scripts/benchmark.py on result files made here: the table's numbers, and --measure."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from .conftest import ROOT

SCRIPT = ROOT / "scripts" / "benchmark.py"
MODELS = {  # int8 ms, float32 ms, int8 bytes
    "light_cnn": (0.1, 0.2, 100 * 1024),
    "mobilenet_v3_small": (0.5, 0.75, 1000 * 1024),
    "light_cnn_w0.5": (0.05, 0.06, 40 * 1024),
}


def _fake_results(out):
    rows = []
    for model, (int8_ms, float_ms, size) in MODELS.items():
        for variant, ms, nbytes in (("int8_ptq", int8_ms, size), ("float32", float_ms, 4 * size)):
            for threads, factor in ((1, 1.0), (2, 0.6)):
                rows.append(
                    {
                        "model": model,
                        "variant": variant,
                        "threads": threads,
                        "median_ms": ms * factor,
                        "size_bytes": nbytes,
                    }
                )
    rows.append(
        {
            "model": "light_cnn",
            "variant": "int8_ptq",
            "threads": 1,
            "median_ms": 9.0,
            "kind": "end_to_end",
        }
    )
    bench_dir = out / "results" / "bench" / "host-x86_64"
    bench_dir.mkdir(parents=True)
    older = [{**row, "median_ms": 99.0} for row in rows]
    (bench_dir / "20200101T000000Z.json").write_text(
        json.dumps({"device": {}, "time": "2020-01-01T00:00:00+00:00", "rows": older})
    )
    (bench_dir / "20260101T000000Z.json").write_text(
        json.dumps({"device": {}, "time": "2026-01-01T00:00:00+00:00", "rows": rows})
    )
    pd.DataFrame(
        [
            {"model": m, "variant": "int8_ptq", "auc": a, "auc_low": a - 0.05, "auc_high": a + 0.03}
            for m, a in (("light_cnn", 0.9), ("mobilenet_v3_small", 0.8))
        ]
    ).to_csv(out / "results" / "test_metrics.csv", index=False)
    pd.DataFrame(
        [
            {"model": m, "variant": v, "group": "sweep" if "w0.5" in m else "main", "val_auc": 0.7}
            for m in MODELS
            for v in ("int8_ptq", "float32")
        ]
    ).to_csv(out / "results" / "quantization.csv", index=False)
    (out / "build").mkdir()
    (out / "build" / "run_status.json").write_text(
        json.dumps(
            {
                "03_training": {
                    "status": "ok",
                    "profile": "default",
                    "seconds": 739.0,
                    "page": None,
                    "finished": "2026-01-01 10:00:00",
                },
                "04_quantization": {
                    "status": "ok",
                    "profile": "default",
                    "seconds": 250.5,
                    "page": None,
                    "finished": "2026-01-01 10:05:00",
                },
            }
        )
    )


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def test_table_from_saved_results(tmp_path):
    _fake_results(tmp_path)
    result = _run("--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "light_cnn_w0.5" in text and "sweep" in text
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import benchmark
    finally:
        sys.path.remove(str(SCRIPT.parent))
    table = benchmark.summary(tmp_path, benchmark.newest_bench_run(tmp_path / "results")).set_index(
        "model"
    )
    light = table.loc["light_cnn"]
    assert light["int8_ms"] == pytest.approx(0.1)  # the newest run, one thread, bare invokes
    assert light["int8_speedup"] == pytest.approx(2.0)
    assert light["x_mobilenet_v3_small"] == pytest.approx(0.2)
    assert light["int8_kb"] == pytest.approx(100)
    assert (light["test_auc"], light["test_auc_low"], light["test_auc_high"]) == pytest.approx(
        (0.9, 0.85, 0.93)
    )
    assert np.isnan(table.loc["light_cnn_w0.5", "test_auc"])
    assert table.loc["light_cnn_w0.5", "group"] == "sweep"
    assert "04_quantization" in text and "250.5" in text and "total 989.5 s" in text


def test_missing_results_are_named(tmp_path):
    result = _run("--out", str(tmp_path))
    assert result.returncode == 1 and "results/bench" in result.stderr
    result = _run("--out", str(tmp_path), "--measure")
    assert result.returncode == 1 and "tflite" in result.stderr


def test_measure_times_the_files_now(tmp_path):
    pytest.importorskip("tensorflow")
    import os

    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tf_keras as keras

    from deepfake_iot import quantize

    inputs = keras.Input((16, 16, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(pooled))
    samples = [
        [np.random.default_rng(i).random((1, 16, 16, 3), dtype=np.float32)] for i in range(4)
    ]
    for name in ("light_cnn", "mobilenet_v3_small"):
        for variant, content in quantize.convert_variants(
            model, ["float32", "int8_ptq"], samples
        ).items():
            quantize.write_variant(
                content,
                tmp_path / "models" / "tflite" / name / f"{variant}.tflite",
                {"variant": variant, "threshold": 0.5, "validation_auc": 0.6},
            )
    result = _run("--out", str(tmp_path), "--measure", "--runs", "3", "--warmup", "1")
    assert result.returncode == 0, result.stderr
    assert "mobilenet_v3_small" in result.stdout and "no stage times" in result.stdout
