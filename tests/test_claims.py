"""The paper's claims: verdicts from hand-made numbers, limits from the parameter file (deepfake_iot.claims)."""

import math

import pandas as pd
import pytest

from deepfake_iot.claims import (
    DEVICE,
    QUANTIZATION,
    Limits,
    performance_targets,
    target_macros,
    tracking_targets,
)
from deepfake_iot.params import load_params

LIMITS = Limits.from_params(load_params("default"))


def latency(**ms):
    rows = [{"model": m, "variant": "int8_ptq", "median_ms": v} for m, v in ms.items()]
    return pd.DataFrame(rows + [{"model": "light_cnn", "variant": "float32", "median_ms": 0.3}])


def metrics(**aucs):
    return pd.DataFrame([{"model": m, "variant": "int8_ptq", "auc": a, "auc_low": a - 0.05, "auc_high": a + 0.05}
                         for m, a in aucs.items()])


def test_every_target_met():
    table = performance_targets(
        latency(light_cnn=0.1, mobilenet_v3_small=0.6, mobilenet_v2_035=0.3, efficientnet_b0=1.2, meso4=0.4),
        metrics(light_cnn=0.9, mobilenet_v3_small=0.85, mobilenet_v2_035=0.7, efficientnet_b0=0.8, meso4=0.6), 100.0, None, LIMITS)
    assert set(table["verdict"]) == {"met"}
    assert target_macros(table) == {"NumTargets": 11, "NumTargetsMet": 11, "TargetsMissed": "none"}


def test_misses_are_named_and_missing_models_not_counted():
    table = performance_targets(latency(light_cnn=0.2, meso4=0.1), metrics(light_cnn=0.7, meso4=0.68), 600.0, None, LIMITS)
    verdicts = dict(zip(table["target"], table["verdict"], strict=True))
    assert verdicts["int8 latency / MobileNetV3-Small's, at most 0.5"] == "not measured"
    assert verdicts["test AUC above Meso-4's beyond the interval (low vs high end)"] == "missed"
    assert verdicts["int8 latency / Meso-4's, at most 1.5"] == "missed"
    assert verdicts["float32 / int8 latency, at least 2"] == "missed"
    assert verdicts["int8 file size, KB, under 512"] == "missed"
    macros = target_macros(table)
    assert macros["NumTargets"] == 4 and macros["NumTargetsMet"] == 0
    assert "Meso-4" in macros["TargetsMissed"]


def test_auc_short_of_a_baseline_says_whether_inside_the_interval():
    table = performance_targets(latency(light_cnn=0.1, mobilenet_v3_small=0.6),
                                metrics(light_cnn=0.80, mobilenet_v3_small=0.82), 100.0, None, LIMITS)
    row = table[table["target"] == "test AUC at least MobileNetV3-Small's"].iloc[0]
    assert row["verdict"] == "missed (the difference is within its interval)"
    assert performance_targets(latency(light_cnn=0.1), None, 100.0, None, LIMITS)["verdict"].str.startswith("not measured").sum() == 9  # size and speed-up are still measured


def test_paired_differences_decide_the_accuracy_targets():
    differences = pd.DataFrame({"baseline": ["meso4", "mobilenet_v3_small"], "AUC difference": [0.25, -0.02],
                                "CI low": [0.1, -0.08], "CI high": [0.4, 0.03]})
    table = performance_targets(latency(light_cnn=0.1, mobilenet_v3_small=0.6, meso4=0.4),
                                metrics(light_cnn=0.80, mobilenet_v3_small=0.82, meso4=0.6), 100.0, differences, LIMITS)
    verdicts = dict(zip(table["target"], table["verdict"], strict=True))
    assert verdicts["test AUC above Meso-4's: paired difference, its interval above zero"] == "met (interval 0.100 to 0.400)"
    assert verdicts["test AUC at least MobileNetV3-Small's"] == "missed (the difference is within its interval)"


def test_quantization_targets_judge_int8_files_against_their_float_file():
    from deepfake_iot.claims import quantization_macros, quantization_targets

    results = pd.DataFrame({
        "model": ["light_cnn"] * 3, "variant": ["float32", "int8_ptq", "int8_qat"], "group": ["main"] * 3,
        "val_auc": [0.900, 0.895, 0.880], "size_kb": [400.0, 100.0, 100.0], "flag": ["ok"] * 3, "agreement": [1.0, 0.98, 0.97],
    })
    judged = quantization_targets(results, LIMITS).set_index("variant")
    assert judged.loc["float32", "target"] == "" and judged.loc["int8_ptq", "target"] == "met"
    assert judged.loc["int8_qat", "target"].startswith("missed: AUC -0.020")
    assert judged.loc["int8_ptq", "size_ratio"] == 4.0
    macros = quantization_macros(judged.reset_index(), LIMITS)
    assert macros["LightPtqTarget"] == "met" and macros["NumVariants"] == 3 and macros["LightFloatKB"] == 400


def test_limits_come_from_the_parameter_file_and_a_missing_key_is_named():
    params = load_params("default")
    assert LIMITS.int8_kb == params["target_int8_kb"] and LIMITS.track_found == params["target_track_found"]
    assert set(DEVICE) | set(QUANTIZATION) == {row.removeprefix("target_") for row in LIMITS.describe()["parameter"]}
    partial = Limits.from_params({"target_size_ratio": 2, "target_ptq_auc_loss": 0.1, "target_qat_auc_loss": 0.1}, only=QUANTIZATION)
    assert partial.size_ratio == 2 and math.isnan(partial.int8_kb) and len(partial.describe()) == 3
    with pytest.raises(KeyError, match="target_int8_kb"):
        Limits.from_params({k: v for k, v in params.items() if k != "target_int8_kb"})
    with pytest.raises(KeyError, match="no claim named size"):
        Limits.from_params(params, only=("size",))


def test_a_changed_limit_changes_the_verdict_and_its_wording():
    table = performance_targets(latency(light_cnn=0.3, mobilenet_v3_small=0.6), None, 100.0, None, LIMITS)
    assert table.iloc[0]["target"] == f"int8 latency / MobileNetV3-Small's, at most {LIMITS.latency_vs_mobilenet_v3:g}"
    assert table.iloc[0]["verdict"] == "met"
    strict = Limits(**{**LIMITS.__dict__, "latency_vs_mobilenet_v3": 0.25})
    assert performance_targets(latency(light_cnn=0.3, mobilenet_v3_small=0.6), None, 100.0, None, strict).iloc[0]["verdict"] == "missed"


def test_tracking_targets_judge_the_gate_tracker():
    summary = pd.DataFrame({"detector": ["blazeface_short", "tracked"], "found_rate": [0.9, 0.995],
                            "cost_vs_short": [1.0, 0.8], "false_per_frame": [0.0, 0.0]})
    assert set(tracking_targets(summary, LIMITS)["verdict"]) == {"met"}
    lost = summary.assign(found_rate=[0.9, 0.95], false_per_frame=[0.0, 0.1])
    assert tracking_targets(lost, LIMITS)["verdict"].tolist() == ["missed", "met", "missed"]
    assert set(tracking_targets(summary[summary["detector"] != "tracked"], LIMITS)["verdict"]) == {"not measured"}
