"""Interrupted and failing runs: real processes killed with SIGKILL at several points, then
started again, must end with the same results as an uninterrupted run; two runs on one output
folder; an unwritable or full output folder.

Each kill runs library-level work on tiny data in a subprocess. A kill point is either a
moment found by watching the output (so many files written) or a pause the subprocess enters
at a chosen place (it writes a marker file, then sleeps until it is killed).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepfake_iot import paths, run_all, trained
from deepfake_iot.data.intake import read_image

from .conftest import ROOT

ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'lib'}:{ROOT}", "TF_CPP_MIN_LOG_LEVEL": "3"}

# Pause inside paths' os.replace at its N-th call (after the temporary file is complete, before
# the rename), or inside the write of a file (half its bytes on disk): killed there.
PAUSE = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from deepfake_iot import paths
    MARKER, MODE, AT = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    calls = {"n": 0}
    def pause():
        MARKER.write_text("paused")
        time.sleep(600)
    real_replace = os.replace
    class _Os:
        def __getattr__(self, name):
            return getattr(os, name)
        @staticmethod
        def replace(src, dst):
            calls["n"] += 1
            if MODE == "before_rename" and calls["n"] == AT:
                pause()
            real_replace(src, dst)
            if MODE == "after_rename" and str(dst).endswith(sys.argv[4]):
                pause()
    paths.os = _Os()
    """
)


def _kill_when(args, ready, timeout=240):
    """Start ``python -c args``; SIGKILL it as soon as ``ready()`` holds; fail if it ends first."""
    process = subprocess.Popen([sys.executable, "-c", *args], env=ENV, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if process.poll() is not None:
                output = process.stdout.read().decode(errors="replace")[-3000:]
                pytest.fail(
                    f"the run ended (rc {process.returncode}) before the kill point:\n{output}"
                )
            if time.monotonic() > deadline:
                pytest.fail("the kill point was never reached")
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _visible_files_are_whole_images(folder: Path) -> int:
    """No step may ever see a half-written crop: every non-temporary PNG decodes completely."""
    count = 0
    for path in folder.rglob("*.png"):
        if not paths.is_partial(path):
            read_image(path, min_side=8)  # raises BadMediaError('truncated') on half a file
            count += 1
    return count


# --- synthetic data generation ----------------------------------------------------------------

SYNTHETIC = dict(seed=3, n_identities=2, frames_per_video=3, frame_size=64, crop_size=32,
                 families=["face_swap", "reenactment", "gan_synthesis", "self_blended"],
                 strength=1.0, jpeg_quality=(70, 95), workers=1, progress=False)  # fmt: skip
GENERATE = textwrap.dedent(
    f"""
    import sys
    from deepfake_iot.data import synthetic
    synthetic.generate_synthetic_benchmark(sys.argv[-1], **{SYNTHETIC!r})
    """
)


@pytest.fixture(scope="module")
def synthetic_reference(tmp_path_factory):
    from deepfake_iot.data import synthetic

    out = tmp_path_factory.mktemp("synthetic_whole")
    return synthetic.generate_synthetic_benchmark(out, **SYNTHETIC), _files(out)


def _png_count(folder):
    return sum(1 for p in folder.rglob("*.png") if not paths.is_partial(p))


@pytest.mark.parametrize(
    "kill_point",
    ["after_7_crops", "after_16_crops", "before_rename_11", "before_rename_3"],
)
def test_synthetic_generation_killed_then_resumed_equals_whole_run(
    synthetic_reference, tmp_path, kill_point
):
    from deepfake_iot.data import synthetic

    expected_manifest, expected_files = synthetic_reference
    out = tmp_path / "crops"
    marker = tmp_path / "marker"
    if kill_point.startswith("after_"):
        wanted = int(kill_point.split("_")[1])
        _kill_when([GENERATE, str(out)], lambda: _png_count(out) >= wanted)
    else:
        at = kill_point.rsplit("_", 1)[1]
        script = PAUSE + GENERATE
        _kill_when([script, str(marker), "before_rename", at, "-", str(out)], marker.exists)
    assert 0 < _visible_files_are_whole_images(out) < 60
    resumed = synthetic.generate_synthetic_benchmark(out, **SYNTHETIC)
    pd.testing.assert_frame_equal(resumed, expected_manifest)
    assert _files(out) == expected_files  # same bytes, and no temporary file left over


# --- face-crop extraction of a real-data layout -----------------------------------------------

EXTRACT = textwrap.dedent(
    """
    import sys
    from deepfake_iot.data.extract import extract_face_crops
    from deepfake_iot.data.layouts import index_dataset
    items = index_dataset("generic", sys.argv[-2])
    extract_face_crops(items, sys.argv[-1], detector="none", crop_size=24, workers=1, progress=False)
    """
)


@pytest.fixture(scope="module")
def image_dataset(tmp_path_factory):
    import cv2

    root = tmp_path_factory.mktemp("dataset")
    rng = np.random.default_rng(0)
    for label in ("real", "fake"):
        (root / label).mkdir()
        for index in range(30):
            image = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)
            cv2.imwrite(str(root / label / f"{index:02d}.png"), image)
    (root / "real" / "broken.jpg").write_text("not an image")
    return root


def _extract(dataset, out):
    from deepfake_iot.data.extract import extract_face_crops
    from deepfake_iot.data.layouts import index_dataset

    items = index_dataset("generic", dataset)
    return extract_face_crops(items, out, detector="none", crop_size=24, workers=1, progress=False)


@pytest.mark.parametrize("kill_point", ["after_20_crops", "before_rename_9"])
def test_extraction_killed_then_resumed_equals_whole_run(image_dataset, tmp_path, kill_point):
    crops_whole, skipped_whole = _extract(image_dataset, tmp_path / "whole")
    out = tmp_path / "cut"
    marker = tmp_path / "marker"
    if kill_point.startswith("after_"):
        _kill_when([EXTRACT, str(image_dataset), str(out)], lambda: _png_count(out) >= 20)
    else:
        script = PAUSE + EXTRACT
        args = [script, str(marker), "before_rename", "9", "-", str(image_dataset), str(out)]
        _kill_when(args, marker.exists)
    _visible_files_are_whole_images(out)
    crops, skipped = _extract(image_dataset, out)
    pd.testing.assert_frame_equal(crops, crops_whole)
    pd.testing.assert_frame_equal(skipped, skipped_whole)
    assert _files(out) == _files(tmp_path / "whole")


# --- atomic writers under repeated kills (results of evaluation and benchmark) ---------------

WRITER = textwrap.dedent(
    """
    import sys
    from deepfake_iot import paths, timing
    out = sys.argv[1]
    big = [{"model": f"m{i}", "variant": "int8", "median_ms": i * 0.5} for i in range(40000)]
    version = 0
    while True:
        version += 1
        paths.atomic_write_json(f"{out}/evaluation.json", {"version": version, "rows": big})
        timing.save_results(big[:2000], {"board": "test board"}, f"{out}/device")
    """
)


def test_result_writers_killed_repeatedly_never_leave_half_a_file(tmp_path):
    from deepfake_iot import timing

    target = tmp_path / "evaluation.json"
    for round_ in range(4):  # kills land at different moments of the writing loop
        started = time.monotonic()

        def written_again(started=started, delay=0.15 * round_):
            return target.exists() and time.monotonic() - started > delay

        _kill_when([WRITER, str(tmp_path)], written_again)
        data = json.loads(target.read_text())  # never a half-written JSON
        assert data["version"] >= 1 and len(data["rows"]) == 40000
        runs = timing.load_device_results(tmp_path / "device")
        assert len(runs) % 2000 == 0  # whole runs only; none yet when the kill beat the first write


# --- training and conversion (TensorFlow) --------------------------------------------------------

TRAIN = textwrap.dedent(
    """
    import functools, os, sys, time
    from pathlib import Path
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tests.test_train as t
    from deepfake_iot import models, train
    out, mode, epochs, patience = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    marker = Path(out).parent / "marker"

    def pause():
        marker.write_text("paused")
        time.sleep(600)

    class PauseMidEpoch(models.keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if mode == "mid_epoch" and self.epoch == 1 and batch == 2:
                pause()
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

    if mode == "after_model_saved":
        real_replace = os.replace
        def replace(src, dst):
            real_replace(src, dst)
            if str(dst).endswith("model.keras"):
                pause()
        train.os.replace = replace
    train_ds, val_ds = t._datasets()
    fit = {**t.FIT, "patience": patience}
    train.train_model(t._build(), train_ds, val_ds, out, epochs=epochs, run_key={"k": 1},
                      callbacks=[PauseMidEpoch()], **fit)
    """
)

STABLE_CARD = ("best_epoch", "best_val_auc", "epochs_run", "epochs_max", "params_total", "run_key")


@pytest.mark.slow
@pytest.mark.parametrize(
    "kill_point,epochs,patience",
    [("mid_epoch", 3, 5), ("after_model_saved", 3, 5), ("after_model_saved", 8, 1)],
)
def test_training_killed_then_resumed_equals_whole_run(tmp_path, kill_point, epochs, patience):
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    pytest.importorskip("tensorflow")
    from deepfake_iot import train

    from . import test_train as t

    fit = {**t.FIT, "patience": patience}
    train_ds, val_ds = t._datasets()
    whole = train.train_model(
        t._build(), train_ds, val_ds, tmp_path / "whole", epochs=epochs, run_key={"k": 1}, **fit
    )
    if patience == 1:
        assert whole["epochs_run"] < epochs, "this case needs a run that early stopping ends"
    out = tmp_path / "cut"
    marker = tmp_path / "marker"
    _kill_when([TRAIN, str(out), kill_point, str(epochs), str(patience)], marker.exists)
    assert not (out / "card.json").exists()
    resumed = train.train_model(
        t._build(), train_ds, val_ds, out, epochs=epochs, run_key={"k": 1}, **fit
    )
    assert {k: resumed[k] for k in STABLE_CARD} == {k: whole[k] for k in STABLE_CARD}
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "history.csv"), pd.read_csv(tmp_path / "whole" / "history.csv")
    )
    model_cut, _ = trained.load_trained(out)
    model_whole, _ = trained.load_trained(tmp_path / "whole")
    for a, b in zip(model_cut.get_weights(), model_whole.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


CONVERT = textwrap.dedent(
    """
    import os, sys
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    from deepfake_iot import models, quantize
    models.keras.utils.set_random_seed(0)
    model = models.build_model("light_cnn", 32)
    out = sys.argv[-1]
    for variant in ("float32", "dynamic_range"):
        content = quantize.convert(model, variant, None)
        quantize.write_variant(content, f"{out}/{variant}.tflite", {"variant": variant, "threshold": 0.5})
    """
)


@pytest.mark.slow
def test_conversion_killed_between_model_and_sidecar_then_redone(tmp_path):
    from deepfake_iot import inference

    whole, cut, marker = tmp_path / "whole", tmp_path / "cut", tmp_path / "marker"
    subprocess.run([sys.executable, "-c", CONVERT, str(whole)], env=ENV, cwd=ROOT, check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    script = PAUSE + CONVERT
    _kill_when(
        [script, str(marker), "after_rename", "0", "float32.tflite", str(cut)], marker.exists
    )
    assert (cut / "float32.tflite").is_file() and not (cut / "float32.json").exists()
    inference.load_model(cut / "float32.tflite")  # what is there is whole
    subprocess.run([sys.executable, "-c", CONVERT, str(cut)], env=ENV, cwd=ROOT, check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    for name in ("float32.tflite", "dynamic_range.tflite"):
        assert (cut / name).read_bytes() == (whole / name).read_bytes(), name
    for name in ("float32.json", "dynamic_range.json"):
        assert json.loads((cut / name).read_text()) == json.loads((whole / name).read_text())
    assert not [p for p in cut.iterdir() if paths.is_partial(p)]


# --- two runs at once, unwritable and full output folders ---------------------------------------


def test_second_run_all_on_the_same_output_refuses(tmp_path):
    """A real second run_all.sh while the first holds the folder's lock."""
    holder = run_all.acquire_lock(tmp_path)
    try:
        result = subprocess.run(
            [str(ROOT / "run_all.sh"), "--use-current-env", "--profile", "smoke", "--only", "01",
             "--skip-paper", "--out", str(tmp_path)],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
            env={**ENV, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        )  # fmt: skip
    finally:
        holder.close()
    assert result.returncode != 0
    assert "another run is writing to" in result.stderr and str(tmp_path) in result.stderr
    assert not (tmp_path / "build" / "executed").exists(), "no notebook may have started"
    again = run_all.acquire_lock(tmp_path)  # released when the first run ends
    again.close()


def test_unwritable_output_folder_is_named_up_front(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(SystemExit, match=f"cannot write to the output folder {blocker / 'out'}"):
        run_all.check_output_root(blocker / "out")
    if os.geteuid() != 0:  # root writes through permissions
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(SystemExit, match=str(locked)):
            run_all.check_output_root(locked)


def test_full_disk_is_named_up_front_and_while_writing(tmp_path, monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(run_all.shutil, "disk_usage", lambda path: usage._replace(free=10 * 2**20))
    with pytest.raises(SystemExit, match=f"only 10 MiB free under {tmp_path}"):
        run_all.check_output_root(tmp_path)
    monkeypatch.undo()

    import errno

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    target = tmp_path / "results" / "metrics.json"
    paths.atomic_write_json(target, {"old": True})
    monkeypatch.setattr(paths.os, "fsync", no_space)
    with pytest.raises(OSError, match=f"cannot write {target}: No space left on device"):
        paths.atomic_write_json(target, {"new": True})
    assert json.loads(target.read_text()) == {"old": True}  # the earlier file is untouched
    assert [p.name for p in target.parent.iterdir()] == ["metrics.json"]
