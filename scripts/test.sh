#!/usr/bin/env bash
# Everything CI checks: set-up (with a broker binary for the MQTT tests), lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-broker
echo "== ruff" && .venv/bin/ruff check segmenter worker streamer benchmark tests
.venv/bin/ruff format --check segmenter worker streamer benchmark tests
echo "== mypy" && .venv/bin/mypy
echo "== pytest" && exec .venv/bin/python -m pytest "$@"
