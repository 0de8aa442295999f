"""The offline IoT degradation suite (numpy + OpenCV, no TensorFlow)."""

import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest

from deepfake_iot import degrade
from deepfake_iot.data.schema import MANIFEST_COLUMNS


def textured(height=96, width=96, seed=0):
    """A face-like uint8 BGR test image: a bright ellipse on stripes, with fine texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.zeros((height, width, 3), np.float32)
    for c in range(3):
        image[..., c] = 0.5 + 0.2 * np.sin(x / (3 + c) + y / 7) + 0.15 * np.cos(y / (2.5 + c))
    cv2.ellipse(
        image, ((width / 2, height / 2), (width * 0.6, height * 0.8), 0), (0.8, 0.6, 0.5), -1
    )
    image += rng.normal(0, 0.05, image.shape).astype(np.float32)
    image = cv2.GaussianBlur(image, (0, 0), 0.7)
    return np.floor(np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return np.inf if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_importing_the_suite_does_not_import_tensorflow():
    code = "import sys, deepfake_iot.degrade; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", degrade.NAMES)
def test_level_zero_is_an_exact_copy(name):
    for image in (textured(), textured().astype(np.float32) / 255, textured()[..., 0]):
        out = degrade.apply(image, name, 0, seed=1)
        assert out.dtype == image.dtype and np.array_equal(out, image)
        assert out is not image


@pytest.mark.parametrize("name", degrade.NAMES)
def test_shape_and_dtype_are_kept(name):
    rng = np.random.default_rng(0)
    for shape in [(1, 1), (1, 1, 1), (1, 1, 3), (96, 96), (96, 96, 1), (96, 96, 3), (300, 500, 3)]:
        base = rng.random(shape)
        for image in (np.uint8(base * 255), base.astype(np.float32)):
            for level in (1, 5):
                out = degrade.apply(image, name, level, seed=0)
                assert out.shape == image.shape and out.dtype == image.dtype, (shape, level)
                if image.dtype == np.float32:
                    assert 0 <= out.min() and out.max() <= 1


@pytest.mark.parametrize("name", degrade.NAMES)
def test_quality_falls_with_every_level(name):
    image = textured()
    scores = [psnr(image, degrade.apply(image, name, level, seed=7)) for level in degrade.LEVELS]
    assert scores[0] == np.inf
    assert all(a > b for a, b in zip(scores, scores[1:], strict=False)), scores


@pytest.mark.parametrize("name", degrade.NAMES)
def test_a_seed_repeats_the_output(name):
    image = textured()
    a = degrade.apply(image, name, 3, seed=11)
    assert np.array_equal(a, degrade.apply(image, name, 3, seed=11))
    if name in ("gaussian_noise", "poisson_noise", "motion_blur", "color_cast", "iot_camera"):
        assert not np.array_equal(a, degrade.apply(image, name, 3, seed=12))


def test_unknown_name_or_level_names_the_choices():
    image = textured()
    with pytest.raises(ValueError, match="unknown degradation 'fog'.*jpeg.*iot_camera"):
        degrade.apply(image, "fog", 1)
    for level in (-1, 6):
        with pytest.raises(ValueError, match=r"level .* out of range: valid levels are 0\.\.5"):
            degrade.apply(image, "jpeg", level)
    with pytest.raises(ValueError, match="must be an int"):
        degrade.apply(image, "jpeg", 1.5)
    with pytest.raises(ValueError, match="uint8 or float32"):
        degrade.apply(image.astype(np.float64), "jpeg", 1)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        degrade.apply(np.zeros((4, 4, 2), np.uint8), "jpeg", 1)


def test_severity_table_covers_every_degradation_and_level():
    table = degrade.severity_table()
    assert set(table["degradation"]) == set(degrade.NAMES)
    assert [c for c in table.columns if c.startswith("level")] == [
        f"level {i}" for i in range(1, 6)
    ]
    assert table["unit"].str.len().min() > 0
    for params in degrade.SEVERITY.values():
        for values in params.values():
            assert len(values) == degrade.MAX_LEVEL


def test_kernels_sum_to_one_and_have_the_documented_size():
    assert degrade.gaussian_kernel(1.5).shape == (11,)
    assert degrade.gaussian_kernel(1.5).sum() == pytest.approx(1, abs=1e-6)
    kernel = degrade.motion_kernel(7, 0)
    assert kernel.sum() == pytest.approx(1, abs=1e-6)
    assert np.count_nonzero(kernel.sum(axis=1)) == 1  # horizontal: a single row
    assert np.count_nonzero(degrade.motion_kernel(7, 90).sum(axis=0)) == 1


def tiny_manifest(folder, n_test=6, bad=False):
    rows = []
    for index in range(n_test + 2):
        rel = f"crops/v{index}/{index}.png"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / rel), textured(24, 24, seed=index))
        split = "test" if index < n_test else "train"
        rows.append(
            {
                "path": rel,
                "label": index % 2,
                "method": "real" if index % 2 == 0 else "swap",
                "video_id": f"v{index}",
                "group": f"g{index}",
                "frame_index": 0,
                "face_x": 0,
                "face_y": 0,
                "face_w": 24,
                "face_h": 24,
                "dataset": "t",
                "source_path": "",
                "split": split,
            }
        )
    if bad:
        (folder / rows[0]["path"]).write_bytes(b"not a png")
    return pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))


def test_degrade_split_writes_each_file_once_and_resumes(tmp_path):
    manifest = tiny_manifest(tmp_path)
    out_dir = tmp_path / "degraded"
    names, levels = ["jpeg", "gaussian_noise"], [0, 2, 5]
    result = degrade.degrade_split(
        manifest, tmp_path, out_dir, names, levels, seed=3, workers=2, progress=False
    )
    assert list(result.columns[:2]) == ["degradation", "level"]
    assert set(MANIFEST_COLUMNS) <= set(result.columns)
    assert len(result) == 6 * len(names) * len(levels)
    assert set(result["split"]) == {"test"} and result.attrs["failed"] == 0
    level0 = result[result["level"] == 0]
    assert set(level0["path"]) == set(manifest.loc[manifest["split"] == "test", "path"])
    written = sorted(out_dir.rglob("*.png"))
    assert len(written) == 6 * len(names) * 2
    row = result[(result["degradation"] == "jpeg") & (result["level"] == 5)].iloc[0]
    assert row["path"].startswith("degraded/jpeg/5/crops/")
    source = manifest[manifest["video_id"] == row["video_id"]].iloc[0]["path"]
    expected = degrade.apply(
        cv2.imread(str(tmp_path / source), cv2.IMREAD_UNCHANGED),
        "jpeg",
        5,
        degrade.file_seed(3, "jpeg", 5, source),
    )
    assert np.array_equal(cv2.imread(str(tmp_path / row["path"]), cv2.IMREAD_UNCHANGED), expected)

    stamps = {path: path.stat().st_mtime_ns for path in written}
    written[0].unlink()
    again = degrade.degrade_split(
        manifest, tmp_path, out_dir, names, levels, seed=3, workers=1, progress=False
    )
    assert again.equals(result)
    assert written[0].is_file()
    assert all(path.stat().st_mtime_ns == stamps[path] for path in written[1:])
    assert not list(out_dir.rglob("*.part*"))


def test_degrade_split_skips_and_counts_a_bad_file(tmp_path):
    manifest = tiny_manifest(tmp_path, bad=True)
    with pytest.warns(UserWarning, match="1 file"):
        result = degrade.degrade_split(
            manifest, tmp_path, tmp_path / "out", ["low_light"], [1], workers=1, progress=False
        )
    assert result.attrs["failed"] == 1 and len(result) == 5


def test_degrade_split_checks_its_arguments(tmp_path):
    manifest = tiny_manifest(tmp_path)
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade.degrade_split(manifest, tmp_path, tmp_path / "o", ["fog"], [1], progress=False)
    with pytest.raises(ValueError, match="out of range"):
        degrade.degrade_split(manifest, tmp_path, tmp_path / "o", ["jpeg"], [9], progress=False)
    with pytest.raises(ValueError, match="no 'val' rows"):
        degrade.degrade_split(
            manifest, tmp_path, tmp_path / "o", ["jpeg"], [1], progress=False, split="val"
        )


def test_robustness_subset_draws_whole_test_groups_reproducibly():
    import pandas as pd

    rows = [{"path": f"{g}_{k}.png", "label": k % 2, "group": f"g{g}", "split": "test" if g < 8 else "train"}
            for g in range(10) for k in range(4)]
    manifest = pd.DataFrame(rows)
    subset = degrade.robustness_subset(manifest, 3, seed=5)
    assert subset["group"].nunique() == 3 and set(subset["split"]) == {"test"}
    assert subset.groupby("group").size().eq(4).all()  # whole groups, never part of one
    assert subset.equals(degrade.robustness_subset(manifest, 3, seed=5))
    assert len(degrade.robustness_subset(manifest, 0, seed=5)) == 32  # 0: every test group
    assert len(degrade.robustness_subset(manifest, 50, seed=5)) == 32
    with pytest.raises(ValueError, match="robustness_groups"):
        degrade.robustness_subset(manifest, -1, seed=5)
