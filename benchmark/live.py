"""Live segmentation against a realistic imager: `segmenter benchmark live`.

An acquisition is played by the project's replay tool (segmenter.live.replay: write,
fsync, integrity.check line, then the imager's messages) into a fresh folder at a given
rate, while the engine segments it live through the folder watcher, as `segmenter serve`
does (its messages go straight to the live source here: no broker in the loop). Per
frame, the latency from its progress event to its commit; the time from the imager's
Done to the archive; the peak lag; the peak PSS of this process tree.

  segmenter benchmark live --rates 1 3 --workers 2      (4056x3040 synthetic frames)
  segmenter benchmark live --acquisition DATA/img/.../A_1 --rates 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from benchmark.common import Json
from benchmark.inputs import synth_datasets
from benchmark.memory import TreeSampler
from segmenter.cli.args import frame_size, positive_float, positive_int
from segmenter.engine import Progress, Segmenter
from segmenter.engine.source import LiveFrames
from segmenter.errors import SegmenterError
from segmenter.live import replay
from segmenter.live.imager import END_REASONS, Kind, parse_imager
from segmenter.live.watch import FolderWatcher
from segmenter.settings import RunSettings

MB = 1024 * 1024


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _spread(values: list[float]) -> Json:
    return {
        "p50": _quantile(values, 0.5),
        "p95": _quantile(values, 0.95),
        "max": max(values, default=None),
    }


def live_run(source: Path, workdir: Path, *, rate: float, workers: int, frames: int | None) -> Json:
    """Replay `source` at `rate` frames/s and segment it live; the figures of one run."""
    root = workdir / f"live_{rate:g}"
    (root / "img").mkdir(parents=True)
    plan = replay.plan(source, root, rate=rate, rel=Path("bench/live/A_live"), frames=frames)
    events: dict[str, float] = {}  # frame name -> time of its progress event
    commits: dict[str, float] = {}
    lags: list[int] = []
    done_at: list[float] = []
    live = LiveFrames(plan.target, FolderWatcher(plan.target), idle_timeout=60.0)

    imager_started = threading.Event()

    def publish(_topic: str, payload: bytes) -> None:  # what the service does with them
        event = parse_imager(payload)
        if event is None:
            return
        if event.kind is Kind.STARTED:
            imager_started.set()
        elif event.kind is Kind.FRAME and event.path is not None:
            events[event.path.name] = time.monotonic()
            live.announce(event.total or 0)
        elif event.kind in END_REASONS:
            done_at.append(time.monotonic())
            live.end(END_REASONS[event.kind])

    def on_progress(event: Progress) -> None:
        if event.phase == "frame" and event.frame is not None:
            commits[event.frame] = time.monotonic()
        if event.live is not None:
            lags.append(event.live.lag)

    player = threading.Thread(target=replay.run, args=(plan,), kwargs={"publish": publish})
    settings = RunSettings(min_esd_um=20.0)
    with Segmenter(workers) as seg, TreeSampler(os.getpid()) as memory:
        started = time.monotonic()
        player.start()
        # as the service: after the imager's Started, when metadata.json is complete (it is
        # written in place, so that its mere existence may show it half written)
        while not imager_started.wait(0.1):
            if not player.is_alive():
                raise SegmenterError(f"the replay of {source} ended before it started")
        summary = seg.run_live(live, settings, data_root=root, on_progress=on_progress)
        finished = time.monotonic()
        player.join()
    latencies = [commits[n] - events[n] for n in commits if n in events]
    flat_frames = 9  # frames that wait for the flat field by design (its frames must be in)
    after_flat = [commits[n] - events[n] for n in sorted(commits)[flat_frames:] if n in events]
    return {
        "rate_fps": rate,
        "workers": workers,
        "frames": summary.frames,
        "status": summary.status,
        "objects": summary.objects,
        "latency_s": {"all": _spread(latencies), "after_flat": _spread(after_flat)},
        "archive_after_done_s": round(finished - done_at[0], 3) if done_at else None,
        "peak_lag_frames": max(lags, default=0),
        "seconds": round(finished - started, 3),
        "peak_pss_mb": round(memory.peak.pss / MB, 1),
    }


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--acquisition", type=Path, metavar="PATH", help="replay this acquisition")
    p.add_argument(
        "--frames", type=positive_int, help="frames to replay (default: synthetic 20, else all)"
    )
    p.add_argument(
        "--size",
        type=frame_size,
        default=(4056, 3040),
        metavar="WxH",
        help="synthetic frame size (default: 4056x3040, the HQ camera's)",
    )
    p.add_argument(
        "--objects", type=float, default=6.0, help="synthetic objects per frame (default: 6)"
    )
    p.add_argument(
        "--rates",
        type=positive_float,
        nargs="+",
        default=[1.0, 3.0],
        metavar="FPS",
        help="imager rates to replay at, frames per second (default: 1 3)",
    )
    p.add_argument("--workers", type=positive_int, default=2, help="worker processes (default: 2)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the figures as JSON")
    return p


def _line(r: Json) -> str:
    after = r["latency_s"]["after_flat"]
    every = r["latency_s"]["all"]

    def s(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    return (
        f"{r['rate_fps']:g} fr/s, {r['workers']} workers, {r['frames']} frames "
        f"({r['status']}): latency after "
        f"the flat p50 {s(after['p50'])} p95 {s(after['p95'])} max {s(after['max'])} s "
        f"(all frames max {s(every['max'])} s); archive {s(r['archive_after_done_s'])} s "
        f"after Done; peak lag {r['peak_lag_frames']} frames; peak PSS {r['peak_pss_mb']} MB"
    )


def main(argv: Sequence[str] | None = None, prog: str = "python -m benchmark.live") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except SegmenterError as exc:
        parser.exit(2, f"{prog}: error: {exc}\n")


def _run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="segmenter-live-bench-") as tmp:
        work = Path(tmp)
        if args.acquisition is not None:
            source = args.acquisition
        else:
            n = args.frames or 20
            (ds,) = synth_datasets(
                work / "src", n, densities=[args.objects], size=args.size, seed=0
            )
            source = ds.folder
        results = []
        for rate in args.rates:
            result = live_run(source, work, rate=rate, workers=args.workers, frames=args.frames)
            print(_line(result), flush=True)
            results.append(result)
    if args.json is not None:
        args.json.write_text(json.dumps({"live": results}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
