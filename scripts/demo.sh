#!/usr/bin/env bash
# The main job on a fresh machine: set up, synthesise an acquisition, segment it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/segmenter demo "$@"
