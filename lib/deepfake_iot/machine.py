"""This machine, as a benchmark reports it: board, CPU (ARM part codes of the Raspberry Pis
included), governor, clock, temperature, OS, Python and NVIDIA GPU; a folder-safe name for it; the
thread counts it can time; and the peak resident memory of this process or of a command run as a
process of its own. Device side: standard library, plus psutil for the current resident memory."""

from __future__ import annotations

import os
import platform
import re
import resource
import time
from pathlib import Path


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace").strip("\x00\n ")
    except OSError:
        return None

# ARM "CPU part" codes of the boards the compendium targets (aarch64 /proc/cpuinfo has no
# "model name" line): Raspberry Pi 3 (A53), 4 (A72), 5 (A76).
ARM_CPU_PARTS = {"0xd03": "Cortex-A53", "0xd08": "Cortex-A72", "0xd0b": "Cortex-A76"}

def _cpu_name(cpuinfo: str) -> str:
    named = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    if named:
        return named.group(1).strip()
    part = re.search(r"^CPU part\s*:\s*(0x[0-9a-f]+)", cpuinfo, re.MULTILINE | re.IGNORECASE)
    hardware = re.search(r"^Hardware\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    names = [ARM_CPU_PARTS.get(part.group(1).lower(), f"ARM part {part.group(1)}")] if part else []
    names += [hardware.group(1).strip()] if hardware else []
    return " / ".join(names) or platform.processor() or platform.machine() or "unknown"

def device_info() -> dict:
    """Board, CPU, governor, clock, temperature, OS and Python of this machine (what is readable).

    Files that cannot be read (no device tree on a PC, no thermal zone in a container) give a
    fallback or ``None``, never an error.
    """
    cpuinfo = _read("/proc/cpuinfo") or ""
    os_release = _read("/etc/os-release") or ""
    pretty = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', os_release, re.MULTILINE)
    temperature = _read("/sys/class/thermal/thermal_zone0/temp")
    max_khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    return {
        "board": _read("/proc/device-tree/model") or f"host {platform.machine()}",
        "cpu": _cpu_name(cpuinfo),
        "cores": os.cpu_count(),
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor") or "unknown",
        "cpu_max_mhz": int(max_khz) // 1000 if max_khz and max_khz.isdigit() else None,
        "temperature_c": round(int(temperature) / 1000, 1)
        if temperature and temperature.lstrip("-").isdigit()
        else None,
        "os": pretty.group(1) if pretty else platform.platform(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        **_gpu(),
    }

def _gpu() -> dict:
    """``gpus``: every NVIDIA GPU ``nvidia-smi`` lists (empty without one, or on a Jetson, whose
    board name already says it), and ``gpu``, ``gpu_driver`` of the first."""
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return {"gpus": []}
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=20)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return {"gpus": []}
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        return {"gpus": []}
    pairs = [line.partition(",") for line in lines]
    return {"gpu": pairs[0][0].strip(), "gpu_driver": pairs[0][2].strip(), "gpus": [name.strip() for name, _, _ in pairs]}


def device_slug(info: dict) -> str:
    """A short folder-safe name of the board: ``raspberry-pi-4-model-b``, ``host-x86_64``, or
    ``host-x86_64-nvidia-h100-80gb-hbm3`` on a machine with an NVIDIA GPU (``device_info``'s
    ``gpu``), so that a GPU run is labelled with its GPU.

    The board revision (" Rev 1.4") is dropped, so that every run of one board model lands in
    one folder; runs keep the full board name in their metadata.
    """
    board = re.sub(r"\s+rev\s+[\w.]+$", "", str(info.get("board") or "device").strip(), flags=re.I)
    board += f" {info['gpu']}" if info.get("gpu") else ""
    slug = re.sub(r"[^a-z0-9_]+", "-", board.lower()).strip("-_")
    return slug[:60] or "device"

def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20

def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def thread_counts(requested, cores: int | None = None) -> tuple[list[int], list[int]]:
    """``(timed, skipped)``: the requested thread counts up to this machine's cores, and those
    above it, which are marked and never timed (the TFLite thread pool spins on oversubscribed
    cores: 4 threads on 2 cores took 100 to 600 ms a call where 1 thread took 1 ms)."""
    cores = cores or os.cpu_count() or 1
    counts = sorted({int(count) for count in requested})
    if not counts or counts[0] < 1:
        raise ValueError(f"thread counts must be integers >= 1, got {list(requested)}")
    return [c for c in counts if c <= cores], [c for c in counts if c > cores]

def _high_water_mb(pid: int) -> float | None:
    """``VmHWM`` of a live process (its own peak resident memory since its ``exec``), in MB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+)\s+kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None

def peak_rss_of(command: list[str], timeout: float = 600, **popen) -> tuple[int, float, str]:
    """Run ``command`` as a process of its own; its exit code, its peak resident memory in MB
    and its stdout (stderr is dropped).

    The peak is the child's own ``VmHWM``, read every 10 ms while it runs: ``ru_maxrss`` of a
    child would also count the parent's pages shared with it between ``fork`` and ``exec``.
    Where ``/proc`` is missing (not Linux) the child's ``ru_maxrss`` is the fallback."""
    import subprocess
    import tempfile

    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL, **popen)
        deadline = time.monotonic() + timeout
        peak = None
        while True:
            seen = _high_water_mb(process.pid)
            if seen is not None:
                peak = max(peak or 0.0, seen)
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise subprocess.TimeoutExpired(command, timeout)
            time.sleep(0.01)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return process.returncode, peak if peak is not None else usage.ru_maxrss / 1024, out.read()
