"""requirements.txt is the pinned truth; environment.yml and the Colab list agree with it."""

import re

import yaml

from .conftest import ROOT


def pins(lines) -> dict[str, str]:
    found = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if not line or line.startswith("-"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)", line)
        assert match, f"not pinned with ==: {line}"
        found[match.group(1).lower()] = match.group(2)
    return found


def test_requirements_are_pinned():
    assert "tensorflow" in pins((ROOT / "requirements.txt").read_text().splitlines())


def test_environment_yml_mirrors_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert any(str(d).startswith("python=3.11") for d in env["dependencies"])
    assert pins(pip_section) == pins((ROOT / "requirements.txt").read_text().splitlines())


def test_colab_list_is_a_subset_with_the_same_pins():
    full = pins((ROOT / "requirements.txt").read_text().splitlines())
    colab = pins((ROOT / "requirements-colab.txt").read_text().splitlines())
    for name, version in colab.items():
        assert full.get(name) == version, (
            f"requirements-colab.txt pins {name}=={version}, requirements.txt {full.get(name)}"
        )


def test_device_requirements_have_no_tensorflow_and_a_runtime():
    device = pins((ROOT / "requirements-device.txt").read_text().splitlines())
    assert "tensorflow" not in device and "tf-keras" not in device
    assert "tflite-runtime" in device or "ai-edge-litert" in device
    # tflite-runtime 2.14 fails to import under numpy 2
    if "tflite-runtime" in device:
        assert device["numpy"].startswith("1.")
