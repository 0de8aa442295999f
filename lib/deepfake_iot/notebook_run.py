"""Inside one notebook: its run (``Run``) knows where to write, with which parameters and under
whose name, and publishes through it: figures (``publish.save_figure``), tables and macros
(``report``), the files passed to later notebooks (``handoff``, named in ``paths.HANDOFFS``).
Running the notebooks one after another is ``run_all.py``'s job, not this module's.

Every notebook starts with ``run = Run.start("NN_name", globals())`` right after its parameters
cell. The run reads the notebook's own declared parameter names, so the same code works when
papermill injected a profile's values and when a person runs the notebook in JupyterLab.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from deepfake_iot import publish
from deepfake_iot.params import notebook_parameters, params_hash
from deepfake_iot.paths import ensure_dir, handoff, output_root, project_root
from deepfake_iot.provenance import Stamp

PROFILE_ENV = "DFIOT_PROFILE"
RETRACING = "triggered tf.function retracing"


class _FirstRetracingWarningOnly(logging.Filter):
    """TensorFlow warns at every retrace of a function ("5 out of the last 5 calls ...
    triggered tf.function retracing"): the first says it all, later ones are dropped."""

    def __init__(self):
        super().__init__()
        self.seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        if RETRACING not in record.getMessage():
            return True
        first, self.seen = not self.seen, True
        return first


def quiet_kernel() -> None:
    """Keep library noise off a notebook's page; idempotent. ``run_all.sh`` runs it in each
    kernel before the first cell, ``Run.start`` again for a notebook run by hand.

    - ``tqdm.auto`` without ipywidgets warns "IProgress not found" and falls back on its text bar,
      which is the bar wanted in an executed notebook: the warning goes;
    - TensorFlow's retracing warning is shown once per kernel (``_FirstRetracingWarningOnly``),
      and the converter's note on int8 input statistics not at all;
    - TensorFlow's C++ INFO and WARNING lines stay off (``TF_CPP_MIN_LOG_LEVEL=2`` unless set),
      when this runs before TensorFlow is imported.
    """
    warnings.filterwarnings("ignore", message=r"IProgress not found")
    # The TFLite converter asks for the legacy converter's input statistics whenever the input is
    # int8, although the representative dataset already gave the quantization (the files pass
    # quantize's checks): one line per conversion that says nothing.
    warnings.filterwarnings("ignore", message=r"Statistics for quantized inputs were expected")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logger = logging.getLogger("tensorflow")  # the logger TensorFlow takes when imported later
    if not any(isinstance(f, _FirstRetracingWarningOnly) for f in logger.filters):
        logger.addFilter(_FirstRetracingWarningOnly())


@dataclass
class Run:
    notebook: str
    params: dict
    profile: str
    out: Path
    stamp: Stamp = field(repr=False)

    @classmethod
    def start(cls, notebook: str, namespace: dict) -> Run:
        """Collect the notebook's parameters from ``namespace`` (its globals) and stamp the run."""
        quiet_kernel()
        path = project_root() / "notebooks" / f"{notebook}.ipynb"
        if not path.is_file():
            raise FileNotFoundError(
                f"notebook {path} not found: Run.start needs the notebook's own name"
            )
        names = notebook_parameters(path)
        missing = [name for name in names if name not in namespace]
        if missing:
            raise NameError(f"run the parameters cell first: {', '.join(missing)} not defined")
        params = {name: namespace[name] for name in names}
        profile = os.environ.get(PROFILE_ENV, "interactive")
        stamp = Stamp.now(notebook, profile, params_hash(params))
        run = cls(notebook, params, profile, output_root(), stamp)
        print(
            f"{notebook}: profile {profile}, parameters {stamp.params_hash}, commit {stamp.commit}, output {run.out}"
        )
        return run

    # Folders under the output root -------------------------------------------------------------
    def folder(self, *parts: str) -> Path:
        return ensure_dir(self.out.joinpath(*parts))

    def handoff(self, name: str) -> Path:
        """A file passed between notebooks (``paths.HANDOFFS``), its folder created."""
        path = handoff(self.out, name)
        ensure_dir(path.parent)
        return path

    @property
    def data_dir(self) -> Path:
        return self.folder("data")

    @property
    def results_dir(self) -> Path:
        return self.folder("results")

    @property
    def models_dir(self) -> Path:
        return self.folder("models")

    @property
    def figures_dir(self) -> Path:
        return self.folder("figures")

    @property
    def generated_dir(self) -> Path:
        return self.folder("paper", "generated")

    # Publishing --------------------------------------------------------------------------------
    def save_figure(self, fig, name: str, caption: str = "") -> Path:
        publish.save_figure(fig, name, self.figures_dir, self.stamp, caption)
        return self.figures_dir / f"{name}.png"

    def write_table(
        self, frame, name: str, digits: int = 3, column_format: str | None = None
    ) -> Path:
        tex = self.folder("paper", "generated", "tables") / f"{name}.tex"
        csv = self.folder("results", "tables") / f"{name}.csv"
        return publish.write_table(frame, tex, csv, self.stamp, digits, column_format)

    def write_macros(self, values: dict, digits: int = 3) -> Path:
        """This notebook's numbers for the paper: ``paper/generated/macros_<notebook>.tex``."""
        return publish.write_macros(
            values, self.generated_dir / f"macros_{self.notebook}.tex", self.stamp, digits
        )
