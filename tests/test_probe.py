import cv2
import numpy as np
import pandas as pd
import pytest

from deepfake_iot.data import probe
from deepfake_iot.data.schema import MANIFEST_COLUMNS

SIZE = 24


def make_benchmark(folder, nuisance=None, n_groups=24, crops_per_group=4, seed=0, box=60.0):
    """Per class ``n_groups`` single-label groups (half train, a sixth val, the rest test).

    Every crop is noise around its group's base colour, so both classes share one distribution
    unless ``nuisance`` gives the fakes a saturated border, a brighter red or larger face boxes.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for label in (0, 1):
        for g in range(n_groups):
            split = "train" if g < n_groups // 2 else "val" if g < n_groups * 2 // 3 else "test"
            base = rng.uniform(90, 160, size=3)
            group = f"{'real' if label == 0 else 'fake'}{g}"
            for c in range(crops_per_group):
                image = np.clip(base + rng.normal(0, 20, size=(SIZE, SIZE, 3)), 20, 230)
                if label == 1 and nuisance == "saturated":
                    image[:3], image[-3:], image[:, :3], image[:, -3:] = 255, 255, 255, 255
                if label == 1 and nuisance == "brighter":
                    image[..., 0] = np.clip(image[..., 0] + 50, 0, 230)  # RGB order: red
                path = f"{group}/{c:02d}.png"
                (folder / group).mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(folder / path), cv2.cvtColor(image.astype(np.uint8), cv2.COLOR_RGB2BGR))
                width = rng.normal(box + (25 if label == 1 and nuisance == "box" else 0), 6)
                rows.append({
                    "path": path, "label": label, "method": "real" if label == 0 else "swap",
                    "video_id": group, "group": group, "frame_index": c,
                    "face_x": 10, "face_y": 10, "face_w": width, "face_h": rng.normal(box, 6),
                    "dataset": "t", "source_path": "", "split": split,
                })  # fmt: skip
    return pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))


def run_probe(folder, nuisance=None, **options):
    manifest = make_benchmark(folder, nuisance)
    stats = probe.crop_statistics(manifest, folder)
    return probe.shortcut_probe(stats, manifest, seed=3, n_boot=300, **options)


def test_statistics_of_a_known_crop(tmp_path):
    image = np.zeros((4, 5, 3), dtype=np.uint8)
    image[:] = (30, 20, 10)  # BGR, so R=10, G=20, B=30
    image[0, 0] = (0, 0, 255)  # red saturates high, blue and green low
    image[0, 1] = (3, 100, 100)  # blue saturates low
    cv2.imwrite(str(tmp_path / "a.png"), image)
    manifest = pd.DataFrame({"path": ["a.png", "a.png", "a.png"], "face_w": [40, np.nan, 30],
                             "face_h": [20, 10, 0]})
    stats = probe.crop_statistics(manifest, tmp_path)
    assert list(stats.columns) == list(probe.STATISTICS)
    first = stats.iloc[0]
    assert first["mean_r"] == pytest.approx((18 * 10 + 255 + 100) / 20)
    assert first["mean_b"] == pytest.approx((18 * 30 + 0 + 3) / 20)
    assert first["std_g"] == pytest.approx(np.std(image[..., 1].astype(float)))
    assert first["saturated_high"] == pytest.approx(1 / 20)
    assert first["saturated_low"] == pytest.approx(2 / 20)
    assert stats[["box_w", "box_h", "box_aspect", "box_area"]].to_numpy().tolist() == [
        [40, 20, 2, 800], [0, 10, 0, 0], [30, 0, 0, 0]]


def test_a_missing_crop_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="gone.png"):
        probe.crop_statistics(pd.DataFrame({"path": ["gone.png"]}), tmp_path)


def test_clean_benchmark_passes(tmp_path):
    result = run_probe(tmp_path)
    assert result["auc_low"] < 0.5 < result["auc_high"]
    assert not result["shortcut"] and result["unit"] == "group"
    assert result["n_statistics"] == len(probe.STATISTICS) and result["n_test_units"] == 16
    assert probe.check_no_shortcut(result) is None
    sentence = probe.probe_sentence(result)
    assert sentence.startswith("A logistic regression on 12 label-irrelevant crop statistics "
                               f"reaches a test AUC of {result['auc']:.3f} [")
    assert sentence.endswith("no shortcut separates real from fake.")
    table = probe.probe_table(result)
    assert list(table.columns) == ["statistic", "auc", "auc_low", "auc_high"]
    assert len(table) == 1 + len(probe.STATISTICS)
    assert table["statistic"][0] == "all 12 statistics (logistic regression)"
    assert (table["auc_low"] <= table["auc"]).all() and (table["auc"] <= table["auc_high"]).all()
    assert (table["auc"][1:] >= 0.5).all()  # one-feature AUCs are max(auc, 1 - auc)


@pytest.mark.parametrize(("nuisance", "statistic"), [
    ("saturated", "saturated_high"), ("brighter", "mean_r"), ("box", "box_w")])
def test_a_nuisance_is_caught_and_named(tmp_path, nuisance, statistic):
    result = run_probe(tmp_path, nuisance)
    assert result["shortcut"] and result["auc_low"] > 0.5
    assert result["statistics"][0]["statistic"] == statistic
    named = [row["statistic"] for row in result["statistics"] if row["separates"]]
    assert statistic in named
    with pytest.raises(probe.ShortcutError, match=statistic) as caught:
        probe.check_no_shortcut(result)
    assert isinstance(caught.value, ValueError) and "\n" not in str(caught.value)
    assert str(caught.value).split("separated by ")[1].startswith(statistic)
    assert "higher in fake" in str(caught.value)
    assert "a shortcut separates real from fake" in probe.probe_sentence(result)


def test_saturation_is_the_named_statistic_for_the_border(tmp_path):
    result = run_probe(tmp_path, "saturated")
    top = result["statistics"][0]
    assert top["statistic"] == "saturated_high" and top["auc"] == top["auc_low"] == 1.0
    tied = [row["statistic"] for row in result["statistics"] if row["auc_low"] == 1.0]
    assert len(tied) > 1  # the border brightens the means too; saturation still comes first
    assert "the fraction of saturated bright pixels (higher in fake" in probe.probe_sentence(result)



def test_groups_are_resampled_whole(tmp_path):
    """Crops of one group are alike: a crop bootstrap would see a shortcut that is group noise."""
    manifest = make_benchmark(tmp_path, n_groups=12, crops_per_group=12)
    manifest["crop"] = manifest["path"]
    stats = probe.crop_statistics(manifest, tmp_path)
    by_group = probe.shortcut_probe(stats, manifest, seed=1, n_boot=300)
    by_crop = probe.shortcut_probe(stats, manifest, seed=1, n_boot=300, unit="crop")
    assert by_group["n_test_units"] == 8 and by_crop["n_test_units"] == 96
    assert by_group["auc"] == by_crop["auc"]

    def width(row):
        return row["auc_high"] - row["auc_low"]

    assert by_crop["shortcut"] and not by_group["shortcut"]
    assert probe.check_no_shortcut(by_group) is None
    assert width(by_group) > 1.5 * width(by_crop)
    group_rows = {row["statistic"]: row for row in by_group["statistics"]}
    crop_rows = {row["statistic"]: row for row in by_crop["statistics"]}
    for column in ("mean_r", "mean_g", "mean_b"):  # set per group, so only 8 units vary them
        assert width(group_rows[column]) > 1.5 * width(crop_rows[column])


def test_boosted_model_and_video_fallback(tmp_path):
    manifest = make_benchmark(tmp_path, "box")
    manifest["group"] = ""
    stats = probe.crop_statistics(manifest, tmp_path)
    result = probe.shortcut_probe(stats, manifest, seed=0, n_boot=200, models=("logistic", "boosted"))
    assert result["unit"] == "video_id"
    assert [row["model"] for row in result["models"]] == ["logistic regression", "gradient-boosted trees"]
    assert probe.probe_table(result)["statistic"][1] == "all 12 statistics (gradient-boosted trees)"
    with pytest.raises(ValueError, match="unknown probe model"):
        probe.shortcut_probe(stats, manifest, seed=0, n_boot=10, models=("forest",))


def test_a_split_without_both_classes_is_refused(tmp_path):
    manifest = make_benchmark(tmp_path, n_groups=6, crops_per_group=2)
    stats = probe.crop_statistics(manifest, tmp_path)
    manifest.loc[(manifest["split"] == "test") & (manifest["label"] == 1), "split"] = "val"
    with pytest.raises(ValueError, match="test split needs real and fake"):
        probe.shortcut_probe(stats, manifest, seed=0, n_boot=10)
    with pytest.raises(ValueError, match="rows"):
        probe.shortcut_probe(stats.iloc[:3], manifest, seed=0, n_boot=10)


def test_the_probe_needs_no_tensorflow():
    from pathlib import Path

    source = Path(probe.__file__).read_text()
    assert "import tensorflow" not in source and "from tensorflow" not in source


def test_a_joint_shortcut_without_a_single_culprit_is_reported():
    def row(auc, low, high):
        return {"auc": auc, "auc_low": low, "auc_high": high, "separates": low > 0.5 or high < 0.5}

    linear, boosted = row(0.55, 0.45, 0.65), row(0.8, 0.7, 0.9)
    result = {**linear, "model": "logistic regression", "shortcut": True, "n_statistics": 2,
              "models": [{"model": "logistic regression", **linear},
                         {"model": "gradient-boosted trees", **boosted}],
              "statistics": [{"statistic": "box_w", "description": "face box width",
                              "direction": "higher in fake", **row(0.6, 0.45, 0.75)}]}
    with pytest.raises(probe.ShortcutError, match="gradient-boosted trees test AUC 0.800 .*strongest is box_w"):
        probe.check_no_shortcut(result)
    assert probe.probe_sentence(result) == (
        "A logistic regression on 2 label-irrelevant crop statistics reaches a test AUC of "
        "0.550 [0.450, 0.650] (with gradient-boosted trees: 0.800 [0.700, 0.900]): the statistics "
        "separate real from fake together, though none does alone.")


def test_a_resolved_but_tiny_separation_stops_only_beyond_the_margin():
    row = lambda auc, low, high: {"auc": auc, "auc_low": low, "auc_high": high}  # noqa: E731
    result = {"model": "logistic regression", "n_statistics": 1, **row(0.51, 0.505, 0.515), "separates": True,
              "shortcut": True, "models": [{"model": "logistic regression", **row(0.51, 0.505, 0.515), "separates": True}],
              "statistics": [{"statistic": "std_r", "description": "standard deviation of red", "direction": "higher in real",
                              **row(0.51, 0.505, 0.515), "separates": True}]}
    with pytest.raises(probe.ShortcutError, match="std_r"):
        probe.check_no_shortcut(result)  # no margin: any interval that excludes 0.5 stops
    assert probe.check_no_shortcut(result, margin=0.05) is None
    assert "by less than the 0.05 AUC at which a run stops" in probe.probe_sentence(result, margin=0.05)
    assert "a shortcut separates" in probe.probe_sentence(result)
