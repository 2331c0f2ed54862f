"""The speed targets (issue 26's, and those of issues 16 and 4 that still stand), each
with its figure, whether it is met, and whether this run can say so.

A target is defined on a given input: per-frame ratios on 4056x3040 frames, scaling and
the old-method ratio on a 400-frame acquisition, peak memory with 3 workers (the Pi 5
setting) on 400 frames, the whole-process ratio on 20 frames of 4056x3040. A run on
other inputs (the quick run's 2028x1520 frames and short acquisitions) still reports the
figure and the verdict, marked not comparable with what it lacks: only the full run
decides. So are the worker scaling and the 2-worker ratio when the run waited long on the
run queue (benchmark.runqueue: other processes had the cores), whatever the inputs.
"""

from __future__ import annotations

import math

from benchmark.common import Json, ratio
from benchmark.runqueue import busy_lack

MB = 1e6
FULL_SIZE = [4056, 3040]
LONG_FRAMES = 400
PI5_WORKERS = 3
LIMITS = {  # name: (comparison, limit); per_frame_vs_imread's limit depends on the density
    "per_frame_vs_imread": ("<=", math.nan),
    "two_workers_speedup": (">=", 1.85),
    "vs_old_two_workers": (">=", 10.0),
    "vs_old_process": (">=", 9.0),
    "process_two_workers_speedup": (">=", 1.6),
    "peak_memory_mb": ("<=", 700.0),
    "stop_p95_s": ("<=", 1.0),
    "memory_growth": ("<=", 1.10),
    "in_flight_vs_frame": ("<=", 3.0),
    "mqtt_stop_p95_s": ("<=", 1.0),
}
CLOSE = 0.05  # worker counts within 5% of the best throughput count as as fast


def per_frame_limit(objects_per_frame: float) -> float:
    """2.0x the imread floor at 6 objects per frame, 3.0x at 30, linear between."""
    k = min(max(objects_per_frame, 6.0), 30.0)
    return 2.0 + (k - 6.0) / 24.0


def _target(name: str, value: float, *, scope: str, lacks: list[str], limit: float = 0.0) -> Json:
    comparison, fixed = LIMITS[name]
    limit = fixed if math.isfinite(fixed) else limit
    met = value <= limit if comparison == "<=" else value >= limit
    return {
        "name": name,
        "scope": scope,
        "value": value,
        "comparison": comparison,
        "limit": limit,
        "met": bool(met and math.isfinite(value)),
        "comparable": not lacks,
        "lacks": lacks,
    }


def _size_lacks(entry: Json) -> list[str]:
    ds = entry["dataset"]
    return [] if [ds["width"], ds["height"]] == FULL_SIZE else ["4056x3040 frames"]


def _frames_lacks(frames: int) -> list[str]:
    return [] if frames >= LONG_FRAMES else [f"a {LONG_FRAMES}-frame acquisition"]


def _dataset_targets(entry: Json) -> list[Json]:
    out = []
    scope = entry["dataset"]["name"]
    stages = entry.get("stages")
    if stages:
        density = entry["dataset"]["objects_per_frame_target"] or stages["objects_per_frame"]
        value, lacks = stages["per_frame_vs_imread"], _size_lacks(entry)
        out.append(
            _target(
                "per_frame_vs_imread",
                value,
                scope=scope,
                lacks=lacks,
                limit=per_frame_limit(density),
            )
        )
    rows = {r["workers"]: r for r in (entry.get("throughput") or {}).get("rows", [])}
    if 2 in rows:
        lacks = _frames_lacks(rows[2]["frames"])
        busy = busy_lack([rows[2], rows.get(1, rows[2])])
        value = rows[2]["speedup"]
        out.append(_target("two_workers_speedup", value, scope=scope, lacks=lacks + busy))
        if "baseline" in entry:
            value = entry["baseline"]["baseline_s"] * rows[2]["frames_per_s"]
            lacks = _size_lacks(entry) + lacks + busy_lack([rows[2]])
            out.append(_target("vs_old_two_workers", value, scope=scope, lacks=lacks))
    return out


def targets(report: Json) -> list[Json]:
    """Every target this report has a figure for."""
    out = [t for entry in report["datasets"] for t in _dataset_targets(entry)]
    full_size = (
        list(report["settings"]["size"]) == FULL_SIZE and not report["settings"]["acquisition"]
    )
    size_lacks = [] if full_size else ["4056x3040 frames"]
    process = report.get("process")
    if process:
        scope = f"{process['frames']} frames, {process['workers']} workers, whole process"
        lacks = _size_lacks({"dataset": process})
        busy = busy_lack([process], "ours_") + busy_lack([process], "old_")
        value = process["old_vs_ours"]
        out.append(_target("vs_old_process", value, scope=scope, lacks=lacks + busy[:1]))
        speedup = ratio(process["ours_1_worker_s"], process["ours_s"])
        scope = f"{process['frames']} frames, whole process, {process['workers']} workers vs 1"
        busy = busy_lack([process], "ours_") + busy_lack([process], "ours_1_worker_")
        lacks += busy[:1]
        out.append(_target("process_two_workers_speedup", speedup, scope=scope, lacks=lacks))
    if report.get("stop"):
        out.append(_target("stop_p95_s", report["stop"]["p95_s"], scope="engine", lacks=[]))
    growth = (report.get("memory") or {}).get("growth")
    if growth:
        long = growth["long"]
        scope = f"{growth['workers']} workers, {long['frames']} frames"
        lacks = size_lacks + _frames_lacks(long["frames"])
        if growth["workers"] != PI5_WORKERS:
            lacks.append(f"--memory-workers {PI5_WORKERS}")
        out.append(_target("peak_memory_mb", long["peak_bytes"] / MB, scope=scope, lacks=lacks))
        frames = f"{growth['short']['frames']} -> {long['frames']} frames"
        lacks = size_lacks + _frames_lacks(long["frames"])
        out.append(_target("memory_growth", growth["growth"], scope=frames, lacks=lacks))
    in_flight = (report.get("memory") or {}).get("in_flight")
    if in_flight:
        value = in_flight["vs_frame"]
        out.append(
            _target("in_flight_vs_frame", value, scope="one process", lacks=list(size_lacks))
        )
    mqtt = report.get("mqtt") or {}
    if "stop_to_interrupted_p95_s" in mqtt:
        out.append(
            _target("mqtt_stop_p95_s", mqtt["stop_to_interrupted_p95_s"], scope="service", lacks=[])
        )
    return out


def recommended_workers(report: Json) -> Json | None:
    """The fewest workers whose throughput is within 5% of the best, over every dataset
    measured (geometric mean of each count's frames/s relative to the best count's)."""
    tables = [
        {r["workers"]: r["frames_per_s"] for r in e["throughput"]["rows"]}
        for e in report["datasets"]
        if e.get("throughput")
    ]
    if not tables:
        return None
    counts = sorted(set.intersection(*(set(t) for t in tables)))
    score: dict[int, float] = {}
    for n in counts:
        logs = [math.log(ratio(t[n], max(t.values()))) for t in tables]
        score[n] = math.exp(sum(logs) / len(logs))
    best = max(score.values())
    workers = min(n for n in counts if score[n] >= best * (1 - CLOSE))
    relative = [{"workers": n, "relative": score[n]} for n in counts]
    return {"workers": workers, "relative_throughput": relative}
