"""The benchmark's first lines answer a Pi user's question (which --workers, how long an
acquisition takes here) and say how far to trust it; worked out on report dicts."""

from __future__ import annotations

from typing import Any

from benchmark.verdict import verdict_lines


def fake_report(*, frames: int, size: tuple[int, int], load: float, rel_1: float) -> Any:
    def entry(objects: float, fps_2: float) -> dict[str, Any]:
        rows = [{"workers": 1, "frames_per_s": fps_2 * rel_1, "frames": frames},
                {"workers": 2, "frames_per_s": fps_2, "frames": frames}]  # fmt: skip
        return {"dataset": {"objects_per_frame_target": objects}, "throughput": {"rows": rows}}

    return {
        "machine": {"cores": 4, "load_average": [load, 0, 0]},
        "load_average_end": [load, 0, 0],
        "settings": {"size": size},
        "datasets": [entry(6, 4.0), entry(30, 2.5)],
        "recommended_workers": {
            "workers": 2,
            "relative_throughput": [
                {"workers": 1, "relative": rel_1},
                {"workers": 2, "relative": 1.0},
            ],
        },
    }


def test_a_full_quiet_run_is_trusted() -> None:
    first, sure = verdict_lines(fake_report(frames=400, size=(4056, 3040), load=0.5, rel_1=0.55))
    assert first == (
        "Verdict: use --workers 2: a 400-frame acquisition at 6 objects per frame takes "
        "about 100 s here, at 30 about 160 s."
    )
    assert sure == "  How sure: fairly sure: a full run on a quiet machine."


def test_a_quick_run_on_a_busy_machine_says_why_it_is_rough() -> None:
    first, sure = verdict_lines(fake_report(frames=6, size=(2028, 1520), load=3.1, rel_1=0.93))
    assert first.startswith("Verdict: use --workers 2: a 400-frame acquisition of 2028x1520 ")
    assert "a rough guide" in sure
    assert "6-frame runs of 2028x1520 frames" in sure
    assert "a busy machine (load 3.1 on 4 cores)" in sure
    assert "--workers 1 within 10%" in sure
    assert "segmenter benchmark" in sure


def test_a_run_that_waited_for_the_cores_is_a_rough_guide_whatever_the_load() -> None:
    report = fake_report(frames=400, size=(4056, 3040), load=0.5, rel_1=0.55)
    rows = report["datasets"][1]["throughput"]["rows"]
    for row, wait in zip(rows, (0.01, 0.3), strict=True):
        row.update(cpu_per_frame_s=0.5, run_queue_wait_per_frame_s=wait)
    _, sure = verdict_lines(report)
    assert "a rough guide (a busy machine (load 0.5 on 4 cores; run-queue wait 300 ms/frame" in sure
    rows[1]["run_queue_wait_per_frame_s"] = 0.05
    assert verdict_lines(report)[1] == "  How sure: fairly sure: a full run on a quiet machine."
