"""Supply chain and secrets: exact pins from the default index only, and nothing in the
repository or in generated provenance that leaks a local path, a user name or a token."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from deepfake_iot.provenance import Stamp, portable_profile
from deepfake_iot.publish import write_macros

from .conftest import ROOT

REQUIREMENT_FILES = ("requirements.txt", "requirements-device.txt", "requirements-colab.txt")
EXACT = re.compile(
    r"^([A-Za-z0-9][A-Za-z0-9_.\-]*)(\[[A-Za-z0-9_,\-]+\])?==([0-9][A-Za-z0-9.+!\-]*)$"
)

# Built from pieces so that this file does not match its own patterns.
HOME = "/" + "home/"
ABSOLUTE_PATHS = re.compile(
    r"(?<![\w.])("
    + re.escape(HOME)
    + r"[A-Za-z0-9_.\-]+|/"
    + "root/|/Users/[A-Za-z]|[A-Z]:\\\\Users\\\\)"
)
TOKENS = re.compile(
    "|".join(
        [
            "gh" + r"[pousr]_[A-Za-z0-9]{30,}",  # GitHub tokens
            "AK" + r"IA[0-9A-Z]{16}",  # AWS access key id
            "hf" + r"_[A-Za-z0-9]{30,}",  # Hugging Face token
            "xox" + r"[abpr]-[A-Za-z0-9\-]{10,}",  # Slack token
            "-----BEGIN " + r"[A-Z ]*PRIVATE KEY-----",
            r"sk-[A-Za-z0-9]{32,}",  # API secret keys
        ]
    )
)


@pytest.mark.parametrize("name", REQUIREMENT_FILES)
def test_every_requirement_is_pinned_exactly(name):
    lines = [line.split("#")[0].strip() for line in (ROOT / name).read_text().splitlines()]
    requirements = [line for line in lines if line]
    assert requirements, f"{name} is empty"
    for line in requirements:
        assert not line.startswith("-"), f"{name}: options ({line}) change where packages come from"
        assert "://" not in line and "@" not in line, f"{name}: {line} installs from a URL"
        assert EXACT.match(line), f"{name}: '{line}' is not pinned with =="


def test_pinned_names_are_unique():
    for name in REQUIREMENT_FILES:
        names = [
            EXACT.match(line.split("#")[0].strip()).group(1).lower()
            for line in (ROOT / name).read_text().splitlines()
            if line.split("#")[0].strip()
        ]
        assert len(names) == len(set(names)), f"{name} pins a package twice"


def _tracked_files():
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [ROOT / name for name in listed.split("\0") if name]


def test_tracked_files_hold_no_local_paths_or_tokens():
    try:
        files = _tracked_files()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    problems = []
    for path in files:
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        for pattern, what in ((ABSOLUTE_PATHS, "local path"), (TOKENS, "token")):
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                problems.append(f"{path.relative_to(ROOT)}:{line}: {what} {match.group(0)[:40]!r}")
    assert not problems, "\n".join(problems[:20])


def test_the_patterns_catch_what_they_should():
    assert ABSOLUTE_PATHS.search("see " + HOME + "alice/data")
    assert ABSOLUTE_PATHS.search("cwd /" + "root/work")
    assert not ABSOLUTE_PATHS.search("notebooks/01_data_setup.ipynb and ~/.kaggle/kaggle.json")
    assert TOKENS.search("token gh" + "p_" + "a" * 36)


def test_generated_provenance_holds_no_absolute_path(tmp_path, monkeypatch):
    """A profile given as an absolute path (run_all.sh --profile /somewhere/x.yaml) must not
    reach the figure manifest or the paper's macros."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from deepfake_iot.publish import save_figure

    outside = tmp_path / "private" / "alice" / "my_profile.yaml"
    inside = ROOT / "params" / "smoke.yaml"
    assert portable_profile(str(outside)) == "my_profile.yaml"
    assert portable_profile(str(inside)) == "params/smoke.yaml"
    assert portable_profile("smoke") == "smoke"
    stamp = Stamp.now("01_data_setup", str(outside), "abc123")
    fig, _ = plt.subplots()
    save_figure(fig, "probe", tmp_path / "figures", stamp)
    plt.close(fig)
    macros = write_macros({"NumCrops": 12}, tmp_path / "generated" / "macros.tex", stamp)
    texts = [(tmp_path / "figures" / "manifest.json").read_text(), macros.read_text()]
    manifest = json.loads(texts[0])["probe"]
    assert manifest["profile"] == "my_profile.yaml" and re.fullmatch(
        r"[0-9a-f]{12}|unknown", manifest["commit"]
    )
    for text in texts:
        assert str(tmp_path) not in text and "alice" not in text
        assert not ABSOLUTE_PATHS.search(text)
        assert not re.search(r"(?<![\w.])/(tmp|home|root|Users)/", text), text
