#!/usr/bin/env python3
"""Scoring one's own labelled data from a checkout without installing it; the same command as
``deepfake-iot-score`` and ``python -m deepfake_iot.score`` (see ``--help`` and
``lib/deepfake_iot/score.py``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from deepfake_iot.score import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
