"""Browse a run without Jupyter: every executed notebook as one HTML page, and an index.

``run_all.sh`` calls :func:`export_notebook` after each notebook, whether it succeeded or failed
(a failed notebook's page shows its traceback), and :func:`write_index` at the end. The pages
embed their figures (nbconvert writes PNG outputs as data URIs), so ``build/html/`` can be copied
anywhere and opened in a browser. The status of every notebook is kept in
``build/run_status.json``, so a run of one notebook leaves the others' rows as they were.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
from pathlib import Path

from deepfake_iot.paths import atomic_write_json, atomic_write_text, ensure_dir

STATUS_FILE = "run_status.json"


def export_notebook(executed: Path, html_dir: Path) -> Path:
    """Write ``html_dir/<name>.html`` from an executed ``.ipynb``; return its path."""
    import nbformat
    from nbconvert import HTMLExporter

    executed = Path(executed)
    if not executed.is_file():
        raise FileNotFoundError(f"no executed notebook at {executed} to export to HTML")
    notebook = nbformat.read(executed, as_version=4)
    exporter = HTMLExporter(template_name="lab", embed_images=True)
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": executed.stem}})
    return atomic_write_text(ensure_dir(html_dir) / f"{executed.stem}.html", body)


def load_status(build_dir: Path) -> dict:
    path = Path(build_dir) / STATUS_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}  # a hand-damaged status file only costs the old rows


def record_status(
    build_dir: Path,
    notebook: str,
    status: str,
    profile: str,
    seconds: float | None,
    page: str | None,
) -> dict:
    """Store one notebook's latest run (``ok``, ``failed`` or ``not run``) and return all rows."""
    rows = load_status(build_dir)
    rows[notebook] = {
        "status": status,
        "profile": profile,
        "seconds": None if seconds is None else round(seconds, 1),
        "page": page,
        "finished": _dt.datetime.now().replace(microsecond=0).isoformat(sep=" "),
    }
    atomic_write_json(Path(build_dir) / STATUS_FILE, rows)
    return rows


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{seconds:.1f} s"


def write_index(
    html_dir: Path, notebooks: list[str], rows: dict, paper: Path | None = None
) -> Path:
    """``index.html``: one row per notebook (status, profile, run time, link to its page)."""
    html_dir = ensure_dir(html_dir)
    lines = []
    for name in notebooks:
        row = rows.get(name, {"status": "not run"})
        status = row.get("status", "not run")
        page = row.get("page")
        link = (
            f'<a href="{html.escape(page)}">{html.escape(name)}</a>'
            if page and (html_dir / page).is_file()
            else html.escape(name)
        )
        lines.append(
            f'<tr class="{html.escape(status.replace(" ", "-"))}"><td>{link}</td>'
            f"<td>{html.escape(status)}</td><td>{html.escape(row.get('profile') or '')}</td>"
            f"<td>{_duration(row.get('seconds'))}</td><td>{html.escape(row.get('finished') or '')}</td></tr>"
        )
    paper_line = ""
    if paper is not None and paper.is_file():
        relative = Path("..", "..", *paper.relative_to(html_dir.parent.parent).parts).as_posix()
        paper_line = (
            f'<p>The paper built from these notebooks: <a href="{relative}">{paper.name}</a></p>'
        )
    from deepfake_iot.build_facts import scratch_note

    note = scratch_note(row.get("profile", "") for row in rows.values())
    notice = f'<p class="scratch"><strong>{html.escape(note)}</strong></p>' if note else ""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Deepfake detection for IoT: executed notebooks</title>
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: 2em auto; }}
table {{ border-collapse: collapse; }} td, th {{ padding: .3em .8em; border-bottom: 1px solid #ccc; text-align: left; }}
tr.failed td {{ background: #fdd; }} tr.not-run td {{ color: #888; }}
p.scratch {{ background: #fff3cd; border: 1px solid #e0b000; padding: .6em; }}
</style></head>
<body>
<h1>Executed notebooks</h1>
{notice}
<p>Each page is a notebook as it ran, with its outputs and figures (a failed one shows its traceback).</p>
<table>
<tr><th>notebook</th><th>status</th><th>profile</th><th>run time</th><th>finished</th></tr>
{chr(10).join(lines)}
</table>
{paper_line}
</body></html>
"""
    return atomic_write_text(html_dir / "index.html", page)
