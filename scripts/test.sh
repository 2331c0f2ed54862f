#!/usr/bin/env bash
# Everything CI checks: set-up (what the tests need, see setup.sh --for-tests), lint, types,
# the arm64 leg (scripts/arm64.sh: emulated Raspberry Pi CPUs), tests; all but the set-up
# side by side.
# The arm64 leg runs beside lint, types and pytest, at a lower priority: it is emulation, all
# CPU, while they mostly wait on processes and brokers and answer within times; it takes the
# cycles they leave. pytest runs on SEGMENTER_TEST_PROCESSES processes (pytest-xdist,
# default 3), a module's tests on one process (--dist loadscope: its fixtures made once).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --for-tests
# our modules compiled once: where PYTHONDONTWRITEBYTECODE is set, each of the suite's hundreds
# of processes (CLI runs, pool workers, the emulated ones) compiled them again (0.1 CPU-s a
# native process, 1.7 an emulated one)
.venv/bin/python -m compileall -q -j 0 segmenter worker streamer benchmark tests >/dev/null
# the arm64 leg writes its golden TSVs and digests here; tests/golden/ compares them with ours,
# waiting while `.running` is there (tests/golden/arm64_outputs.py)
arm64_tsv=$(mktemp -d)
arm64_log=$arm64_tsv.log
leg="" lint_pid=""
cleanup() {
  [[ -z $lint_pid ]] || kill -- -"$lint_pid" 2>/dev/null || true
  if [[ -n $leg ]]; then
    kill -- -"$leg" 2>/dev/null || true
    wait "$leg" 2>/dev/null || true
  fi
  rm -rf "$arm64_tsv" "$arm64_log" "$arm64_tsv.lint"
}
trap cleanup EXIT
if [[ ${SEGMENTER_SKIP_ARM64:-} == 1 && ${CI:-} != true ]]; then
  echo "== arm64: SKIPPED (SEGMENTER_SKIP_ARM64=1): the golden TSV comparison with arm64 skips too"
else
  echo "== arm64 (beside the rest; its output comes after pytest's)"
  touch "$arm64_tsv/.running"
  # in its own process group, so that an interrupted run ends the leg's emulators too
  setsid nice -n 10 bash -c 'status=0
    SEGMENTER_ARM64_TSV=$1 scripts/arm64.sh >"$2" 2>&1 || status=$?
    echo "$status" >"$1/.status"
    rm -f "$1/.running"' arm64-leg "$arm64_tsv" "$arm64_log" &
  leg=$!
  export SEGMENTER_ARM64_TSV=$arm64_tsv
fi
# lint and types beside pytest too (a core for half a minute, while pytest mostly waits);
# their output is shown after pytest's, before the tests that want the machine to themselves
lint_log=$arm64_tsv.lint
setsid bash -c 'status=0
  echo "== ruff" && .venv/bin/ruff check segmenter worker streamer benchmark tests || status=1
  .venv/bin/ruff format --check segmenter worker streamer benchmark tests || status=1
  echo "== mypy" && { .venv/bin/mypy || status=1; }
  exit $status' >"$lint_log" 2>&1 &
lint_pid=$!
# the 15 slowest tests are listed at the end: the suite should stay under ~8 minutes
# then, by themselves, the few that hold the service to answer within a time (marked `alone`);
# 5 is pytest's "no test selected" (arguments that pick tests of one part only)
echo "== pytest" && pytest=0
.venv/bin/python -m pytest -n "${SEGMENTER_TEST_PROCESSES:-3}" --dist loadscope --durations=15 \
  -m "not alone" "$@" || pytest=$?
((pytest == 5)) && pytest=0
lint=0
wait "$lint_pid" || lint=1
lint_pid=""
cat "$lint_log"
echo "== pytest, the tests marked alone" && alone=0
.venv/bin/python -m pytest -m alone "$@" || alone=$?
((alone == 5)) && alone=0
((pytest)) || pytest=$alone
arm64=0
if [[ -n $leg ]]; then
  wait "$leg" || true
  leg=""
  echo "== arm64 (it ran beside the above)"
  cat "$arm64_log"
  arm64=$(cat "$arm64_tsv/.status" 2>/dev/null || echo 1)
  ((arm64 == 0)) || echo "== the arm64 leg failed (above, under == arm64)" >&2
fi
((lint == 0)) || echo "== ruff or mypy failed (above)" >&2
((pytest == 0 && arm64 == 0 && lint == 0)) || exit $((pytest ? pytest : arm64 ? arm64 : 1))
