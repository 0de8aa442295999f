#!/usr/bin/env python3
"""The demo from a checkout without installing it; the same command as ``deepfake-iot-demo``
and ``python -m deepfake_iot.demo`` (see ``--help`` and ``lib/deepfake_iot/demo_command.py``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from deepfake_iot.demo_command import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
