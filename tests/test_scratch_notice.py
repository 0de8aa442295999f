"""A build from the smoke profile says on its first page, in the PDF and in the HTML index,
that its numbers are meaningless; a real run's pages say nothing of the kind."""

import json
import re
import shutil
import subprocess

import pytest

from deepfake_iot.browse import write_index
from deepfake_iot.build_facts import build_macros, write_build_macros

from .conftest import ROOT
from .test_paper_build import fake_run


def set_profile(out, profile):
    manifest_path = out / "figures" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({k: {**v, "profile": profile} for k, v in manifest.items()}))
    return out


def test_the_smoke_profile_switches_the_notice_on(tmp_path):
    smoke = build_macros(fake_run(tmp_path / "smoke"), ROOT)
    assert "\\ScratchRuntrue" in smoke and "meaningless" in smoke
    real = build_macros(set_profile(fake_run(tmp_path / "real", "ffpp"), "ffpp_c23"), ROOT)
    assert "\\ScratchRunfalse" in real and "\\newcommand{\\ScratchNote}{}" in real
    status = {"01_data_setup": {"status": "ok", "profile": "smoke", "seconds": 3.0}}
    assert "\\ScratchRuntrue" in build_macros(set_profile(fake_run(tmp_path / "mixed"), "x"), ROOT, status)


def test_the_paper_puts_the_notice_in_its_title_and_abstract():
    tex = (ROOT / "paper" / "main.tex").read_text()
    title = re.search(r"\\title\{.*?\n\\author", tex, re.S).group(0)
    abstract = tex[tex.index("\\begin{abstract}") :][:200]
    assert "\\ifScratchRun" in title and "meaningless" in title
    assert "\\ifScratchRun\\textbf{\\ScratchNote}" in abstract


def test_the_html_index_says_so_for_a_smoke_run(tmp_path):
    rows = {"01_data_setup": {"status": "ok", "profile": "smoke", "seconds": 3.0}}
    page = write_index(tmp_path / "html", ["01_data_setup"], rows).read_text()
    assert 'class="scratch"' in page and "meaningless" in page
    rows["01_data_setup"]["profile"] = "default"
    page = write_index(tmp_path / "html", ["01_data_setup"], rows).read_text()
    assert "meaningless" not in page


DOCUMENT = r"""\documentclass[conference]{IEEEtran}
\usepackage[T1]{fontenc}
\usepackage[hidelinks]{hyperref}
\input{generated/build}
\begin{document}
TITLE
\maketitle
ABSTRACT
The abstract.
\end{abstract}
\end{document}
"""


@pytest.mark.skipif(not shutil.which("latexmk"), reason="needs latexmk and TeX Live")
@pytest.mark.parametrize(("profile", "shown"), [("smoke", True), ("default", False)])
def test_the_first_page_of_the_pdf(tmp_path, profile, shown):
    """The paper's own title and abstract lines compile under either switch; with pdftotext the
    first page is read back."""
    tex = (ROOT / "paper" / "main.tex").read_text()
    title = re.search(r"\\title\{.*?\n(?=\\author)", tex, re.S).group(0)
    abstract = "\n".join(tex[tex.index("\\begin{abstract}") :].split("\n")[:2])
    out = set_profile(fake_run(tmp_path / "out"), profile)
    write_build_macros(out, ROOT)
    paper = out / "paper"
    (paper / "main.tex").write_text(DOCUMENT.replace("TITLE", title).replace("ABSTRACT", abstract))
    done = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "main.tex"],
                          cwd=paper, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, (paper / "main.log").read_text(errors="replace")[-2000:]
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(paper / "main.pdf"), "-"], capture_output=True, text=True).stdout
        assert ("meaningless" in text) == shown and ("smoke profile" in text) == shown
