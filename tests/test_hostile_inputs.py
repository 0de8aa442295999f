"""Hostile and broken versions of every input a user hands the project: dataset archives,
decompression-bomb images and videos, parameter files, saved Keras models and .tflite files."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from deepfake_iot.data import archive, intake
from deepfake_iot.data.intake import BadMediaError, open_video, read_image
from deepfake_iot.params import ParameterError, load_params

from .conftest import ROOT
from .test_intake import png_claiming, write_video

# --- archives ---------------------------------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as handle:
        for name, data in members.items():
            handle.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = 0o120777 << 16  # a symbolic link, as Info-ZIP stores it
            handle.writestr(info, target)
    return path


def _tar(path: Path, members: dict[str, bytes], links: dict[str, tuple[bytes, str]] | None = None):
    with tarfile.open(path, "w:gz") as handle:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            handle.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            handle.addfile(info)
    return path


GOOD = {"real/a.jpg": b"A" * 10, "fake/b.jpg": b"B" * 20}
ESCAPES = ["../outside.txt", "real/../../outside.txt", "/tmp/absolute-outside.txt",
           "..\\outside.txt", "C:/outside.txt"]  # fmt: skip


def _snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_good_zip_and_tar_unpack(tmp_path):
    for maker, name in ((_zip, "good.zip"), (_tar, "good.tar.gz")):
        target = tmp_path / f"out-{name}"
        written = archive.safe_extract(maker(tmp_path / name, GOOD), target)
        assert sorted(p.relative_to(target).as_posix() for p in written) == sorted(GOOD)
        assert (target / "fake" / "b.jpg").read_bytes() == b"B" * 20
        assert not [p for p in target.rglob(".*")], "no temporary file left"


@pytest.mark.parametrize("bad_name", ESCAPES)
@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_members_escaping_the_target_are_refused_before_anything_is_written(
    tmp_path, kind, bad_name
):
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    members = {**GOOD, bad_name: b"evil"}
    maker = _zip if kind == "zip" else _tar
    path = maker(tmp_path / f"evil.{kind}", members)
    before = _snapshot(tmp_path)
    with pytest.raises(archive.UnsafeArchiveError, match="absolute|climbs out"):
        archive.safe_extract(path, sandbox / "target")
    assert _snapshot(tmp_path) - before <= {"sandbox/target"}  # at most the empty target
    assert not (sandbox / "target").exists() or not any((sandbox / "target").iterdir())
    assert not Path("/tmp/absolute-outside.txt").exists()


def test_links_and_special_files_are_refused(tmp_path):
    cases = {
        "zip-symlink": _zip(tmp_path / "s.zip", GOOD, symlinks={"real/link": "/etc/passwd"}),
        "tar-symlink": _tar(tmp_path / "s.tgz", GOOD, {"real/link": (tarfile.SYMTYPE, "/etc")}),
        "tar-hardlink": _tar(
            tmp_path / "h.tgz", GOOD, {"real/hard": (tarfile.LNKTYPE, "/etc/passwd")}
        ),
        "tar-fifo": _tar(tmp_path / "f.tgz", GOOD, {"real/fifo": (tarfile.FIFOTYPE, "")}),
        "tar-device": _tar(tmp_path / "d.tgz", GOOD, {"real/dev": (tarfile.CHRTYPE, "")}),
    }
    for name, path in cases.items():
        target = tmp_path / f"out-{name}"
        with pytest.raises(archive.UnsafeArchiveError, match="link|special"):
            archive.safe_extract(path, target)
        assert not any(target.rglob("*")), name


def test_a_symlinked_folder_inside_the_target_cannot_redirect_writes(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    (target / "real").symlink_to(outside, target_is_directory=True)
    with pytest.raises(archive.UnsafeArchiveError, match="outside"):
        archive.safe_extract(_zip(tmp_path / "a.zip", GOOD), target)
    assert not any(outside.iterdir())


def test_size_limit_and_junk_archives(tmp_path):
    bomb = _zip(tmp_path / "bomb.zip", {"zeros.bin": b"\0" * 200_000})
    with pytest.raises(archive.UnsafeArchiveError, match="limit"):
        archive.safe_extract(bomb, tmp_path / "out", max_total_bytes=100_000)
    (tmp_path / "junk.zip").write_bytes(os.urandom(500))
    with pytest.raises(ValueError, match="neither a zip nor a tar"):
        archive.safe_extract(tmp_path / "junk.zip", tmp_path / "out2")
    cut = _zip(tmp_path / "g.zip", GOOD).read_bytes()
    (tmp_path / "cut.zip").write_bytes(cut[: len(cut) // 2])
    with pytest.raises(ValueError):
        archive.safe_extract(tmp_path / "cut.zip", tmp_path / "out3")
    with pytest.raises(FileNotFoundError):
        archive.safe_extract(tmp_path / "absent.zip", tmp_path / "out4")


def test_command_line_refuses_with_a_message(tmp_path):
    path = _zip(tmp_path / "evil.zip", {"../x": b"1"})
    result = subprocess.run(
        [sys.executable, "-m", "deepfake_iot.data.archive", str(path), str(tmp_path / "t")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "climbs out" in result.stderr
    assert not (tmp_path / "x").exists()


def test_download_helper_points_at_the_safe_unpacker():
    text = (ROOT / "scripts" / "download_datasets.sh").read_text()
    assert "deepfake_iot.data.archive" in text and "--unzip" not in text


# --- decompression bombs ------------------------------------------------------------------------


def _jpeg_claiming(width, height):
    data = bytearray(cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))[1].tobytes())
    at = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, at + 5, height, width)
    return bytes(data)


def _bmp_claiming(width, height):
    data = bytearray(cv2.imencode(".bmp", np.zeros((16, 16, 3), np.uint8))[1].tobytes())
    struct.pack_into("<ii", data, 18, width, height)
    return bytes(data)


def _gif_claiming(width, height):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("P", (16, 16)).save(buffer, format="GIF")
    data = bytearray(buffer.getvalue())
    struct.pack_into("<HH", data, 6, width, height)  # logical screen
    at = data.find(b",")  # image descriptor
    struct.pack_into("<HH", data, at + 5, width, height)
    return bytes(data)


BOMBS = {
    "bomb.png": png_claiming(100_000, 100_000),
    "bomb.jpg": _jpeg_claiming(65_000, 65_000),
    "bomb.bmp": _bmp_claiming(60_000, 60_000),
    "bomb.gif": _gif_claiming(65_535, 65_535),
    "wide.png": png_claiming(2**31 - 1, 1),
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_decompression_bombs_are_refused_before_decoding(tmp_path, monkeypatch, name):
    def no_decoding(*args, **kwargs):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(intake.cv2, "imdecode", no_decoding)
    (tmp_path / name).write_bytes(BOMBS[name])
    with pytest.raises(BadMediaError) as caught:
        read_image(tmp_path / name)
    assert caught.value.reason in {"too_large", "not_an_image"}, caught.value
    if name != "bomb.gif":  # PIL may read a broken GIF screen as not an image: also refused
        assert caught.value.reason == "too_large"


def test_video_frame_size_is_checked_before_decoding(tmp_path):
    video = write_video(tmp_path / "v.mp4", 3, size=64)
    with pytest.raises(BadMediaError) as caught:
        with open_video(video, max_pixels=1000):
            pass
    assert caught.value.reason == "too_large" and "64x64" in str(caught.value)
    with open_video(video) as reader:
        assert len(list(reader)) == 3


# --- parameter files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        "seed: !!python/object/apply:os.system ['touch {marker}']\n",
        "seed: !!python/object/new:subprocess.Popen [['touch', '{marker}']]\n",
        "seed: !!python/name:os.system\n",
        "!!python/object/apply:os.system ['touch {marker}']\n",
        "seed: &a [*a, *a]\n",  # a self-referencing alias
        "seed: [" * 5000 + "\n",  # deep nesting
        "\x00\xff binary junk",
        # "billion laughs": aliases the safe loader shares rather than copies
        "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nseed: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
    ],
)
def test_hostile_yaml_never_runs_code(tmp_path, payload):
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "default.yaml").write_text("seed: 1\n")
    marker = tmp_path / "pwned"
    profile = tmp_path / "evil.yaml"
    profile.write_bytes(payload.replace("{marker}", str(marker)).encode("utf-8", "surrogateescape"))
    with pytest.raises(ParameterError):
        load_params(str(profile), root=tmp_path)
    assert not marker.exists()


# --- saved Keras models -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras_bits():
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    pytest.importorskip("tensorflow")
    from deepfake_iot import train, trained

    return train.keras, train, trained


def _run_dir(folder: Path, model, train) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save(str(folder / train.MODEL_FILE))
    (folder / train.CARD_FILE).write_text(json.dumps({"architecture": "test"}))
    return folder


def test_load_trained_refuses_lambda_layers_unless_asked(keras_bits, tmp_path):
    keras, train, trained = keras_bits
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2.0)(inputs))
    folder = _run_dir(tmp_path / "lambda", model, train)
    with pytest.raises(trained.UnsafeModelError, match="Lambda.*allow_unsafe=True"):
        trained.load_trained(folder)
    loaded, card = trained.load_trained(folder, allow_unsafe=True)
    assert card["architecture"] == "test"
    assert np.allclose(loaded.predict(np.ones((1, 4)), verbose=0), 2.0)


def test_load_trained_refuses_custom_and_foreign_objects(keras_bits, tmp_path):
    keras, train, trained = keras_bits

    @keras.saving.register_keras_serializable(package="Outside")
    class Doubling(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    inputs = keras.Input((4,))
    folder = _run_dir(tmp_path / "custom", keras.Model(inputs, Doubling()(inputs)), train)
    with pytest.raises(trained.UnsafeModelError, match="custom object 'Outside>Doubling'"):
        trained.load_trained(folder)
    loaded, _ = trained.load_trained(folder, allow_unsafe=True, custom_objects={"Doubling": Doubling})
    assert np.allclose(loaded.predict(np.ones((1, 4)), verbose=0), 2.0)

    # A plain model whose config.json was edited to name a function of another module.
    plain = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    folder = _run_dir(tmp_path / "edited", plain, train)
    path = folder / train.MODEL_FILE
    with zipfile.ZipFile(path) as source:
        files = {name: source.read(name) for name in source.namelist()}
    config = json.loads(files["config.json"])
    config["config"]["layers"][1]["config"]["activation"] = {
        "module": "os", "class_name": "function", "config": "system", "registered_name": "system",
    }  # fmt: skip
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as target:
        for name, data in files.items():
            target.writestr(name, data)
    with pytest.raises(trained.UnsafeModelError, match="module 'os'"):
        trained.load_trained(folder)


def test_project_models_load_safely(keras_bits, tmp_path):
    keras, train, trained = keras_bits
    from deepfake_iot import models

    folder = _run_dir(tmp_path / "light", models.build_model("light_cnn", 32), train)
    model, _ = trained.load_trained(folder)
    assert model.output_shape == (None, 1)


def test_hdf5_disguised_as_keras_file_is_not_loaded_and_runs_no_code(keras_bits, tmp_path):
    keras, train, trained = keras_bits
    marker = tmp_path / "code-ran"
    inputs = keras.Input((4,))
    layer = keras.layers.Lambda(lambda x, m=str(marker): (open(m, "w").close(), x)[1])
    model = keras.Model(inputs, layer(inputs))
    folder = tmp_path / "h5"
    folder.mkdir()
    model.save(str(folder / "model.h5"))
    os.replace(folder / "model.h5", folder / train.MODEL_FILE)
    (folder / train.CARD_FILE).write_text("{}")
    marker.unlink(missing_ok=True)  # building the model above ran the lambda once
    with pytest.raises(trained.UnsafeModelError, match="not a native .keras"):
        trained.load_trained(folder)
    assert not marker.exists()


def test_truncated_keras_file_is_a_clear_error(keras_bits, tmp_path):
    keras, train, trained = keras_bits
    inputs = keras.Input((4,))
    folder = _run_dir(tmp_path / "cut", keras.Model(inputs, keras.layers.Dense(1)(inputs)), train)
    path = folder / train.MODEL_FILE
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(trained.UnsafeModelError, match=str(path.name)):
        trained.load_trained(folder)


# --- .tflite files ------------------------------------------------------------------------------------

TFLITE_MUTATIONS = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf, tf_keras as keras
    from deepfake_iot import inference
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    content = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    rng = np.random.default_rng(0)
    cases = [content[: len(content) * k // 20] for k in range(20)]
    cases += [rng.bytes(len(content)) for _ in range(10)]
    for _ in range(int(sys.argv[1])):
        data = bytearray(content)
        for _ in range(rng.integers(1, 6)):
            data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
        cases.append(bytes(data))
    counts = {"value_error": 0, "ran": 0}
    for data in cases:
        try:
            interpreter, _ = inference.load_model(data, runtime="tensorflow")
            inference.predict(interpreter, np.zeros((1, 16, 16, 3), np.float32))
            counts["ran"] += 1
        except ValueError:
            counts["value_error"] += 1
    print(json.dumps(counts))
    """
)


@pytest.mark.slow
def test_truncated_random_and_mutated_tflite_never_crash_the_process():
    """In a subprocess, so that a crash of the native interpreter fails this test, not pytest."""
    result = subprocess.run(
        [sys.executable, "-c", TFLITE_MUTATIONS, "60"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, (
        f"interpreter process died ({result.returncode}): {result.stderr[-2000:]}"
    )
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts["value_error"] + counts["ran"] == 90
    assert counts["value_error"] >= 30  # every truncation and random file among them
