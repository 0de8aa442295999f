"""Outside the notebooks: execute the numbered notebooks headlessly with papermill, one after
another, then build the paper (what a single notebook does with its run is ``notebook_run.py``'s job).

``run_all.sh`` sets up the environment and calls ``python -m deepfake_iot.run_all``; the options
are the same (see ``--help``). Parameters are checked for every notebook before the first one
runs; a failing notebook stops the run and its executed copy (the run's log) is named.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from deepfake_iot import progress
from deepfake_iot.cli import stderr_to
from deepfake_iot.paths import OUT_ENV, ensure_dir, project_root

PROFILE_ENV = "DFIOT_PROFILE"  # run.PROFILE_ENV, repeated so that --help imports nothing heavy

PAPER_SOURCES = ("main.tex", "refs.bib", "IEEEtran.cls")
MIN_FREE_BYTES = 512 * 1024 * 1024


def list_notebooks(root: Path) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def select(notebooks: list[Path], only: list[str] | None, start: str | None) -> list[Path]:
    from deepfake_iot.params import ParameterError

    numbers = {nb.name[:2] for nb in notebooks}
    for wanted in (only or []) + ([start] if start else []):
        if wanted.zfill(2) not in numbers:
            raise ParameterError(
                f"no notebook numbered '{wanted}'; there are {', '.join(sorted(numbers))}"
            )
    if only:
        keep = {n.zfill(2) for n in only}
        return [nb for nb in notebooks if nb.name[:2] in keep]
    if start:
        return [nb for nb in notebooks if nb.name[:2] >= start.zfill(2)]
    return notebooks


def check_output_root(out: Path) -> None:
    """Fail before any work when the output folder cannot take the run's files."""
    try:
        ensure_dir(out)
        probe = out / ".write-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise SystemExit(
            f"error: cannot write to the output folder {out}: {error.strerror}"
        ) from error
    free = shutil.disk_usage(out).free
    if free < MIN_FREE_BYTES:
        raise SystemExit(
            f"error: only {free / 2**20:.0f} MiB free under {out}; a run needs at least 512 MiB"
        )


def acquire_lock(out: Path):
    """One run per output folder: a second run at the same time refuses instead of interleaving."""
    lock_path = ensure_dir(out / "build") / "run_all.lock"
    handle = open(lock_path, "w")  # noqa: SIM115 - held open for the whole run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as error:
        raise SystemExit(
            f"error: another run is writing to {out} (lock {lock_path} is held); wait for it or use --out"
        ) from error
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def kernel_log_path(executed: Path) -> Path:
    """Where a notebook's kernel and library noise goes: ``build/logs/<notebook>.log``."""
    return ensure_dir(executed.parent.parent / "logs") / f"{executed.stem}.log"


@contextlib.contextmanager
def _stderr_to(log_path: Path):
    """Send this process's file descriptor 2, and so the kernel's, to ``log_path``.

    The kernel inherits the runner's stderr: TensorFlow's oneDNN and CUDA lines, absl's, the
    kernel's transport warning and papermill's parameter notes would fill the terminal between
    the notebook lines although nothing failed. They go to the log instead (the executed notebook
    keeps every cell's own output); ``DFIOT_VERBOSE=1`` leaves everything on the terminal.
    """
    if os.environ.get("DFIOT_VERBOSE") == "1":
        yield
        return
    with open(log_path, "ab") as log, stderr_to(log):
        yield


# The kernel of an executed notebook: native code's own output (TensorFlow's oneDNN notice, a
# failed cuInit) goes to the kernel's stderr, i.e. build/logs/<notebook>.log, not into the page;
# and before the first cell the library's filters are set (run.quiet_kernel: tqdm as text without
# the ipywidgets warning, one retracing warning).
KERNEL_ARGUMENTS = [
    "--IPKernelApp.capture_fd_output=False",
    "--IPKernelApp.exec_lines=__import__('deepfake_iot.notebook_run').notebook_run.quiet_kernel()",
]


def code_cells(notebook: Path) -> int:
    """The code cells papermill will execute: the notebook's, with its parameters cell's copy."""
    import nbformat

    cells = nbformat.read(str(notebook), as_version=4).cells
    return sum(cell.cell_type == "code" and bool(cell.source.strip()) for cell in cells)


def _papermill_to_stdout(enabled: bool) -> None:
    """With ``DFIOT_VERBOSE=1`` papermill logs each cell's start and output (INFO, stderr
    outputs as WARNING): give that logger a handler on stdout, or nothing would show."""
    import logging

    logger = logging.getLogger("papermill")
    if not enabled or any(getattr(h, "dfiot", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.dfiot = True
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def run_notebook(notebook: Path, parameters: dict, executed: Path, root: Path) -> None:
    """Execute one notebook with papermill, its kernel's noise in ``build/logs/``, and a progress
    line on stdout at least every ``DFIOT_PROGRESS_SECONDS`` (``progress.Ticker``: the cell i of
    n, and the kernel's own status, e.g. the training run, model, seed and epoch)."""
    import papermill  # imported here so that --help and parameter errors stay fast

    verbose = os.environ.get("DFIOT_VERBOSE") == "1"
    _papermill_to_stdout(verbose)
    log_path = kernel_log_path(executed)
    log_path.unlink(missing_ok=True)
    status_file = log_path.with_suffix(".progress")
    os.environ[progress.PROGRESS_ENV] = str(status_file)  # the kernel inherits it
    total = code_cells(notebook) + (1 if parameters else 0)  # papermill injects a cell
    started_cells = []

    with _stderr_to(log_path), progress.Ticker(executed.stem, status_file, progress.interval_seconds()) as ticker:

        def on_cell_start(cell, cell_index):
            if cell.cell_type == "code" and cell.source.strip():
                started_cells.append(cell_index)
                ticker.cell(len(started_cells), max(total, len(started_cells)))

        papermill.execute_notebook(
            str(notebook),
            str(executed),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(root / "notebooks"),
            progress_bar=False,
            log_output=verbose,
            stdout_file=None,
            extra_arguments=list(KERNEL_ARGUMENTS),
            coalesce_streams=True,  # a tqdm bar is one output, its last state, not a dozen boxes
            on_cell_start=on_cell_start,
        )


def find_latex_engine() -> list[str] | None:
    if shutil.which("latexmk"):
        return [
            "latexmk",
            "-pdf",
            "-g",
            "-interaction=nonstopmode",
            "-halt-on-error",
            "-file-line-error",
            "main.tex",
        ]
    if shutil.which("tectonic"):
        return ["tectonic", "--keep-logs", "main.tex"]
    return None


def export_html(executed: Path, out: Path) -> str | None:
    """The executed notebook as ``build/html/<name>.html``; a failed export is a warning only."""
    from deepfake_iot.browse import export_notebook

    try:
        return export_notebook(executed, out / "build" / "html").name
    except Exception as error:  # an export problem must never cost the run's results
        print(f"  warning: no HTML page for {executed.name}: {error}", file=sys.stderr, flush=True)
        return None


def write_html_index(root: Path, out: Path) -> Path:
    from deepfake_iot.browse import load_status, write_index

    build = out / "build"
    names = [nb.stem for nb in list_notebooks(root)]
    return write_index(build / "html", names, load_status(build), out / "paper" / "main.pdf")


def open_lab(root: Path, out: Path | None, extra: list[str]) -> int:
    """JupyterLab on the project, with this environment's ``python3`` kernel (blocks until it stops)."""
    env = dict(os.environ)
    if out is not None:
        env[OUT_ENV] = str(out.resolve())  # the kernels inherit it: notebooks write under OUT
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}", *extra]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        command.append("--allow-root")  # containers and Colab-like machines run as root
    print(f"JupyterLab on {root} (kernel python3 of {sys.prefix}); stop it with Ctrl-C", flush=True)
    try:
        return subprocess.run(command, env=env).returncode
    except KeyboardInterrupt:
        return 0


def build_paper(root: Path, out: Path) -> tuple[str, str]:
    """Build ``paper/main.pdf`` under the output root; ``(status, detail)``."""
    from deepfake_iot.browse import load_status
    from deepfake_iot.build_facts import write_build_macros

    try:
        write_build_macros(out, root, load_status(out / "build"))
    except (OSError, ValueError) as error:
        return "failed", f"could not write paper/generated/build.tex: {error}"
    engine = find_latex_engine()
    if engine is None:
        return "skipped", (
            "no LaTeX engine found: install latexmk with a TeX distribution "
            "(Debian/Ubuntu: apt-get install latexmk texlive-latex-recommended texlive-latex-extra "
            "texlive-publishers) or tectonic (conda install -c conda-forge tectonic), then rerun with --only-paper"
        )
    paper_dir = ensure_dir(out / "paper")
    if paper_dir.resolve() != (root / "paper").resolve():
        for name in PAPER_SOURCES:
            if (root / "paper" / name).is_file():
                shutil.copy2(root / "paper" / name, paper_dir / name)
    log = ensure_dir(out / "build") / "latex.log"
    with open(log, "w") as handle:
        result = subprocess.run(engine, cwd=paper_dir, stdout=handle, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        errors = [
            line
            for line in log.read_text(errors="replace").splitlines()
            if line.startswith(("./main.tex:", "! "))
        ]
        first = "\n  ".join(errors[:3])
        return "failed", f"LaTeX failed; see {log} and {paper_dir / 'main.log'}" + (
            f"\n  {first}" if first else ""
        )
    return "ok", str(paper_dir / "main.pdf")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="run_all.sh",
        description="Execute notebooks/NN_*.ipynb in order with papermill, then build paper/main.pdf.",
        epilog="Executed notebooks (the run's log) go to OUT/build/executed/, their HTML pages "
        "to OUT/build/html/ (open index.html). Environment: "
        "DFIOT_USE_CURRENT_ENV=1 skips the .venv set-up; DFIOT_VERBOSE=1 streams the cells' "
        "output; DFIOT_PROGRESS_SECONDS (default 30) spaces the progress lines.",
    )
    parser.add_argument(
        "--profile",
        default="default",
        help="params/NAME.yaml or a path to a .yaml (default: default)",
    )
    parser.add_argument(
        "--only", action="append", metavar="NN", help="run only notebook NN (repeatable)"
    )
    parser.add_argument("--from", dest="start", metavar="NN", help="run notebooks NN and after")
    parser.add_argument(
        "--out", type=Path, help="write every generated file under OUT (default: the project root)"
    )
    parser.add_argument("--skip-paper", action="store_true", help="do not build the PDF")
    parser.add_argument(
        "--only-paper", action="store_true", help="build the PDF from existing outputs only"
    )
    parser.add_argument(
        "--lab",
        action="store_true",
        help="open JupyterLab on the project with its kernel instead of running; "
        "further options go to JupyterLab (e.g. --port 8899 --no-browser)",
    )
    args, extra = parser.parse_known_args(argv)
    if extra and not args.lab:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.lab_args = extra
    return args


def _run_notebooks(chosen: list[Path], per_notebook: dict, executed_dir: Path, root: Path, out: Path,
                   profile: str) -> tuple[list, tuple | None]:
    """Each chosen notebook in order, its line printed and its status recorded; after a failure
    the rest are recorded as not run. Returns the ``(name, status, seconds)`` rows and the
    failure ``(notebook, executed copy, error)`` or ``None``."""
    from deepfake_iot.browse import record_status

    rows, failed = [], None
    for notebook in chosen:
        if failed:  # what follows a failure would read stale inputs: say it did not run
            record_status(out / "build", notebook.stem, "not run", profile, None, None)
            continue
        executed = executed_dir / notebook.name
        started = time.perf_counter()
        try:
            run_notebook(notebook, per_notebook[notebook], executed, root)
            status = "ok"
        except Exception as error:  # papermill's execution error, or a kernel that died
            status, failed = "FAILED", (notebook, executed, error)
        seconds = time.perf_counter() - started
        rows.append((notebook.stem, status, seconds))
        print(f"  {notebook.stem:<24} {status:<6} {seconds:8.1f} s", flush=True)
        page = export_html(executed, out) if executed.is_file() else None
        record_status(out / "build", notebook.stem, status.lower(), profile, seconds, page)
    return rows, failed


def _report_failure(notebook: Path, executed: Path, error: Exception) -> None:
    """Name the failed notebook, its own exception's first line, its executed copy and its log."""
    # papermill's error carries the notebook's own exception: name it and its first line
    reason = f"{getattr(error, 'ename', '') or type(error).__name__}"
    message = str(getattr(error, "evalue", "") or "").strip().splitlines()
    reason += f": {message[0]}" if message else ""
    print(f"\nerror: {notebook.name} failed: {reason}", file=sys.stderr)
    print(f"open the executed notebook for the traceback: {executed}", file=sys.stderr)
    if kernel_log_path(executed).is_file() and kernel_log_path(executed).stat().st_size:
        print(f"kernel and library messages: {kernel_log_path(executed)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from deepfake_iot.params import (
        ParameterError,
        check_notebooks,
        load_params,
        params_for_notebook,
    )

    root = project_root()
    if args.lab:
        return open_lab(root, args.out, args.lab_args)
    out = (args.out or root).resolve()
    notebooks = list_notebooks(root)
    try:
        params = load_params(args.profile, root)
        check_notebooks(load_params("default", root), notebooks)
        chosen = [] if args.only_paper else select(notebooks, args.only, args.start)
        per_notebook = {nb: params_for_notebook(params, nb) for nb in chosen}
        progress.interval_seconds()  # a bad DFIOT_PROGRESS_SECONDS fails here, not mid-run
    except (ParameterError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    check_output_root(out)
    lock = acquire_lock(out)
    os.environ[OUT_ENV] = str(out)
    os.environ[PROFILE_ENV] = args.profile
    executed_dir = ensure_dir(out / "build" / "executed")
    print(f"profile {args.profile}: {len(chosen)} notebook(s), output under {out}", flush=True)
    rows, failed = _run_notebooks(chosen, per_notebook, executed_dir, root, out, args.profile)
    paper = ("not built", "a notebook failed") if failed else ("skipped", "--skip-paper")
    if not failed and not args.skip_paper:
        started = time.perf_counter()
        paper = build_paper(root, out)
        rows.append(("paper (LaTeX)", paper[0], time.perf_counter() - started))
    print("\nsummary")
    print(f"  {'step':<24} {'status':<9} {'seconds':>8}")
    for name, status, seconds in rows:
        print(f"  {name:<24} {status:<9} {seconds:8.1f}")
    print(f"  {'total':<24} {'':<9} {sum(r[2] for r in rows):8.1f}")
    index = write_html_index(root, out)
    print(f"\nbrowse the executed notebooks: {index}")
    lock.close()
    if failed:
        _report_failure(*failed)
        return 1
    if paper[0] == "failed":
        print(f"\nerror: {paper[1]}", file=sys.stderr)
        return 1
    if paper[0] == "skipped" and not args.skip_paper:
        print(f"\nwarning: the PDF was not built: {paper[1]}", file=sys.stderr)
    elif paper[0] == "ok":
        print(f"\npaper: {paper[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
