"""Browsing a run without Jupyter: executed notebooks as HTML pages with their figures, and an index."""

import base64
import re
from html.parser import HTMLParser

import nbformat
import pytest

from deepfake_iot import browse

# A one-pixel PNG: what a notebook's figure output looks like in the .ipynb.
PIXEL = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082"
    )
).decode()


def executed_notebook(path, error=False):
    notebook = nbformat.v4.new_notebook()
    figure = nbformat.v4.new_code_cell("fig")
    figure.outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": PIXEL, "text/plain": "<Figure>"})
    ]
    notebook.cells = [nbformat.v4.new_markdown_cell("# A notebook"), figure]
    if error:
        failing = nbformat.v4.new_code_cell("open('missing.csv')")
        failing.outputs = [
            nbformat.v4.new_output(
                "error",
                ename="FileNotFoundError",
                evalue="missing.csv",
                traceback=["FileNotFoundError: [Errno 2] No such file: 'missing.csv'"],
            )
        ]
        notebook.cells.append(failing)
    nbformat.write(notebook, path)
    return path


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links.append(dict(attrs).get("href"))


def test_page_embeds_the_figures(tmp_path):
    page = browse.export_notebook(executed_notebook(tmp_path / "01_x.ipynb"), tmp_path / "html")
    assert page == tmp_path / "html" / "01_x.html"
    text = page.read_text()
    assert f"data:image/png;base64,{PIXEL}" in text
    assert "A notebook" in text


def test_failed_notebook_page_shows_its_traceback(tmp_path):
    page = browse.export_notebook(
        executed_notebook(tmp_path / "02_y.ipynb", error=True), tmp_path / "html"
    )
    text = page.read_text()
    assert "FileNotFoundError" in text and "missing.csv" in text


def test_missing_executed_notebook_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nope.ipynb"))):
        browse.export_notebook(tmp_path / "nope.ipynb", tmp_path / "html")


def test_index_lists_every_notebook_with_status_profile_and_time(tmp_path):
    build = tmp_path / "build"
    html_dir = build / "html"
    browse.export_notebook(executed_notebook(tmp_path / "01_a.ipynb"), html_dir)
    browse.export_notebook(executed_notebook(tmp_path / "02_b.ipynb", error=True), html_dir)
    browse.record_status(build, "01_a", "ok", "smoke", 75.0, "01_a.html")
    browse.record_status(build, "02_b", "failed", "smoke", 3.25, "02_b.html")
    rows = browse.record_status(build, "03_c", "not run", "smoke", None, None)
    assert set(rows) == {"01_a", "02_b", "03_c"}
    assert browse.load_status(build) == rows
    (tmp_path / "paper").mkdir()
    (tmp_path / "paper" / "main.pdf").write_bytes(b"%PDF-1.5")
    index = browse.write_index(
        html_dir, ["01_a", "02_b", "03_c", "04_d"], rows, tmp_path / "paper" / "main.pdf"
    )
    text = index.read_text()
    for name in ("01_a", "02_b", "03_c", "04_d"):
        assert name in text
    assert "1 min 15 s" in text and "3.2 s" in text and "smoke" in text
    assert text.count("not run") >= 2 and "failed" in text
    parser = Links()
    parser.feed(text)
    assert parser.links == ["01_a.html", "02_b.html", "../../paper/main.pdf"]
    for link in parser.links:
        assert (html_dir / link).resolve().is_file(), link


def test_damaged_status_file_only_loses_old_rows(tmp_path):
    (tmp_path / browse.STATUS_FILE).write_text("{not json")
    assert browse.load_status(tmp_path) == {}
    assert set(browse.record_status(tmp_path, "01_a", "ok", "default", 1.0, None)) == {"01_a"}
