#!/usr/bin/env python3
"""The frame-path benchmark from a checkout without installing it; the same command as
``deepfake-iot-benchmark-frame-path`` and ``python -m deepfake_iot.frame_path_command`` (see ``--help``
and ``lib/deepfake_iot/frame_path.py``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from deepfake_iot.frame_path_command import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
