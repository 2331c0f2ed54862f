"""The answer a PlanktoScope user runs the benchmark for, printed first: which --workers,
how long a 400-frame acquisition takes here at each density measured, and how far the
figures can be trusted (a quick run's few small frames, a busy machine, a close call)."""

from __future__ import annotations

from typing import Any

from benchmark.common import Json
from benchmark.runqueue import waited

ACQUISITION = 400  # frames: a PlanktoScope acquisition
BUSY = 0.5  # load average per core above which the timings are disturbed
FULL_SIZE = (4056, 3040)


def _objects(entry: Json) -> float:
    target = entry["dataset"].get("objects_per_frame_target")
    if target is not None:
        return float(target)
    return float(entry.get("stages", {}).get("objects_per_frame", 0.0))


def doubts(report: Json, recommended: Json) -> list[str]:
    """Why the verdict may be off on this machine; empty when it is a full, quiet run."""
    out = []
    rows = [e["throughput"]["rows"] for e in report["datasets"] if e.get("throughput")]
    frames = rows[0][0]["frames"] if rows else 0
    size = tuple(report["settings"]["size"])
    if frames < ACQUISITION or size != FULL_SIZE:
        w, h = size
        out.append(f"{frames}-frame runs of {w}x{h} frames, scaled to {ACQUISITION}")
    cores = report["machine"]["cores"]
    load = max(report["machine"].get("load_average", [0.0])[0],
               report.get("load_average_end", [0.0])[0])  # fmt: skip
    said = waited(r for row in rows for r in row)
    if load > BUSY * cores or said:
        busy = "; ".join(x for x in (f"load {load:.1f} on {cores} cores", said) if x)
        out.append(f"a busy machine ({busy})")
    close = [r["workers"] for r in recommended["relative_throughput"]
             if r["workers"] != recommended["workers"] and r["relative"] >= 0.9]  # fmt: skip
    if close:
        counts = ", ".join(str(n) for n in close)
        out.append(f"--workers {counts} within 10% of the same speed")
    return out


def verdict_lines(report: Json) -> list[str]:
    recommended: Any = report.get("recommended_workers")
    if not recommended:
        return []
    n = recommended["workers"]
    times = []
    for entry in report["datasets"]:
        rows = {r["workers"]: r for r in (entry.get("throughput") or {}).get("rows", [])}
        if n in rows and rows[n]["frames_per_s"] > 0:
            times.append((_objects(entry), ACQUISITION / rows[n]["frames_per_s"]))
    if not times:
        return []
    (o, s), *rest = times
    size = tuple(report["settings"]["size"])
    frames = "" if size == FULL_SIZE else f" of {size[0]}x{size[1]} frames"
    text = (
        f"use --workers {n}: a {ACQUISITION}-frame acquisition{frames} at {o:g} objects per frame"
    )
    text += f" takes about {s:.0f} s here" + "".join(f", at {o:g} about {s:.0f} s" for o, s in rest)
    why = doubts(report, recommended)
    sure = (
        "fairly sure: a full run on a quiet machine"
        if not why
        else f"a rough guide ({'; '.join(why)}): the full run (`segmenter benchmark`, "
        "15-20 minutes) on an idle machine gives figures to rely on"
    )
    return [f"Verdict: {text}.", f"  How sure: {sure}."]
