"""`python -m benchmark.cluster`: the engine on a Dask LocalCluster of N workers against
the local pool of N workers, on the same synthetic acquisition.

Figures: throughput of whole forced runs (as benchmark.throughput measures them, pools
started and warmed first, local and cluster runs alternating) and their ratio, for one
acquisition and for several in one run (the cluster takes two at a time, the local pool
one after the other); what crosses the network per frame, from one more, untimed,
cluster run: the pickled task sent and the pickled result received by this process, and
the bytes the workers sent one another (Dask's own `transfer_outgoing_bytes_total`: the
rows of the decoded flat frames on their way to the median strips, the strips, the
flat's replicas); the time from a stop to an idle engine (stops a few frames into a
run).
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmark.common import Json, keep_sigint, median, ratio
from benchmark.flatfield import warm
from benchmark.inputs import Dataset, linked_acquisition, synth_datasets
from benchmark.machine import machine_info
from benchmark.throughput import run_once
from segmenter.cli.args import frame_size, positive_int
from segmenter.engine import Progress, Segmenter
from segmenter.engine.cluster import ClusterPool, ClusterSpec
from segmenter.settings import RunSettings
from worker.tasks import ChunkTask, run_chunk


def _cluster(workers: int) -> Segmenter:
    with keep_sigint():
        return Segmenter(1, ClusterSpec(local_workers=workers))


def _peer_bytes(pool: ClusterPool) -> int:
    def sent(dask_worker: Any) -> int:
        return int(dask_worker.transfer_outgoing_bytes_total)

    return sum(pool.client.run(sent).values())


def measure_bytes(ds: Dataset, workers: int) -> Json:
    """One cluster run counting the pickled tasks and results and the peer transfers."""
    seg = _cluster(workers)
    pool = seg.pool
    assert isinstance(pool, ClusterPool)
    counts = {"tasks": 0, "task_bytes": 0, "result_bytes": 0}
    submit_chunk = pool.submit_chunk

    def counting(task: ChunkTask) -> Future[Any]:
        counts["tasks"] += 1
        counts["task_bytes"] += len(pickle.dumps((run_chunk, (task,))))
        fut = submit_chunk(task)
        fut.add_done_callback(_count_result(counts))
        return fut

    try:
        pool.submit_chunk = counting  # type: ignore[method-assign]
        before = _peer_bytes(pool)
        (summary,) = seg.run([ds.folder], RunSettings(force=True), data_root=ds.data_root)
        peers = _peer_bytes(pool) - before
    finally:
        seg.close()
    frames = summary.frames
    return {
        "frames": frames,
        "tasks": counts["tasks"],
        "task_bytes_per_frame": counts["task_bytes"] / frames,
        "result_bytes_per_frame": counts["result_bytes"] / frames,
        "peer_bytes": peers,
        "peer_bytes_per_frame": peers / frames,
        "flat_bytes": ds.width * ds.height * 3,
    }


def _count_result(counts: dict[str, int]) -> Any:
    def done(fut: Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            counts["result_bytes"] += len(pickle.dumps(fut.result()))

    return done


def measure_stops(ds: Dataset, workers: int, *, stops: int, after: int) -> Json:
    """Stop `after` frames into a run, `stops` times (each run resumes the last)."""
    seg = _cluster(workers)
    latencies: list[float] = []
    asked: list[float] = []

    def stop_soon(event: Progress) -> None:
        if event.phase == "frame" and event.done == after and not asked:
            asked.append(time.perf_counter())
            threading.Thread(target=seg.stop, kwargs={"wait": False}).start()

    try:
        seg.run([ds.folder], RunSettings(force=True), data_root=ds.data_root)  # warm
        for _ in range(stops):
            asked.clear()
            settings = RunSettings(force=True)  # each stop a few frames into a fresh run
            (summary,) = seg.run(
                [ds.folder], settings, data_root=ds.data_root, on_progress=stop_soon
            )
            if asked and summary.status == "interrupted":
                latencies.append(time.perf_counter() - asked[0])
    finally:
        seg.close()
    return {
        "stops": len(latencies),
        "after_frames": after,
        "p50_s": median(latencies) if latencies else None,
        "max_s": max(latencies) if latencies else None,
    }


@contextmanager
def _both_sides(workers: int) -> Iterator[dict[str, Segmenter]]:
    """The local pool and the cluster, warmed, in the order the runs alternate; closed."""
    segs = {"local": Segmenter(workers), "cluster": _cluster(workers)}
    try:
        for seg in segs.values():
            warm(seg.pool)
        yield segs
    finally:
        for seg in segs.values():
            seg.close()


def measure_many(ds: Dataset, workers: int, *, count: int, repeats: int, workdir: Path) -> Json:
    """`count` acquisitions of `ds`'s frames in one run: the local pool takes them one
    after the other, the cluster two at a time (engine.cluster_runs)."""
    root = workdir / "many"
    for i in range(count):
        linked_acquisition(ds, root, n_frames=len(ds.frames), acq_id=f"bench_many_{i}")
    out: Json = {"acquisitions": count, "frames": count * len(ds.frames)}
    walls: dict[str, list[float]] = {"local": [], "cluster": []}
    with _both_sides(workers) as segs:
        for _ in range(repeats):
            for mode, seg in segs.items():
                start = time.perf_counter()
                summaries = seg.run([root / "img"], RunSettings(force=True), data_root=root)
                walls[mode].append(time.perf_counter() - start)
                if [s.status for s in summaries] != ["done"] * count:
                    raise RuntimeError(f"benchmark run of {root} ended {summaries}")
    for mode, times in walls.items():
        out[mode] = {"wall_s": median(times), "frames_per_s": out["frames"] / median(times)}
    out["throughput_ratio"] = ratio(out["cluster"]["frames_per_s"], out["local"]["frames_per_s"])
    return out


def measure_cluster(
    ds: Dataset, workers: int, *, repeats: int, stops: int, many: int, workdir: Path
) -> Json:
    """Local and cluster runs alternate, so that the load of a shared machine weighs on
    both alike; medians of `repeats`."""
    runs: dict[str, list[Json]] = {"local": [], "cluster": []}
    with _both_sides(workers) as segs:
        for _ in range(repeats):
            for mode, seg in segs.items():
                runs[mode].append(run_once(seg, ds))
    rows: list[Json] = []
    for mode, done in runs.items():
        wall = median([r["wall_s"] for r in done])
        frames = done[0]["frames"]
        rows.append({"mode": mode, "frames": frames, "wall_s": wall, "frames_per_s": frames / wall})
    local, cluster = rows
    return {
        "workers": workers,
        "repeats": repeats,
        "rows": rows,
        "throughput_ratio": ratio(cluster["frames_per_s"], local["frames_per_s"]),
        "many": measure_many(ds, workers, count=many, repeats=repeats, workdir=workdir),
        "bytes": measure_bytes(ds, workers),
        "stop": measure_stops(ds, workers, stops=stops, after=3),
    }


def table(report: Json) -> str:
    lines = [f"{'run':<28}{'frames/s':>10}{'wall s':>9}"]
    for row in report["rows"]:
        name = f"{row['mode']} ({report['workers']} workers)"
        lines.append(f"{name:<28}{row['frames_per_s']:>10.2f}{row['wall_s']:>9.2f}")
    b, stop, many = report["bytes"], report["stop"], report["many"]
    lines += [
        f"throughput ratio cluster/local: {report['throughput_ratio']:.2f}",
        f"{many['acquisitions']} acquisitions in one run: local "
        f"{many['local']['frames_per_s']:.2f} frames/s, cluster "
        f"{many['cluster']['frames_per_s']:.2f} frames/s, ratio {many['throughput_ratio']:.2f}",
        f"per frame: task {b['task_bytes_per_frame']:.0f} B sent, "
        f"result {b['result_bytes_per_frame'] / 1e3:.1f} kB back, "
        f"between workers {b['peer_bytes_per_frame'] / 1e6:.1f} MB "
        f"(flat {b['flat_bytes'] / 1e6:.0f} MB)",
        f"stop to idle: p50 {stop['p50_s']:.2f} s, max {stop['max_s']:.2f} s "
        f"({stop['stops']} stops)",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmark.cluster", description=__doc__)
    p.add_argument("--workers", type=positive_int, default=2, help="on each side (2)")
    p.add_argument("--frames", type=positive_int, default=48, help="frames (48)")
    p.add_argument("--objects", type=float, default=6.0, help="objects per frame (6)")
    p.add_argument("--size", type=frame_size, default=(4056, 3040), help="WxH (4056x3040)")
    p.add_argument("--repeats", type=positive_int, default=2, help="timed runs, median (2)")
    p.add_argument("--stops", type=positive_int, default=3, help="stops to time (3)")
    p.add_argument(
        "--acquisitions", type=positive_int, default=3, help="in the several-acquisition run (3)"
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="write the figures as JSON")
    args = p.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="segmenter-bench-cluster-"))
    try:
        (ds,) = synth_datasets(
            workdir, args.frames, densities=[args.objects], size=args.size, seed=0
        )
        report = {"machine": machine_info(), "input": ds.info()}
        report |= measure_cluster(
            ds,
            args.workers,
            repeats=args.repeats,
            stops=args.stops,
            many=args.acquisitions,
            workdir=workdir,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
