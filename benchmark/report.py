"""The terminal table, from the JSON report."""

from __future__ import annotations

from typing import Any

from benchmark.common import Json
from benchmark.preview import preview_lines
from benchmark.stages import STAGE_TITLES, STAGES
from benchmark.targets import MB
from benchmark.verdict import verdict_lines


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def _x(value: float) -> str:
    return f"{value:7.2f}x"


def _row(title: str, cells: list[str], width: int = 34) -> str:
    return f"  {title:<{width}}" + "".join(f"{c:>20}" for c in cells)


def _stage_lines(entries: list[Json]) -> list[str]:
    with_stages = [e for e in entries if "stages" in e]
    if not with_stages:
        return []
    names = [f"{e['dataset']['name']}" for e in with_stages]
    st = [e["stages"] for e in with_stages]
    lines = ["Per frame, one process (mean over frames of the median of repeats)"]
    lines.append(_row("", names))
    lines.append(_row("objects per frame", [f"{s['objects_per_frame']:.1f}" for s in st]))
    lines.append(_row("cv2.imread floor (reused buffer)", [_ms(s["imread_s"]) for s in st]))
    lines.append(_row("cv2.imread into a new array", [_ms(s["imread_fresh_s"]) for s in st]))
    for stage in STAGES:
        lines.append(_row(STAGE_TITLES[stage], [_ms(s["stages_s"][stage]) for s in st]))
    lines.append(_row("total per frame", [_ms(s["per_frame_s"]) for s in st]))
    lines.append(
        _row("total / imread  [<= 2x at 6, 3x at 30]", [_x(s["per_frame_vs_imread"]) for s in st])
    )
    lines.append(_row("segment_frame alone", [_ms(s["kernel_s"]) for s in st]))
    lines += _qc_lines(with_stages)
    based = [e["baseline"] for e in with_stages if "baseline" in e]
    if based:
        lines.append(f"Old method (float64), same frames ({based[0]['frames']} per set)")
        lines.append(_row("baseline per frame", [_ms(b["baseline_s"]) for b in based]))
        lines.append(_row("fast per frame", [_ms(b["fast_s"]) for b in based]))
        lines.append(_row("speed-up, one process", [_x(b["speedup"]) for b in based]))
        lines.append(_row("baseline / imread", [_x(b["baseline_vs_imread"]) for b in based]))
    return lines


QC_PARTS = {"background": "background", "focus_grid": "focus grid",
            "static": "static check (at commit)"}  # fmt: skip


def _qc_lines(entries: list[Json]) -> list[str]:
    """The per-frame QC's cost (benchmark.qc_cost): background and focus grid inside
    segment_frame's time, the static check where frames commit."""
    qc = [e["qc"] for e in entries if "qc" in e]
    if len(qc) != len(entries):
        return []
    lines = [_row("  QC per frame", [_ms(q["qc_s"]) for q in qc])]
    for part, title in QC_PARTS.items():
        lines.append(_row(f"    QC: {title}", [_ms(q["parts_s"][part]) for q in qc]))
    lines.append(_row("  QC / segment_frame", [_x(q["qc_vs_kernel"]) for q in qc]))
    return lines


def _throughput_lines(entries: list[Json]) -> list[str]:
    lines = []
    for entry in entries:
        tp = entry.get("throughput")
        if not tp:
            continue
        lines.append(f"Throughput, {entry['dataset']['name']} ({tp['rows'][0]['frames']} frames)")
        lines.append(
            "  workers  mode        frames/s   objects/s   speed-up   wall"
            "   CPU, run-queue wait ms/frame"
        )
        for r in tp["rows"]:
            cpu, wait = r["cpu_per_frame_s"] * 1000, r["run_queue_wait_per_frame_s"] * 1000
            lines.append(
                f"  {r['workers']:>7}  {r['mode']:<10}{r['frames_per_s']:>9.2f}"
                f"{r['objects_per_s']:>12.1f}{r['speedup']:>10.2f}x{r['wall_s']:>8.1f} s"
                f"{cpu:>9.0f}, {wait:.0f}"
            )
    return lines


def _process_lines(process: Any) -> list[str]:
    if not process:
        return []
    runs = [f"{s:.2f}" for s in process["old_runs_s"]]
    found = f"{process['ours_objects']} objects, old {process['old_objects']}"
    if not process["objects_match"]:
        found += "  OBJECT COUNTS DIFFER"
    return [
        f"Whole process, {process['frames']} frames of {process['dataset']}"
        f" (start-up and flat field included)",
        _row(f"segmenter segment, {process['workers']} workers", [f"{process['ours_s']:.2f} s"]),
        _row("segmenter segment, 1 worker", [f"{process['ours_1_worker_s']:.2f} s"]),
        _row("the old method (old_program)", [f"{process['old_s']:.2f} s"]),
        _row("  its runs", [" / ".join(runs) + " s"]),
        _row(f"old / ours  [>= 9x with {process['workers']}]", [_x(process["old_vs_ours"])]),
        _row("old / ours, 1 worker", [_x(process["old_vs_ours_1_worker"])]),
        _row("found", [found]),
        _row("CPU, run-queue wait ms/frame", [_sched(process)]),
    ]


def _sched(process: Json) -> str:
    sides = (("ours", "2w"), ("ours_1_worker", "1w"), ("old", "old"))
    return "  ".join(
        f"{name} {process[f'{key}_cpu_per_frame_s'] * 1000:.0f},"
        f" {process[f'{key}_run_queue_wait_per_frame_s'] * 1000:.0f}"
        for key, name in sides
    )


def _other_lines(report: Json) -> list[str]:
    lines = []
    flat = report.get("flat")
    if flat:
        lines.append(f"Flat field ({flat['frames']} frames, decoding included)")
        lines.append(_row(f"pooled, {flat['workers']} workers", [_ms(flat["pooled_s"])]))
        lines.append(_row("one process", [_ms(flat["one_process_s"])]))
        lines.append(_row("baseline (np.median, float64)", [_ms(flat["baseline_s"])]))
    memory = report.get("memory") or {}
    growth = memory.get("growth")
    if growth:
        lines.append(
            f"Peak memory, all processes and the run's shared memory, {growth['workers']}"
            " workers [<= 700 MB with 3]"
        )
        for key in ("short", "long"):
            run = growth[key]
            peak, pss = run["peak_bytes"] / MB, run["peak_pss_bytes"] / MB
            text = f"{peak:.0f} MB (PSS alone {pss:.0f})"
            lines.append(_row(f"{run['frames']} frames", [text]))
        lines.append(_row("growth  [<= 1.10x]", [_x(growth["growth"])]))
    in_flight = memory.get("in_flight")
    if in_flight:
        per = in_flight["bytes"] / MB
        lines.append(_row("one frame in flight  [<= 3x]", [f"{per:.0f} MB"]))
        lines.append(_row("  vs frame uint8 size", [_x(in_flight["vs_frame"])]))
    stop = report.get("stop")
    if stop:
        lines.append(f"Stop latency, {stop['stops']} stops, {stop['workers']} workers")
        cells = [_ms(stop[k]) for k in ("p50_s", "p95_s", "max_s")]
        lines.append(_row("p50 / p95 [<= 1 s] / max", [" / ".join(c.strip() for c in cells)]))
        lines.append(_row("resumed to the end", ["yes" if stop["resumed_to_done"] else "NO"]))
    lines.extend(_mqtt_lines(report.get("mqtt")))
    return lines


def _mqtt_lines(mqtt: Any) -> list[str]:
    if not mqtt:
        return []
    head = f"MQTT end to end ({mqtt['broker']})"
    if "skipped" in mqtt or "error" in mqtt:
        return [f"{head}: {mqtt.get('skipped') or mqtt.get('error')}"]
    return [
        head,
        _row("command -> Started", [_ms(mqtt["to_started_s"])]),
        _row("command -> Done", [_ms(mqtt["to_done_s"])]),
        _row(
            "stop -> Interrupted p50 / p95",
            [
                f"{mqtt['stop_to_interrupted_p50_s'] * 1000:.0f} / "
                f"{mqtt['stop_to_interrupted_p95_s'] * 1000:.0f} ms"
            ],
        ),
    ]


def _recommended_lines(rec: Any) -> list[str]:
    if not rec:
        return []
    shares = ", ".join(f"{r['workers']}: {r['relative']:.2f}" for r in rec["relative_throughput"])
    return [
        f"Recommended: --workers {rec['workers']} (the fewest within 5% of the best throughput;"
        f" relative throughput {shares})"
    ]


def _target_lines(targets: list[Json]) -> list[str]:
    if not targets:
        return []
    lines = [
        "Targets (met / MISSED / n/c: this run's inputs are not the target's, the full run's,"
        " or other processes held the cores)"
    ]
    for t in targets:
        mark = ("met" if t["met"] else "MISSED") if t["comparable"] else "n/c"
        line = (
            f"  {mark:<9}{t['name']:<28}{t['value']:>9.3g} {t['comparison']} {t['limit']:<6.3g}"
            f" ({t['scope']})"
        )
        if not t["comparable"]:
            line += f"  not comparable: needs {', '.join(t['lacks'])}"
        lines.append(line)
    return lines


def table(report: Json, with_targets: bool = False) -> str:
    """The verdict first, then the figures; the targets' verdicts with `with_targets`."""
    m = report["machine"]
    s = report["settings"]
    mem = m["memory_bytes"] / 2**30
    lines = [
        *verdict_lines(report),
        f"Segmenter benchmark{' (quick)' if s['quick'] else ''}: {m['cpu_model']}, "
        f"{m['cores']} cores, {mem:.1f} GiB, Python {m['python']}, OpenCV {m['opencv']}",
        f"Input: {s['input']}",
    ]
    lines += _stage_lines(report["datasets"])
    lines += _throughput_lines(report["datasets"])
    lines += _process_lines(report.get("process"))
    lines += _other_lines(report)
    lines += preview_lines(report.get("preview"))
    lines += _recommended_lines(report.get("recommended_workers"))
    if with_targets:
        lines += _target_lines(report.get("targets") or [])
    return "\n".join(lines)
