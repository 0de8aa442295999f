"""Where things live, and how files are written so that a killed run never leaves half a file.

The project root is the folder holding ``params/`` and ``notebooks/``. Generated files go under
an *output root*: the project root by default, or the folder named by the ``DFIOT_OUT``
environment variable (``run_all.sh --out DIR`` sets it), so a test run never overwrites a
user's results.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

OUT_ENV = "DFIOT_OUT"


def project_root() -> Path:
    """The checkout's root: found from this file, or from ``DFIOT_ROOT`` when set."""
    if os.environ.get("DFIOT_ROOT"):
        return Path(os.environ["DFIOT_ROOT"]).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "params" / "default.yaml").is_file():
            return parent
    # Installed outside a checkout (e.g. on a device with a copied lib/): fall back to the cwd.
    return Path.cwd().resolve()


def output_root() -> Path:
    """The folder under which every generated file goes (see module docstring)."""
    value = os.environ.get(OUT_ENV)
    return Path(value).resolve() if value else project_root()


def umask_mode() -> int:
    """The mode a plain ``open(path, "w")`` gives a new file: 0o666 less the process's umask."""
    mask = os.umask(0o022)  # read the umask (the only portable way is to set it) and put it back
    os.umask(mask)
    return 0o666 & ~mask


def give_umask_mode(path: Path | str) -> None:
    """Give a file made by ``tempfile.mkstemp`` (always 0600) the mode an ordinary new file gets,
    so the file renamed onto its target is as readable as the umask allows (0644 under 022)."""
    os.chmod(path, umask_mode())


def ensure_dir(path: Path | str) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_path(target: Path | str, suffix: str | None = None):
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success.

    Use for writers that want a file name (``cv2.imwrite``, ``fig.savefig``, ``model.save``).
    The temporary name keeps the target's extension so that such writers pick the right format.
    The file gets the umask's mode (``give_umask_mode``), not ``mkstemp``'s owner-only 0600.
    """
    target = Path(target)
    ensure_dir(target.parent)
    suffix = target.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=f".part{suffix}", dir=target.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        give_umask_mode(tmp_path)
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(target: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically; a failure (a full disk, a read-only folder)
    raises ``OSError`` naming ``target`` and leaves an earlier ``target`` untouched."""
    try:
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
    except OSError as error:
        reason = error.strerror or str(error)
        raise OSError(error.errno, f"cannot write {target}: {reason}") from error
    return Path(target)


def atomic_write_text(target: Path | str, text: str) -> Path:
    return atomic_write_bytes(target, text.encode("utf-8"))


def atomic_write_json(target: Path | str, obj) -> Path:
    return atomic_write_text(target, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def is_partial(path: Path | str) -> bool:
    """Whether ``path`` is a temporary file of ``atomic_path`` (left behind by a killed run)."""
    name = Path(path).name
    return name.startswith(".") and ".part" in name


def remove_partials(folder: Path | str) -> int:
    """Delete the temporary files a killed run left in ``folder`` (not recursive); their count."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.iterdir():
        if path.is_file() and is_partial(path):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def write_csv(frame, target: Path | str) -> Path:
    """A pandas table to CSV, atomically: a reader never sees half a file."""
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(target)


# Files one notebook writes and another reads -------------------------------------------------
# Each is named once here; notebooks reach it through ``handoff(out, NAME)`` (or
# ``Run.handoff(NAME)``), so a renamed file cannot leave a stale reader behind.

MANIFEST = "manifest.csv"
CROSS_MANIFEST = "cross_manifest.csv"
SKIPPED = "skipped.csv"
DATA_SETUP = "data_setup.json"
SHORTCUT_PROBE = "shortcut_probe.json"
NEAR_DUPLICATE_CANDIDATES = "near_duplicate_candidates.csv"
NEAR_DUPLICATES = "near_duplicates.csv"
DEGRADED_MANIFEST = "degraded_manifest.csv"
PIPELINE_THROUGHPUT = "pipeline_throughput.json"
TRAINING_RUNS = "training_runs.csv"
CONVERGENCE = "convergence.csv"
EXTRA_MODELS = "extra_models.json"
SWEEP_MODELS = "sweep_models.json"
SELECTED_MODELS = "selected_models.json"
HISTORY = "history.csv"
QUANTIZATION = "quantization.csv"
ONNX_EXPORT = "onnx_export.csv"
TEST_METRICS = "test_metrics.csv"
SEEDS = "seeds.csv"
AUC_DIFFERENCES = "auc_differences.csv"
ROBUSTNESS = "robustness.csv"
ABLATION = "ablation.csv"
CROSS_MANIPULATION = "cross_manipulation.csv"
CROSS_DATASET = "cross_dataset.csv"
SBI_STUDY = "sbi_study.csv"

# file name -> (folder under the output root, the notebook that writes it, who reads it)
HANDOFFS: dict[str, tuple[str, str, str]] = {
    MANIFEST: ("data", "01", "02, 03, 04, 05"),
    CROSS_MANIFEST: ("data", "01", "05 (absent without a second dataset)"),
    SKIPPED: ("data", "01", "people: what extraction skipped and why"),
    DATA_SETUP: ("results", "01", "04 (sidecars), the paper build"),
    SHORTCUT_PROBE: ("results", "01", "people: the probe's finding"),
    NEAR_DUPLICATE_CANDIDATES: ("results", "01", "people: hash collisions across splits"),
    NEAR_DUPLICATES: ("results", "01", "people: confirmed near duplicates across splits"),
    DEGRADED_MANIFEST: ("data", "02", "05"),
    PIPELINE_THROUGHPUT: ("results", "02", "people: pipeline against training speed"),
    TRAINING_RUNS: ("results", "03", "05 (every main run, every seed)"),
    CONVERGENCE: ("results", "03", "05 (which compared runs did not finish learning); people"),
    EXTRA_MODELS: ("results", "03", "05 (the study runs)"),
    SWEEP_MODELS: ("results", "03", "04 (the light CNN sweep)"),
    SELECTED_MODELS: ("results", "03", "04, 05 (each model's best seed on validation)"),
    QUANTIZATION: ("results", "04", "05, 06, scripts/benchmark.py"),
    ONNX_EXPORT: ("results", "04", "the paper build (whether ONNX files were exported); people: each file's agreement"),
    TEST_METRICS: ("results", "05", "06, scripts/benchmark.py"),
    SEEDS: ("results", "05", "people: test metrics per seed"),
    AUC_DIFFERENCES: ("results", "05", "06 (targets)"),
    ROBUSTNESS: ("results", "05", "people: AUC per degradation and level"),
    ABLATION: ("results", "05", "people: the degradation-training study"),
    CROSS_MANIPULATION: ("results", "05", "people: leave-one-method-out"),
    CROSS_DATASET: ("results", "05", "people: the second dataset"),
    SBI_STUDY: ("results", "05", "people: the self-blending study"),
}


def handoff(out: Path | str, name: str) -> Path:
    """Where ``name`` (one of ``HANDOFFS``) lives under the output root ``out``."""
    if name not in HANDOFFS:
        raise KeyError(f"{name} is not a file passed between notebooks; known: {', '.join(HANDOFFS)}")
    return Path(out) / HANDOFFS[name][0] / name


def read_json(path: Path | str, default=None):
    """A JSON file's content; ``default`` when the file is missing or empty (and a default given)."""
    path = Path(path)
    if default is not None and (not path.is_file() or not path.read_text().strip()):
        return default
    return json.loads(path.read_text())


def installed_file(distribution: str, relative: str) -> Path | None:
    """A data file shipped inside an installed distribution, found without importing it; None
    when the distribution is not installed or lacks the file."""
    import importlib.metadata

    try:
        path = Path(importlib.metadata.distribution(distribution).locate_file(relative))
    except importlib.metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None

