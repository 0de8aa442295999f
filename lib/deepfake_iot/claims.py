"""The performance targets the paper claims or disclaims, checked from measured numbers.

Pandas only (no TensorFlow, no scikit-learn): notebook 06 checks them on the device from its own
latency and the test metrics that notebook 05 wrote. A target whose inputs are missing (a model
not trained in this profile) is listed as "not measured", never as met.
"""

from __future__ import annotations

import math

import pandas as pd

LIGHT = "light_cnn"
EFFICIENT_BASELINES = {"mobilenet_v3_small": "MobileNetV3-Small", "mobilenet_v2_035": "MobileNetV2-0.35",
                       "efficientnet_b0": "EfficientNet-B0"}
SIZE_LIMIT_KB = 512.0
INT8_AUC_LIMITS = {"int8_qat": 0.005, "int8_ptq": 0.01}  # the field's usual validation AUC losses of int8 files
SIZE_RATIO_TARGET = 3.5  # float32 KB / int8 KB: about four times smaller, less the per-channel scales


def _value(frame: pd.DataFrame, model: str, variant: str, column: str) -> float:
    match = frame[(frame["model"] == model) & (frame["variant"] == variant)]
    return float(match[column].iloc[0]) if len(match) and column in match else math.nan


def _row(target: str, light: float, reference: float, met, detail: str = "") -> dict:
    if isinstance(met, float) and math.isnan(met) or any(math.isnan(v) for v in (light, reference) if isinstance(v, float)):
        verdict = "not measured"
    else:
        verdict = "met" if met else "missed"
    return {"target": target, "light CNN": light, "reference": reference, "verdict": verdict + (f" ({detail})" if detail else "")}


def _difference(differences: pd.DataFrame | None, baseline: str) -> tuple[float, float, float]:
    if differences is None or "baseline" not in differences:
        return math.nan, math.nan, math.nan
    match = differences[differences["baseline"] == baseline]
    if match.empty:
        return math.nan, math.nan, math.nan
    row = match.iloc[0]
    return float(row["AUC difference"]), float(row["CI low"]), float(row["CI high"])


def performance_targets(latency_ms: pd.DataFrame, test_metrics: pd.DataFrame | None, int8_kb: float,
                        differences: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per target: the light CNN's number, the number it is held against, the verdict.

    ``latency_ms``: one-thread medians (``model, variant, median_ms``) measured side by side;
    ``test_metrics``: notebook 05's ``model, variant, auc, auc_low, auc_high`` (or None);
    ``int8_kb``: size of the light CNN's int8 file; ``differences``: notebook 05's paired
    bootstrap of the test AUC difference, light CNN minus each baseline (``baseline, AUC
    difference, CI low, CI high``). With it, accuracy verdicts use the interval of the
    difference; without it, the two models' own intervals.
    """
    ms = lambda m, v="int8_ptq": _value(latency_ms, m, v, "median_ms")  # noqa: E731
    metrics = test_metrics if test_metrics is not None else pd.DataFrame(columns=["model", "variant", "auc", "auc_low", "auc_high"])
    auc = lambda m, column="auc": _value(metrics, m, "int8_ptq", column)  # noqa: E731
    light_ms, light_auc = ms(LIGHT), auc(LIGHT)
    rows = [_row("int8 latency / MobileNetV3-Small's, at most 0.5", light_ms / ms("mobilenet_v3_small"), 0.5,
                 light_ms / ms("mobilenet_v3_small") <= 0.5)]
    for name, label in EFFICIENT_BASELINES.items():
        rows.append(_row(f"int8 faster than {label} (ms)", light_ms, ms(name), light_ms < ms(name)))
        diff, low, high = _difference(differences, name)
        if math.isnan(diff):
            inside = auc(LIGHT, "auc_high") >= auc(name)
        else:
            inside = high >= 0
        detail = "" if light_auc >= auc(name) or math.isnan(light_auc) else (
            "the difference is within its interval" if inside else "beyond the interval")
        rows.append(_row(f"test AUC at least {label}'s", light_auc, auc(name), light_auc >= auc(name), detail))
    diff, low, high = _difference(differences, "meso4")
    if math.isnan(diff):
        rows.append(_row("test AUC above Meso-4's beyond the interval (low vs high end)", auc(LIGHT, "auc_low"), auc("meso4", "auc_high"),
                         auc(LIGHT, "auc_low") > auc("meso4", "auc_high")))
    else:
        rows.append(_row("test AUC above Meso-4's: paired difference, its interval above zero", diff, 0.0, low > 0,
                         f"interval {low:.3f} to {high:.3f}"))
    rows.append(_row("int8 latency / Meso-4's, at most 1.5", light_ms / ms("meso4"), 1.5, light_ms / ms("meso4") <= 1.5))
    rows.append(_row("int8 file size, KB, under 512", float(int8_kb), SIZE_LIMIT_KB, int8_kb < SIZE_LIMIT_KB))
    speedup = ms(LIGHT, "float32") / light_ms
    rows.append(_row(f"float32 / int8 latency, at least {FLOAT_SPEEDUP_TARGET:g}", speedup, FLOAT_SPEEDUP_TARGET,
                     speedup >= FLOAT_SPEEDUP_TARGET))
    return pd.DataFrame(rows)


def target_macros(table: pd.DataFrame) -> dict:
    """Counts and the list of missed targets, for the paper's text."""
    measured = table[~table["verdict"].str.startswith("not measured")]
    missed = measured[measured["verdict"].str.startswith("missed")]
    return {"NumTargets": len(measured), "NumTargetsMet": len(measured) - len(missed),
            "TargetsMissed": "; ".join(missed["target"]) if len(missed) else "none"}


FLOAT_SPEEDUP_TARGET = 2.0  # the integer light CNN's speed-up over its float file, at least
MEMORY_LIMIT_MB = 150.0  # the demo process's peak resident memory
PATH_SPEEDUP_TARGET = 20.0  # the frame path with Haar / with the default detector, at least
DETECTOR_RATIO_TARGET = 10.0  # the detector's stage / the classifier's invoke, at most


def frame_path_targets(frame_path: pd.DataFrame, rates: pd.DataFrame, quality: pd.DataFrame,
                       runtimes: pd.DataFrame, demo_peak_mb: float, detector: str = "blazeface_short",
                       frame: str = "640x480") -> pd.DataFrame:  # fmt: skip
    """The whole frame path's targets, from numbers measured side by side in one run.

    ``frame_path``: ``facebench.frame_path_table`` rows (one thread are used); ``rates``:
    ``facebench.rate_table``; ``quality``: ``facebench.quality_summary``; ``runtimes``: bare
    invoke rows (``runtime, model, variant, median_ms``) of the light CNN under the pinned
    runtime; ``demo_peak_mb``: the demo process's peak resident memory.
    """
    one = frame_path[(frame_path["threads"] == 1) & (frame_path["frame"] == frame)]
    one = one.rename(columns={"detector": "model"}).assign(variant="")
    path = lambda name, column="path_median_ms": _value(one, name, "", column)  # noqa: E731
    speedup = path("haar") / path(detector)
    detector_ratio = path(detector, "detect_median_ms") / path(detector, "invoke_median_ms")
    rows = [
        _row(f"frame path {frame}, Haar / {detector}, at least {PATH_SPEEDUP_TARGET:.0f}", speedup,
             PATH_SPEEDUP_TARGET, speedup >= PATH_SPEEDUP_TARGET),
        _row(f"{detector} stage / classifier invoke, at most {DETECTOR_RATIO_TARGET:.0f}", detector_ratio,
             DETECTOR_RATIO_TARGET, detector_ratio <= DETECTOR_RATIO_TARGET),
    ]
    if detector in rates and "haar" in rates:
        gap = float((rates[detector] - rates["haar"]).min())
        rows.append(_row(f"{detector} detection rate minus Haar's, worst degradation and level, at least 0",
                         gap, 0.0, gap >= 0))
    else:
        rows.append(_row(f"{detector} detection rate minus Haar's, worst degradation and level, at least 0",
                         math.nan, 0.0, math.nan))
    false = quality.set_index("detector")["false_per_frame"] if len(quality) else pd.Series(dtype=float)
    rows.append(_row(f"false detections per face-free frame, {detector} at most Haar's",
                     float(false.get(detector, math.nan)), float(false.get("haar", math.nan)),
                     false.get(detector, math.nan) <= false.get("haar", math.nan)))
    int8 = _value(runtimes, LIGHT, "int8_ptq", "median_ms")
    fp32 = _value(runtimes, LIGHT, "float32", "median_ms")
    rows.append(_row("light CNN int8 / float32 latency under the pinned runtime, at most 1", int8 / fp32, 1.0,
                     int8 <= fp32))
    rows.append(_row(f"demo process peak memory, MB, under {MEMORY_LIMIT_MB:.0f}", float(demo_peak_mb),
                     MEMORY_LIMIT_MB, demo_peak_mb < MEMORY_LIMIT_MB))
    return pd.DataFrame(rows)


def quantization_targets(results: pd.DataFrame) -> pd.DataFrame:
    """Notebook 04's table with ``auc_change`` and ``size_ratio`` against each model's float32
    file and ``target``: for an int8 file "met", or "missed: " with what missed
    (``INT8_AUC_LIMITS``, ``SIZE_RATIO_TARGET``); empty for the other variants."""
    results = results.copy()
    float_rows = results[results["variant"] == "float32"].set_index("model")
    results["auc_change"] = results["val_auc"] - results["model"].map(float_rows["val_auc"])
    results["size_ratio"] = results["model"].map(float_rows["size_kb"]) / results["size_kb"]

    def verdict(row):
        if row.variant not in INT8_AUC_LIMITS:
            return ""
        missed = []
        if row.auc_change < -INT8_AUC_LIMITS[row.variant]:
            missed.append(f"AUC {row.auc_change:+.3f}")
        if row.size_ratio < SIZE_RATIO_TARGET:
            missed.append(f"size x{row.size_ratio:.1f}")
        return "met" if not missed else "missed: " + ", ".join(missed)

    results["target"] = results.apply(verdict, axis=1) if len(results) else pd.Series(dtype=str)
    return results


def quantization_macros(results: pd.DataFrame) -> dict:
    """Notebook 04's numbers for the paper from ``quantization_targets``'s table (the sweep's
    rows only counted): variants, flags, the light CNN's files, their targets and the limits."""
    main = results[results["group"] == "main"]
    light = main[main["model"] == LIGHT].set_index("variant")
    macros = {"NumVariants": int(main["variant"].nunique()), "NumFlagged": int((main["flag"] != "ok").sum()),
              "NumSweepModels": int(results.loc[results["group"] == "sweep", "model"].nunique()),
              "PtqAucLimit": INT8_AUC_LIMITS["int8_ptq"], "QatAucLimit": INT8_AUC_LIMITS["int8_qat"],
              "SizeRatioTarget": SIZE_RATIO_TARGET}
    if light.empty:
        return macros
    macros.update({
        "LightFloatKB": round(float(light.loc["float32", "size_kb"])), "LightPtqKB": round(float(light.loc["int8_ptq", "size_kb"])),
        "LightPtqAuc": float(light.loc["int8_ptq", "val_auc"]), "LightFloatAuc": float(light.loc["float32", "val_auc"]),
        "LightPtqAgreement": float(light.loc["int8_ptq", "agreement"]),
        "LightSizeRatio": float(light.loc["int8_ptq", "size_ratio"]), "LightPtqTarget": light.loc["int8_ptq", "target"],
    })
    if "int8_qat" in light.index:
        macros.update({"LightQatAuc": float(light.loc["int8_qat", "val_auc"]), "LightQatTarget": light.loc["int8_qat", "target"],
                       "LightQatAgreement": float(light.loc["int8_qat", "agreement"])})
    return macros


def limit_macros() -> dict:
    """The frame path's target limits as the paper states them."""
    return {"TargetPathSpeedup": int(PATH_SPEEDUP_TARGET), "TargetFloatSpeedup": f"{FLOAT_SPEEDUP_TARGET:g}",
            "TargetDetectorRatio": int(DETECTOR_RATIO_TARGET), "TargetMemoryMb": int(MEMORY_LIMIT_MB)}

