#!/usr/bin/env bash
# Set-up on a fresh Debian machine: system packages when missing, then .venv with the project.
# Usage: scripts/setup.sh [--with-broker]   (idempotent; prints what it installs)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
if [[ "${1:-}" == "--with-broker" ]]; then
  command -v mosquitto >/dev/null || need_apt+=(mosquitto)
  command -v mosquitto_pub >/dev/null || need_apt+=(mosquitto-clients)
fi
if ((${#need_apt[@]})); then
  echo "setup: installing ${need_apt[*]} with apt-get" >&2
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
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
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  echo "setup: installing the project into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi
