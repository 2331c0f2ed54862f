#!/usr/bin/env bash
# The main job on a fresh machine: set up (only what the demo runs: no test tools),
# synthesise an acquisition, segment it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --for-demo
exec .venv/bin/segmenter demo "$@"
