"""./run_all.sh --lab opens JupyterLab on the project with its kernel.

The test starts it on a free loopback port with its own token and no browser, asks the server
for the notebooks folder and the kernels, and stops it; it never waits more than a minute.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from deepfake_iot.run_all import parse_args

from .conftest import ROOT

TOKEN = "test-token-for-the-lab-check"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str):
    request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_lab_options_go_to_jupyterlab_only_with_lab():
    args = parse_args(["--lab", "--no-browser", "--port", "8899"])
    assert args.lab and args.lab_args == ["--no-browser", "--port", "8899"]
    with pytest.raises(SystemExit):
        parse_args(["--no-browser"])


def test_lab_serves_the_notebooks_with_the_project_kernel(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
    }
    command = [
        str(ROOT / "run_all.sh"),
        "--use-current-env",
        "--lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}",
    ]
    log = open(tmp_path / "lab.log", "w")  # noqa: SIM115 - closed in finally
    server = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, listing = time.monotonic() + 60, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                listing = get_json(f"{base}/api/contents/notebooks")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        assert listing is not None, (tmp_path / "lab.log").read_text()[-3000:]
        names = sorted(item["name"] for item in listing["content"] if item["type"] == "notebook")
        expected = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        assert names == expected and len(names) == 6
        with pytest.raises(urllib.error.HTTPError):  # the token is required
            urllib.request.urlopen(f"{base}/api/contents/notebooks", timeout=5)
        kernels = get_json(f"{base}/api/kernelspecs")
        assert "python3" in kernels["kernelspecs"]
    finally:
        stop(server)
        log.close()


def stop(server: subprocess.Popen) -> None:
    """Stop the server's whole process group (run_all.sh, the runner and JupyterLab)."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            pass
        try:
            server.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
