#!/usr/bin/env bash
# Set-up on a fresh Debian machine: system packages when missing, then .venv with the project.
# Usage: scripts/setup.sh [--for-demo] [--with-broker] [--with-dashboard] [--for-tests]
#   (idempotent)
#   --for-demo        the package and its report extra only (what `segmenter demo` runs)
#   --with-broker     mosquitto and mosquitto-clients (the MQTT tests start their own broker)
#   --with-dashboard  the dashboard harness of ../shared/dashboard-harness: its build.sh
#                     installs nodejs, npm and Node-RED into its home and saves the upstream
#                     dashboard flows there, taken from DASHBOARD_GIT / PLANKTOSCOPE_GIT or
#                     FLOWS_D / FLOWS_F when set (see its README); later runs need none
#   --for-tests       all of the above, plus openssl and systemd-analyze and the project's
#                     [cluster] extra (Dask): what the test suite needs so that nothing
#                     skips (under CI=true a skip fails)
set -euo pipefail
cd "$(dirname "$0")/.."

broker=0 dashboard=0 tools=0 extras=dev,report,upload
for arg in "$@"; do
  case $arg in
    --for-demo) extras=report ;;
    --with-broker) broker=1 ;;
    --with-dashboard) dashboard=1 ;;
    --for-tests) broker=1 dashboard=1 tools=1 extras=dev,report,upload,cluster ;;
    *) echo "usage: scripts/setup.sh [--for-demo] [--with-broker] [--with-dashboard] [--for-tests]" >&2; exit 2 ;;
  esac
done

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
if ((broker)); then
  command -v mosquitto >/dev/null || need_apt+=(mosquitto)
  command -v mosquitto_pub >/dev/null || need_apt+=(mosquitto-clients)
fi
if ((tools)); then
  command -v openssl >/dev/null || need_apt+=(openssl)
  command -v systemd-analyze >/dev/null || need_apt+=(systemd)
fi
SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
if ((${#need_apt[@]})); then
  echo "setup: installing ${need_apt[*]} with apt-get" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# Debian's mosquitto package starts a broker on :1883; tests start their own on free ports.

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"setup: Python >= 3.11 is needed, this is {sys.version.split()[0]}")
PY

stamp=.venv/.installed
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
# the stamp holds the extras installed: --for-tests after a plain set-up adds Dask
if [[ ! -f $stamp || pyproject.toml -nt $stamp || $(cat "$stamp") != *"$extras"* ]]; then
  echo "setup: installing the project into .venv ([$extras])" >&2
  # uv installs what pip would (the same versions) in seconds, not half a minute; compiled
  # to bytecode as pip does (no process writes it where PYTHONDONTWRITEBYTECODE is set)
  .venv/bin/python -m pip install -q --disable-pip-version-check uv >/dev/null
  .venv/bin/uv pip install -q --compile-bytecode --python .venv/bin/python -e ".[$extras]"
  echo "$extras" >"$stamp"
fi

if ((dashboard)); then
  harness=../shared/dashboard-harness
  home=${DASHBOARD_HARNESS_HOME:-$HOME/.cache/dashboard-harness}
  given=${DASHBOARD_GIT:-}${PLANKTOSCOPE_GIT:-}${FLOWS_D:-}${FLOWS_F:-}
  if [[ ! -x $harness/build.sh ]]; then
    echo "setup: no $harness: the dashboard tests will say so" >&2
  elif [[ -n $given || ! -f $home/node_modules/node-red/red.js || ! -f $home/upstream/flows_D.json \
          || ! -f $home/upstream/flows_F.json ]]; then
    echo "setup: building the dashboard harness in $home" >&2
    "$harness/build.sh" >&2 \
      || echo "setup: the dashboard harness is not ready (above); the dashboard tests will say what is missing" >&2
  fi
fi
