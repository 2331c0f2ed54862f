#!/usr/bin/env bash
# The arm64 leg: the CPU-sensitive tests on an emulated Raspberry Pi 5 (Cortex-A76) and Pi 4
# (Cortex-A72), with the aarch64 wheels pip picks there. Built only from Debian's and PyPI's
# packages and cached in $SEGMENTER_ARM64_CACHE (default ~/.cache/segmenter-arm64).
#
# Usage: scripts/arm64.sh               set up (cached), then run the leg's tests
#        scripts/arm64.sh setup         set up only; prints the emulated Python's launcher
#        scripts/arm64.sh python ARGS   the emulated Python in this checkout, e.g.
#                                       scripts/arm64.sh python -m segmenter demo
# Environment: QEMU_CPU (default cortex-a76) for `python`; SEGMENTER_ARM64_TSV, a folder
# where the leg writes the golden TSVs and kernel digests it made (tests/golden/test_golden.py
# and tests/golden/test_arm64.py compare them with this machine's); SEGMENTER_SKIP_ARM64=1 skips
# the leg with a message (refused under CI=true).
#
# How: `debootstrap --arch=arm64 --foreign` resolves and fetches a minimal bookworm with
# python3. Its second stage cannot run here: dpkg's maintainer scripts exec aarch64 programs,
# which needs binfmt_misc. Nothing in python3 needs them, so the packages are unpacked with
# dpkg-deb instead, and the root is only ever run as `qemu-aarch64-static -L ROOT`. The
# wheels are those of this checkout's .venv (the project's ranges as resolved here), for
# aarch64, unpacked by the host's pip into the root's /usr/local site folder. A `.pth` there
# points sys.executable and multiprocessing at a host-side launcher, so the pool's workers,
# forkserver and resource tracker start through qemu too (no binfmt_misc to do it).
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=bookworm
PACKAGES=python3
MIRROR=${SEGMENTER_ARM64_MIRROR:-http://deb.debian.org/debian}
CACHE=${SEGMENTER_ARM64_CACHE:-$HOME/.cache/segmenter-arm64}
RECIPE=2 # bump when the way the root is made changes
PLATFORMS=(manylinux_2_28_aarch64 manylinux_2_17_aarch64 manylinux2014_aarch64)
SITE=usr/local/lib/python3.11/dist-packages

say() { echo "arm64: $*" >&2; }

ensure_tools() {
  local need=()
  command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  ((${#need[@]})) || return 0
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  say "installing ${need[*]} with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
}

# The wheels: the project's dependencies and pytest, pinned to what this checkout's .venv
# resolved (the same versions on both CPUs, so their outputs can be compared).
requirements() {
  .venv/bin/python - <<'PY'
import tomllib
from importlib.metadata import version
from packaging.requirements import Requirement

with open("pyproject.toml", "rb") as fh:
    deps = tomllib.load(fh)["project"]["dependencies"]
for name in sorted({Requirement(d).name for d in deps} | {"pytest"}):
    print(f"{name}=={version(name)}")
PY
}

# Everything else installed in .venv constrains the wheels' own dependencies (scipy, pillow...);
# pytest-xdist and execnet (the x86-64 suite's parallel runs) are not installed there.
constraints() {
  .venv/bin/python -m pip freeze --exclude-editable --disable-pip-version-check 2>/dev/null \
    | grep -v -i -e '^planktoscope-segmenter' -e '^-e ' -e ' @ ' -e '^pytest-xdist=' -e '^execnet=' \
      -e '^uv='
}

build() { # build ENV: make the emulated environment in folder ENV (which must not exist)
  local env=$1 root=$1/root
  mkdir -p "$env" "$CACHE/debs"
  say "debootstrap (first stage) of $SUITE arm64 with $PACKAGES into $root"
  debootstrap --arch=arm64 --foreign --variant=minbase --include="$PACKAGES" \
    --cache-dir="$CACHE/debs" "$SUITE" "$root" "$MIRROR" >"$env/debootstrap.log" 2>&1 \
    || { tail -20 "$env/debootstrap.log" >&2; say "debootstrap failed (log above)"; return 1; }
  say "unpacking $(wc -l <"$root/debootstrap/debpaths") packages"
  local pkg path
  while read -r pkg path; do
    dpkg-deb -x "$root/$path" "$root" || { say "cannot unpack $pkg"; return 1; }
  done <"$root/debootstrap/debpaths"
  rm -f "$root"/var/cache/apt/archives/*.deb # kept in $CACHE/debs
  say "installing the aarch64 wheels: $(tr '\n' ' ' <"$env/requirements.txt")"
  mkdir -p "$root/$SITE"
  local plat=()
  for p in "${PLATFORMS[@]}"; do plat+=(--platform "$p"); done
  .venv/bin/python -m pip install -q --disable-pip-version-check --target "$root/$SITE" \
    "${plat[@]}" --python-version 3.11 --implementation cp --abi cp311 --only-binary=:all: \
    -r "$env/requirements.txt" -c "$env/constraints.txt"
  cat >"$root/$SITE/segmenter_arm64.py" <<'PY'
"""Made by scripts/arm64.sh (loaded by segmenter_arm64.pth): programs that start Python
(the process pool's workers, forkserver and resource tracker; subprocesses of
sys.executable) start it through the host-side launcher, which runs it under qemu."""

import os
import sys

_launcher = os.path.join(os.path.dirname(os.path.dirname(sys.prefix)), "python")
if os.access(_launcher, os.X_OK):
    import multiprocessing

    sys.executable = _launcher
    multiprocessing.set_executable(_launcher)
PY
  echo "import segmenter_arm64" >"$root/$SITE/segmenter_arm64.pth"
  cat >"$env/python" <<'SH'
#!/bin/sh
# Made by scripts/arm64.sh: the emulated aarch64 Python 3 of ./root (QEMU_CPU picks the CPU).
env=$(cd "$(dirname "$0")" && pwd -P)
export QEMU_CPU="${QEMU_CPU:-cortex-a76}"
exec qemu-aarch64-static -L "$env/root" "$env/root/usr/bin/python3" "$@"
SH
  chmod +x "$env/python"
  say "checking the environment"
  "$env/python" -c 'import platform, cv2, numpy, skimage, pytest; assert platform.machine() == "aarch64"'
}

# The environment for this dependency set: re-used when complete, else made again from
# scratch (a killed run leaves only a *.part folder, removed here); one set-up at a time.
setup() {
  ensure_tools
  [[ -x .venv/bin/python ]] || scripts/setup.sh >&2
  mkdir -p "$CACHE"
  local reqs cons key env
  reqs=$(requirements)
  cons=$(constraints)
  key=$(printf '%s\n' "$RECIPE $SUITE $PACKAGES ${PLATFORMS[*]}" "$reqs" "$cons" | sha256sum | cut -c1-16)
  env=$CACHE/env-$key
  exec 9>"$CACHE/.lock"
  flock 9
  if [[ ! -f $env/.complete ]]; then
    rm -rf "$env" "$CACHE"/*.part # a half-made one (only the lock's holder builds)
    local start=$SECONDS
    mkdir -p "$env.part"
    printf '%s\n' "$reqs" >"$env.part/requirements.txt"
    printf '%s\n' "$cons" >"$env.part/constraints.txt"
    build "$env.part"
    touch "$env.part/.complete"
    mv "$env.part" "$env"
    say "environment made in $((SECONDS - start)) s: $env"
  fi
  exec 9>&-
  echo "$env/python"
}

# The leg's tests, chosen to fit CI's budget (tests run 6-8x slower here than on x86-64).
# What the leg shows is that our outputs on the Pi's CPUs are x86-64's, byte for byte; the
# comparisons with the oracles (the old method, skimage) run on x86-64, and equal outputs
# carry them over. Cortex-A76: the kernel, the flat correction against its exact table on
# all 65,536 pairs, the exhaustive colour tests, the moments, the topology's tile maximum,
# the three golden acquisitions (recalc and dense on 1 worker, prevmask on the 2-worker
# pool). Beside it, on the Pi 4's Cortex-A72: the colour and moment tests and the dense
# golden case; then the kernel's digests (tests/golden/cpu_digest.py: random regions, and
# whole frames with the previous mask removed and kept, as the old method's frame tests on
# x86-64) on both CPUs, then `segmenter demo` on 2 workers. The golden TSVs and the digests
# go to SEGMENTER_ARM64_TSV/<cpu>/ (tests/golden/test_golden.py and tests/golden/test_arm64.py
# compare them with x86-64's). Left to x86-64: the comparisons with the old method and
# skimage, the random-region and real-mask topology tests, the other golden runs.
A76_TESTS=(
  tests/worker/test_kernel.py
  tests/worker/test_correction.py
  tests/worker/test_hsv.py
  tests/worker/test_moments.py
  tests/worker/test_topology.py
  tests/golden/test_golden.py
)
A76_SELECT="not random_regions and not real_masks"
A76_SELECT+=" and not recalc-2w and not prevmask-1w and not dense-2w"
A72_TESTS=(
  tests/worker/test_hsv.py
  tests/worker/test_moments.py
  tests/golden/test_golden.py
)
A72_SELECT="hsv or moments or dense-1w"

emulated() { # emulated CPU PYTHON ARGS: PYTHON ARGS on that CPU, timed
  local cpu=$1 start=$SECONDS status=0
  shift
  say "$cpu: ${*:2}"
  QEMU_CPU=$cpu "$@" || status=$?
  say "$cpu: $((SECONDS - start)) s, exit status $status"
  return $status
}

leg() {
  if [[ ${SEGMENTER_SKIP_ARM64:-} == 1 ]]; then
    if [[ ${CI:-} == true ]]; then
      say "SEGMENTER_SKIP_ARM64=1 is refused under CI=true: the arm64 leg always runs in CI"
      return 1
    fi
    say "SKIPPED: the arm64 leg (SEGMENTER_SKIP_ARM64=1); the golden TSV comparison skips too"
    return 0
  fi
  local python start=$SECONDS status=0
  python=$(setup)
  say "environment ready in $((SECONDS - start)) s"
  local tsv=${SEGMENTER_ARM64_TSV:-} demo log out cpu a76=0
  [[ -n $tsv ]] && mkdir -p "$tsv/cortex-a76" "$tsv/cortex-a72"
  demo=$(mktemp -d)
  log=$demo.log
  # the two CPUs side by side (one core each, but for the 2-worker runs)
  SEGMENTER_GOLDEN_TSV_OUT=${tsv:+$tsv/cortex-a76} emulated cortex-a76 "$python" -m pytest \
    -p no:cacheprovider -q --durations=12 "${A76_TESTS[@]}" -k "$A76_SELECT" &
  local pid=$!
  {
    SEGMENTER_GOLDEN_TSV_OUT=${tsv:+$tsv/cortex-a72} emulated cortex-a72 "$python" -m pytest \
      -p no:cacheprovider -q --durations=12 "${A72_TESTS[@]}" -k "$A72_SELECT" || status=1
    for cpu in cortex-a72 cortex-a76; do
      out=/dev/null
      [[ -n $tsv ]] && out=$tsv/$cpu/cpu_digest.json
      emulated $cpu "$python" -m tests.golden.cpu_digest >"$out" || status=1
    done
    emulated cortex-a76 "$python" -m segmenter demo --frames 6 --workers 2 --dir "$demo" \
      || status=1
  } >"$log" 2>&1
  wait $pid || a76=1
  say "the cortex-a72 tests and the demo (they ran beside the cortex-a76 tests):"
  cat "$log" >&2
  rm -rf "$demo" "$log"
  ((a76 == 0)) || status=1
  return $status
}

case ${1:-} in
  "") leg ;;
  setup) setup ;;
  python)
    shift
    python=$(setup)
    exec "$python" "$@"
    ;;
  *) sed -n '/^# Usage/,/^#$/p' "$0" >&2 && exit 2 ;;
esac
