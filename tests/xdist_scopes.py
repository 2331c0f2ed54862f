"""scripts/test.sh runs the suite on pytest-xdist processes with `--dist loadscope`: a
module's tests on one process, so that its module fixtures are made once. This scheduler
(tests/conftest.py hands it to xdist) also keeps together the modules of each group in
SAME_PROCESS, whose tests share work cached per process, hands out the longest modules
first (the last one handed out would end the run late) and the one that only waits for the
arm64 leg last (xdist queues a second module behind a process's last two tests: it would
wait there too)."""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

# The old method's runs of the baseline acquisitions (tests/benchmark/old_runs.py): held to
# the old program's outputs by the first, the source of the 2026-06 oracle for the second.
SAME_PROCESS = (("tests/benchmark/test_old_method.py", "tests/golden/test_golden_2026_06.py"),)
_SCOPE = {module: group[0] for group in SAME_PROCESS for module in group}
# The longest, longest first (`--durations`; the golden module waits for the leg at its end).
FIRST = ("tests/golden/test_golden.py", "tests/benchmark/test_old_method.py")
LAST = ("tests/golden/test_arm64.py",)  # its two tests wait for the arm64 leg


class SharedScopes(LoadScopeScheduling):  # type: ignore[misc]
    def _split_scope(self, nodeid: str) -> str:
        scope = str(super()._split_scope(nodeid))
        return _SCOPE.get(scope, scope)

    def _assign_work_unit(self, node: object) -> None:
        queue = self.workqueue
        for scope in reversed(FIRST):
            if scope in queue:
                queue.move_to_end(scope, last=False)
        for scope in LAST:
            if scope in queue:
                queue.move_to_end(scope)
        super()._assign_work_unit(node)
