"""The benchmark's part `preview`: what a previewed frame, a flat's flow-cell map and a
run's previews cost, in the JSON and the table (small synthetic frames)."""

from __future__ import annotations

from pathlib import Path

from benchmark.report import table
from benchmark.run import run_benchmark
from benchmark.settings import PARTS, BenchSettings


def test_the_preview_part_reports_its_costs(tmp_path: Path) -> None:
    settings = BenchSettings(
        frames=10,
        objects=(6.0,),
        size=(1280, 960),
        max_workers=2,
        repeats=1,
        workdir=tmp_path,
        skip=tuple(p for p in PARTS if p != "preview"),
    )
    report = run_benchmark(settings, log=lambda _message: None)
    entry = report["preview"]
    assert 0 < entry["preview_s"] < entry["kernel_s"] * 10
    assert 0 < entry["preview_bytes_max"] <= 150_000
    assert entry["flow_cell_per_flat_s"] > 0
    run = entry["run"]
    assert run["frames"] == 10 and run["previews"] >= 1 and run["with_s"] > 0 < run["without_s"]
    assert "ms per previewed frame" in table(report)
