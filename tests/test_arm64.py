"""The device side on a Raspberry Pi's own CPU: ``scripts/check_arm64.sh`` in an arm64 Debian
bookworm userland under QEMU user emulation, as a Pi 4 (cortex-a72) and a Pi 5 (cortex-a76).

The slow test builds one tiny classifier in every format notebook 04 writes (float32, float16,
dynamic range, full int8), hands them to the check with the committed demo model, and expects
every file and both BlazeFace models to load and invoke under both CPU models, and the demo to
find the portrait's face; then, with ONNX Runtime added (``requirements-device-onnx.txt``), the
demo model's ONNX twin to load and invoke and the demo on it to find the same faces and take the
same decisions. It skips, printing why, where the check cannot run (not root, no
debootstrap or qemu-user-static, no binfmt_misc, no package download). The userland and its
environment are cached in ``~/.cache/deepfake-iot/arm64``.
"""

import csv
import os
import re
import subprocess

import numpy as np
import pytest

from .conftest import ROOT
from .device_envs import KINDS

SCRIPT = ROOT / "scripts" / "check_arm64.sh"
CPUS = ("cortex-a72", "cortex-a76")
VARIANTS = ("float32", "float16", "dynamic_range", "int8_ptq")
BLAZEFACE = ("face_detection_short_range.tflite", "face_detection_full_range.tflite")
SKIPPED = 77


def readme_steps() -> list[str]:
    """The commands the check runs as the README's Raspberry Pi steps."""
    text = SCRIPT.read_text()
    block = re.search(r"README_STEPS=\(\n(.*?)\n\)", text, re.S)
    assert block, "scripts/check_arm64.sh has no README_STEPS list"
    return re.findall(r'^\s*"(.*)"$', block.group(1), re.M)


def test_the_check_follows_the_readme_steps():
    readme = (ROOT / "README.md").read_text()
    steps = readme_steps()
    assert len(steps) == 4, steps
    for step in steps:
        parts = [part.strip() for part in step.split("&&")]
        for part in parts:
            assert part in readme, f"the README's Raspberry Pi steps no longer say '{part}'"


def pin(path) -> str:
    found = [line for line in path.read_text().splitlines() if line.startswith("ai-edge-litert==")]
    assert len(found) == 1, f"{path.name} must pin ai-edge-litert exactly once: {found}"
    return found[0]


def test_device_files_pin_the_litert_the_check_chose():
    device = pin(ROOT / "requirements-device.txt")
    assert pin(ROOT / "requirements-device-gui.txt") == device
    assert KINDS["device"][2] == device, "tests/device_envs.py probes another ai-edge-litert pin"
    version = device.split("==")[1]
    readme = (ROOT / "README.md").read_text()
    assert f"ai-edge-litert {version}" in readme, "the README's runtime paragraph names another pin"
    assert "check_arm64.sh" in readme, "the README does not say how the device pin was chosen"


def test_bad_options_name_the_option():
    for args, words in (
        (["--cpus", "pentium"], "pentium"),
        (["--models", "/nonexistent/file.tflite"], "--models"),
        (["--frobnicate"], "--frobnicate"),
    ):
        result = subprocess.run(
            ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert words in result.stderr, (args, result.stderr)


@pytest.fixture(scope="module")
def every_format(tmp_path_factory):
    """One tiny CNN in every format notebook 04 writes, each with its sidecar."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tf_keras as keras

    from deepfake_iot import quantize

    folder = tmp_path_factory.mktemp("arm64-models") / "tiny"
    folder.mkdir()
    # seeded: unseeded weights left the hidden Dense layer dead on all 8 calibration samples about
    # once in 40 draws, an int8 graph XNNPACK refuses (test_inference covers that case itself)
    keras.utils.set_random_seed(1)
    inputs = keras.Input((24, 24, 3))
    x = keras.layers.Conv2D(6, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(4, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    rng = np.random.default_rng(1)
    samples = [[rng.random((1, 24, 24, 3), dtype=np.float32)] for _ in range(8)]
    for variant in VARIANTS:
        content = quantize.convert(model, variant, samples if variant == "int8_ptq" else None)
        quantize.write_variant(
            content, folder / f"{variant}.tflite", {"variant": variant, "threshold": 0.5}
        )
    return folder


@pytest.mark.slow
def test_device_side_runs_on_pi_cpus(every_format, tmp_path):
    report = tmp_path / "arm64.tsv"
    command = ["bash", str(SCRIPT), "--cpus", " ".join(CPUS), "--models", str(every_format),
               "--report", str(report)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    print(result.stdout[-6000:])
    if result.returncode == SKIPPED:
        pytest.skip(result.stdout.strip().splitlines()[-1])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "Timing under emulation means nothing" in result.stdout
    with open(report, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    failed = [row for row in rows if row["result"] != "pass"]
    assert not failed, failed
    passed = {(row["step"], row["cpu"]) for row in rows}
    demo_model = sorted(path.name for path in (ROOT / "demo").glob("*.tflite"))
    files = [f"tiny_{variant}.tflite" for variant in VARIANTS] + demo_model + list(BLAZEFACE)
    for cpu in CPUS:
        for name in files:
            assert (f"invoke {name}", cpu) in passed, f"{name} was not invoked under {cpu}"
        assert ("demo (scripts/demo.py, portrait clip)", cpu) in passed
        for path in sorted((ROOT / "demo" / "onnx").glob("*.onnx")):
            assert (f"invoke {path.name}", cpu) in passed, f"{path.name} was not invoked under {cpu}"
        assert ("demo on the .onnx twin (ONNX Runtime)", cpu) in passed
    assert ("no TensorFlow in the device environment", "-") in passed
    assert ("ONNX Runtime (pip install -r requirements-device-onnx.txt)", "cortex-a72") in passed


def board_cpuinfo(cpu: str) -> str:
    """The /proc/cpuinfo the check mounts for ``cpu`` (its ``cpuinfo_for`` function)."""
    text = SCRIPT.read_text()
    function = re.search(r"^cpuinfo_for\(\) \{.*?^\}$", text, re.S | re.M)
    assert function, "scripts/check_arm64.sh has no cpuinfo_for function"
    done = subprocess.run(
        ["bash", "-c", f'{function.group(0)}\ncpuinfo_for "$1"', "bash", cpu],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_each_board_gets_its_own_cpuinfo():
    """A Pi 4's Cortex-A72 (part 0xd08) has neither LSE atomics nor dot product; a Pi 5's
    Cortex-A76 (0xd0b) has both. LiteRT picks kernels from this file: a wrong one crashes."""
    pi4, pi5 = board_cpuinfo("cortex-a72"), board_cpuinfo("cortex-a76")
    features = {
        text: re.search(r"^Features\t: (.*)$", text, re.M).group(1).split() for text in (pi4, pi5)
    }
    assert "CPU part\t: 0xd08" in pi4 and "Raspberry Pi 4" in pi4
    assert "atomics" not in features[pi4] and "asimddp" not in features[pi4]
    assert "CPU part\t: 0xd0b" in pi5 and "Raspberry Pi 5" in pi5
    assert {"atomics", "asimddp"} <= set(features[pi5])
    assert pi4.count("processor\t:") >= 1
