"""The embedded synthetic benchmark: determinism, resume, manifest, and that each family leaves
the trace it claims to leave."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepfake_iot.data import synthetic
from deepfake_iot.data.schema import MANIFEST_COLUMNS

TINY = dict(
    seed=7,
    n_identities=4,
    frames_per_video=2,
    frame_size=64,
    crop_size=32,
    families=list(synthetic.FAMILIES),
    strength=1.0,
    jpeg_quality=(70, 95),
    progress=False,
)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.png"))}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic_a")
    return out, synthetic.generate_synthetic_benchmark(out, workers=1, **TINY)


def test_manifest_columns_labels_groups(tiny_run):
    out, df = tiny_run
    assert list(df.columns) == list(MANIFEST_COLUMNS)
    assert len(df) == 4 * (1 + 4) * 2
    assert set(df.method) == {"real", *synthetic.FAMILIES}
    assert (df.label == (df.method != "real").astype(int)).all()
    assert (df.method.value_counts() == 8).all()
    assert set(df.dataset) == {"synthetic"} and set(df.source_path) == {""}
    assert set(df.split) == {""}
    assert df.video_id.str.fullmatch(r"syn_[a-z_]+_\d{4}").all()
    assert df.sort_values(["video_id", "frame_index"]).index.tolist() == df.index.tolist()
    for _, row in df.iterrows():
        identity = int(row.video_id[-4:])
        assert row.group == f"pair{identity // 2:04d}"
        assert row.path == f"{row.method}/{row.video_id}/{row.frame_index:03d}.png"
        assert (out / row.path).is_file()
        assert row.face_w > 0 and row.face_h > 0
    # pairs (0, 1) and (2, 3) share a group; reals and fakes of an identity too
    assert df.groupby("group").video_id.nunique().to_dict() == {"pair0000": 10, "pair0001": 10}


def test_crops_have_requested_size(tiny_run):
    import cv2

    out, df = tiny_run
    image = cv2.imread(str(out / df.path.iloc[0]))
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8


def test_deterministic_across_runs_and_workers(tiny_run, tmp_path):
    out_a, df_a = tiny_run
    df_b = synthetic.generate_synthetic_benchmark(tmp_path / "b", workers=2, **TINY)
    pd.testing.assert_frame_equal(df_a, df_b)
    assert _files(out_a) == _files(tmp_path / "b")


def test_different_seed_differs(tiny_run, tmp_path):
    out_a, _ = tiny_run
    synthetic.generate_synthetic_benchmark(tmp_path / "c", workers=1, **{**TINY, "seed": 8})
    assert _files(out_a) != _files(tmp_path / "c")


def test_resume_regenerates_only_missing_video(tiny_run, tmp_path, monkeypatch):
    out_a, df_a = tiny_run
    copy = tmp_path / "resume"
    shutil.copytree(out_a, copy)
    target = copy / "reenactment" / "syn_reenactment_0002"
    (target / "rows.json").unlink()
    (target / "001.png").unlink()
    rendered = []
    original = synthetic._video_task

    def counting(task):
        rendered.append((task["method"], task["identity"]))
        return original(task)

    monkeypatch.setattr(synthetic, "_video_task", counting)
    df = synthetic.generate_synthetic_benchmark(copy, workers=1, **TINY)
    assert rendered == [("reenactment", 2)]
    pd.testing.assert_frame_equal(df, df_a)
    assert _files(copy) == _files(out_a)
    # changed settings invalidate finished videos instead of silently reusing them
    rendered.clear()
    synthetic.generate_synthetic_benchmark(copy, workers=1, **{**TINY, "frames_per_video": 1})
    assert len(rendered) == 4 * 5


@pytest.mark.parametrize(
    "override",
    [
        {"families": ["face_swap", "deepfakes"]},
        {"families": []},
        {"strength": {"nope": 1.0}},
        {"strength": -1.0},
        {"n_identities": 3},
        {"jpeg_quality": (95, 70)},
        {"frame_size": 16},
    ],
)
def test_bad_arguments_raise(tmp_path, override):
    with pytest.raises(ValueError) as info:
        synthetic.generate_synthetic_benchmark(tmp_path, workers=1, **{**TINY, **override})
    if "families" in override and override["families"]:
        assert "deepfakes" in str(info.value) and "face_swap" in str(info.value)


def test_dataset_card_and_defaults_cover_families():
    for family in synthetic.FAMILIES:
        assert synthetic.DATASET_CARD[family]
        assert synthetic.DEFAULT_STRENGTH[family] > 0
    assert synthetic.resolve_strength(2.0, ["face_swap"]) == {
        "face_swap": 2 * synthetic.DEFAULT_STRENGTH["face_swap"]
    }
    assert synthetic.resolve_strength({"gan_synthesis": 0.3}, ["gan_synthesis"]) == {
        "gan_synthesis": 0.3
    }


def _frame(method, strength, size=96, seed=3, identity=0):
    frame, landmarks, box = synthetic.render_video_frames(
        seed, identity, method, 1, size, strength
    )[0]
    return frame, landmarks


@pytest.mark.parametrize("family", synthetic.FAMILIES)
def test_each_family_changes_frame_and_grows_with_strength(family):
    real, _ = _frame("real", 0.0)
    diffs = [float(np.abs(_frame(family, s)[0] - real).mean()) for s in (0.25, 1.5)]
    assert diffs[0] > 0
    assert diffs[1] > diffs[0]


def _checkerboard_energy(frame):
    gray = frame.mean(axis=2)
    spectrum = np.abs(np.fft.fft2(gray - gray.mean()))
    n = gray.shape[0] // 2
    return float(spectrum[n, n] + spectrum[0, n] + spectrum[n, 0]) / float(spectrum.mean())


def test_gan_synthesis_adds_periodic_spectral_peak():
    real, _ = _frame("real", 0.0)
    fake, _ = _frame("gan_synthesis", 1.0)
    assert _checkerboard_energy(fake) > 5 * _checkerboard_energy(real)


def _high_frequency(frame, landmarks):
    import cv2

    x0, y0 = np.floor(landmarks[48:68].min(0)).astype(int) - 2
    x1, y1 = np.ceil(landmarks[48:68].max(0)).astype(int) + 2
    patch = frame[y0:y1, x0:x1].mean(axis=2)
    return float(np.abs(cv2.Laplacian(patch, cv2.CV_32F)).mean())


def test_reenactment_lowers_mouth_high_frequency_energy():
    for identity in range(3):
        real, landmarks = _frame("real", 0.0, identity=identity)
        fake, _ = _frame("reenactment", 1.0, identity=identity)
        assert _high_frequency(fake, landmarks) < 0.8 * _high_frequency(real, landmarks)


def test_face_swap_uses_partner_face():
    real, landmarks = _frame("real", 0.0)
    fake, _ = _frame("face_swap", 1.0)
    x0, y0 = landmarks[36:48].min(0).astype(int)
    x1, y1 = landmarks[36:48].max(0).astype(int) + 1
    assert np.abs(fake[y0:y1, x0:x1] - real[y0:y1, x0:x1]).mean() > 5  # eyes are the donor's
    assert np.array_equal(fake[:3, :3], real[:3, :3])  # background untouched


def test_identities_name_the_donor_of_a_face_swap_only(tiny_run):
    from deepfake_iot.data import splits

    _, df = tiny_run
    cells = df.groupby("video_id")["identities"].first()
    assert cells["syn_face_swap_0002"] == "synthetic_0002;synthetic_0003"
    assert cells["syn_real_0002"] == cells["syn_reenactment_0002"] == "synthetic_0002"
    assert cells["syn_self_blended_0001"] == "synthetic_0001"
    components = splits.identity_groups(df).groupby("video_id")["group"].first()
    assert components.equals(df.groupby("video_id")["group"].first())  # still the pairs


@pytest.mark.parametrize("family", ["face_swap", "reenactment", "gan_synthesis"])
def test_shifted_style_makes_the_same_fake_another_way(family):
    """The cross set's shift: the same video, pose and draws, manipulated with other masks,
    colour transfer and kernels. The fake differs from the main style's where the face was
    manipulated, and the real frame it starts from is the same."""
    def render(method, style):
        return synthetic.render_video_frames(3, 0, method, 1, 96, 1.0, style)[0][0]

    assert np.array_equal(render("real", "main"), render("real", "shifted"))
    main, shifted, real = render(family, "main"), render(family, "shifted"), render("real", "main")
    assert np.abs(shifted - real).mean() > 0.1          # still a manipulated frame
    assert np.abs(shifted - main).mean() > 0.05         # made another way
    with pytest.raises(ValueError, match="style"):
        synthetic.render_video_frames(3, 0, family, 1, 96, 1.0, "other")
