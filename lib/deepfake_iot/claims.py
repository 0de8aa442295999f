"""The paper's claims, checked from measured numbers: each limit is a ``target_*`` parameter of
``params/default.yaml`` (with its reason there), read into ``Limits``.

Pandas only (no TensorFlow, no scikit-learn): notebook 06 checks them on the device from its own
latency and the test metrics that notebook 05 wrote; notebook 04 checks the int8 files. A target
whose inputs are missing (a model not trained in this profile) is listed as "not measured",
never as met. To add a claim: a ``target_*`` key (notebook parameters cell included), a field
here, and a row in the function that checks it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import pandas as pd

LIGHT = "light_cnn"
EFFICIENT_BASELINES = {"mobilenet_v3_small": "MobileNetV3-Small", "mobilenet_v2_035": "MobileNetV2-0.35",
                       "efficientnet_b0": "EfficientNet-B0"}


QUANTIZATION = ("size_ratio", "ptq_auc_loss", "qat_auc_loss")  # the limits notebook 04 checks
DEVICE = ("latency_vs_mobilenet_v3", "latency_vs_meso4", "int8_kb", "float_speedup", "demo_memory_mb", "path_speedup",
          "detector_ratio", "track_found", "track_cost")  # the limits notebook 06 checks


@dataclass(frozen=True)
class Limits:
    """Every limit the paper tests, named as its parameter without the ``target_`` prefix."""

    latency_vs_mobilenet_v3: float  # int8 light CNN latency / MobileNetV3-Small's, at most
    latency_vs_meso4: float  # int8 latency / Meso-4's, at most
    int8_kb: float  # int8 file size, KB, under
    size_ratio: float  # float32 / int8 file size, at least
    ptq_auc_loss: float  # validation AUC an int8 PTQ file may lose against its float32 file
    qat_auc_loss: float  # the same for the quantization-aware file
    float_speedup: float  # float32 / int8 latency of the light CNN, at least
    demo_memory_mb: float  # the demo process's peak resident memory, MB, under
    path_speedup: float  # frame path with Haar / with the default detector, at least
    detector_ratio: float  # the detector's stage / the classifier's invoke, at most
    track_found: float  # share of the frames showing the face in which the gate's tracker finds it, at least
    track_cost: float  # the tracker's median cost a frame / short-range's on the whole frame, at most

    @classmethod
    def from_params(cls, params, only: tuple[str, ...] | None = None) -> Limits:
        """The limits from a parameter mapping (a profile, or a notebook's ``globals()``).
        ``only`` names the fields a notebook needs; the others are NaN (not checked there)."""
        wanted = only if only is not None else tuple(f.name for f in fields(cls))
        unknown = sorted(set(wanted) - {f.name for f in fields(cls)})
        if unknown:
            raise KeyError(f"no claim named {', '.join(unknown)}")
        missing = [f"target_{name}" for name in wanted if f"target_{name}" not in params]
        if missing:
            raise KeyError(f"parameter(s) {', '.join(missing)} missing: the claims' limits live in params/default.yaml")
        return cls(**{f.name: float(params[f"target_{f.name}"]) if f.name in wanted else math.nan for f in fields(cls)})

    def describe(self) -> pd.DataFrame:
        """One row per limit checked here: its parameter and value (notebook prose quotes this)."""
        return pd.DataFrame([{"parameter": f"target_{name}", "limit": value}
                             for name, value in asdict(self).items() if not math.isnan(value)])

    def int8_auc_losses(self) -> dict:
        return {"int8_qat": self.qat_auc_loss, "int8_ptq": self.ptq_auc_loss}


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
                        differences: pd.DataFrame | None, limits: Limits) -> pd.DataFrame:
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
    v3 = limits.latency_vs_mobilenet_v3
    rows = [_row(f"int8 latency / MobileNetV3-Small's, at most {v3:g}", light_ms / ms("mobilenet_v3_small"), v3,
                 light_ms / ms("mobilenet_v3_small") <= v3)]
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
    meso = limits.latency_vs_meso4
    rows.append(_row(f"int8 latency / Meso-4's, at most {meso:g}", light_ms / ms("meso4"), meso, light_ms / ms("meso4") <= meso))
    rows.append(_row(f"int8 file size, KB, under {limits.int8_kb:g}", float(int8_kb), limits.int8_kb, int8_kb < limits.int8_kb))
    speedup = ms(LIGHT, "float32") / light_ms
    rows.append(_row(f"float32 / int8 latency, at least {limits.float_speedup:g}", speedup, limits.float_speedup,
                     speedup >= limits.float_speedup))
    return pd.DataFrame(rows)


def target_macros(table: pd.DataFrame) -> dict:
    """Counts and the list of missed targets, for the paper's text."""
    measured = table[~table["verdict"].str.startswith("not measured")]
    missed = measured[measured["verdict"].str.startswith("missed")]
    return {"NumTargets": len(measured), "NumTargetsMet": len(measured) - len(missed),
            "TargetsMissed": "; ".join(missed["target"]) if len(missed) else "none"}


def frame_path_targets(frame_path: pd.DataFrame, rates: pd.DataFrame, quality: pd.DataFrame,
                       runtimes: pd.DataFrame, demo_peak_mb: float, limits: Limits, detector: str = "blazeface_short",
                       frame: str = "640x480") -> pd.DataFrame:  # fmt: skip
    """The whole frame path's targets, from numbers measured side by side in one run.

    ``frame_path``: ``frame_path_study.frame_path_table`` rows (one thread are used); ``rates``:
    ``detector_study.rate_table``; ``quality``: ``detector_study.quality_summary``; ``runtimes``: bare
    invoke rows (``runtime, model, variant, median_ms``) of the light CNN under the pinned
    runtime; ``demo_peak_mb``: the demo process's peak resident memory.
    """
    one = frame_path[(frame_path["threads"] == 1) & (frame_path["frame"] == frame)]
    one = one.rename(columns={"detector": "model"}).assign(variant="")
    path = lambda name, column="path_median_ms": _value(one, name, "", column)  # noqa: E731
    speedup = path("haar") / path(detector)
    detector_ratio = path(detector, "detect_median_ms") / path(detector, "invoke_median_ms")
    rows = [
        _row(f"frame path {frame}, Haar / {detector}, at least {limits.path_speedup:g}", speedup,
             limits.path_speedup, speedup >= limits.path_speedup),
        _row(f"{detector} stage / classifier invoke, at most {limits.detector_ratio:g}", detector_ratio,
             limits.detector_ratio, detector_ratio <= limits.detector_ratio),
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
    rows.append(_row(f"demo process peak memory, MB, under {limits.demo_memory_mb:g}", float(demo_peak_mb),
                     limits.demo_memory_mb, demo_peak_mb < limits.demo_memory_mb))
    return pd.DataFrame(rows)


def tracking_targets(summary: pd.DataFrame, limits: Limits, tracker: str = "tracked") -> pd.DataFrame:
    """The gate's face tracker on the moving portrait (``detector_study.tracking_summary``): the share
    of face frames it finds, its median cost against short-range on the whole frame, and no false
    box on the face-free frames."""
    rows = summary.set_index("detector")
    get = lambda column: float(rows[column].get(tracker, math.nan)) if column in rows else math.nan  # noqa: E731
    found, cost, false = get("found_rate"), get("cost_vs_short"), get("false_per_frame")
    return pd.DataFrame([
        _row(f"tracker finds the face in a share of its frames, at least {limits.track_found:g}", found,
             limits.track_found, found >= limits.track_found),
        _row(f"tracker cost / short-range on the whole frame, at most {limits.track_cost:g}", cost,
             limits.track_cost, cost <= limits.track_cost),
        _row("tracker false boxes per face-free frame, none", false, 0.0, false == 0),
    ])


def quantization_targets(results: pd.DataFrame, limits: Limits) -> pd.DataFrame:
    """Notebook 04's table with ``auc_change`` and ``size_ratio`` against each model's float32
    file and ``target``: for an int8 file "met", or "missed: " with what missed (the limits'
    ``ptq_auc_loss``/``qat_auc_loss`` and ``size_ratio``); empty for the other variants."""
    losses = limits.int8_auc_losses()
    results = results.copy()
    float_rows = results[results["variant"] == "float32"].set_index("model")
    results["auc_change"] = results["val_auc"] - results["model"].map(float_rows["val_auc"])
    results["size_ratio"] = results["model"].map(float_rows["size_kb"]) / results["size_kb"]

    def verdict(row):
        if row.variant not in losses:
            return ""
        missed = []
        if row.auc_change < -losses[row.variant]:
            missed.append(f"AUC {row.auc_change:+.3f}")
        if row.size_ratio < limits.size_ratio:
            missed.append(f"size x{row.size_ratio:.1f}")
        return "met" if not missed else "missed: " + ", ".join(missed)

    results["target"] = results.apply(verdict, axis=1) if len(results) else pd.Series(dtype=str)
    return results


def quantization_macros(results: pd.DataFrame, limits: Limits) -> dict:
    """Notebook 04's numbers for the paper from ``quantization_targets``'s table (the sweep's
    rows only counted): variants, flags, the light CNN's files, their targets and the limits."""
    main = results[results["group"] == "main"]
    light = main[main["model"] == LIGHT].set_index("variant")
    macros = {"NumVariants": int(main["variant"].nunique()), "NumFlagged": int((main["flag"] != "ok").sum()),
              "NumSweepModels": int(results.loc[results["group"] == "sweep", "model"].nunique()),
              "PtqAucLimit": limits.ptq_auc_loss, "QatAucLimit": limits.qat_auc_loss,
              "SizeRatioTarget": limits.size_ratio}
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


def limit_macros(limits: Limits) -> dict:
    """The device targets' limits as the paper states them."""
    return {"TargetPathSpeedup": f"{limits.path_speedup:g}", "TargetFloatSpeedup": f"{limits.float_speedup:g}",
            "TargetDetectorRatio": f"{limits.detector_ratio:g}", "TargetMemoryMb": f"{limits.demo_memory_mb:g}",
            "TargetLatencyVsMobileNet": f"{limits.latency_vs_mobilenet_v3:g}", "TargetLatencyVsMeso": f"{limits.latency_vs_meso4:g}",
            "TargetIntKb": f"{limits.int8_kb:g}", "TargetTrackFoundPct": f"{100 * limits.track_found:g}",
            "TargetTrackCost": f"{limits.track_cost:g}"}

