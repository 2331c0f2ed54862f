#!/usr/bin/env bash
# Everything CI checks: set-up (what the tests need, see setup.sh --for-tests), lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --for-tests
echo "== ruff" && .venv/bin/ruff check segmenter worker streamer benchmark tests
.venv/bin/ruff format --check segmenter worker streamer benchmark tests
echo "== mypy" && .venv/bin/mypy
# the 15 slowest tests are listed at the end: the suite should stay under ~10 minutes
echo "== pytest" && exec .venv/bin/python -m pytest --durations=15 "$@"
