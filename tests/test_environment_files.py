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
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[A-Za-z0-9_,\-]+\])?==([^\s;*]+)", line)
        assert match, f"not pinned with ==: {line}"
        found[match.group(1).lower()] = match.group(3)
    return found


REQUIREMENT_FILES = sorted(ROOT.glob("requirements*.txt"))


def test_every_line_of_every_requirement_file_is_an_exact_pin_or_an_include():
    assert len(REQUIREMENT_FILES) >= 5
    for path in REQUIREMENT_FILES:
        lines = path.read_text().splitlines()
        found = pins(lines)  # asserts "name==version" on every line that is not a comment
        assert found, f"{path.name} pins nothing"
        for line in lines:
            line = line.split("#")[0].strip()
            if line.startswith("-"):
                option, _, target = line.partition(" ")
                assert option == "-r" and (ROOT / target.strip()).is_file(), f"{path.name}: {line}"
        assert len(found) == sum(1 for line in lines if "==" in line.split("#")[0]), f"{path.name} names a package twice"


def test_pins_reject_what_is_not_exact():
    for loose in ("numpy>=2", "numpy", "numpy~=2.4", "numpy==2.4.*; python_version<'3.12' extra"):
        try:
            pins([loose])
        except AssertionError:
            continue
        raise AssertionError(f"{loose!r} passed as a pin")
    assert pins(["tensorflow==2.21.0  # why", "-r other.txt", "", "# note"]) == {"tensorflow": "2.21.0"}


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
