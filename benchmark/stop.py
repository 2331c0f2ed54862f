"""Stop latency: `Segmenter.stop(wait=True)` at random moments of a run, then resume.

Each round starts a run of the acquisition in a thread (resuming from its committed
frames, as the service does after a stop), waits for the run's start event plus a
random delay, calls `stop(wait=True)` and times how long it takes to return (the
engine idle, files consistent). A round whose run finishes before the stop lands is
not counted and the next round starts over (`force`). After the last round the run is
resumed to the end, which must complete every frame.
"""

from __future__ import annotations

import random
import threading
import time

from benchmark.common import Json, keep_sigint, mean, percentile
from benchmark.flatfield import warm
from benchmark.inputs import Dataset
from segmenter.engine import AcquisitionSummary, Progress, Segmenter
from segmenter.settings import RunSettings


class _Run:
    """One `Segmenter.run` in a thread, with the phase it last reported."""

    def __init__(self, seg: Segmenter, ds: Dataset, settings: RunSettings) -> None:
        self.started = threading.Event()
        self.phase = "none"
        self.summaries: list[AcquisitionSummary] = []
        self.error: BaseException | None = None
        self._args = (seg, ds, settings)
        self.thread = threading.Thread(target=self._main, name="bench-run", daemon=True)
        self.thread.start()

    def _progress(self, event: Progress) -> None:
        self.phase = event.phase
        self.started.set()

    def _main(self) -> None:
        seg, ds, settings = self._args
        try:
            self.summaries = seg.run(
                [ds.folder], settings, data_root=ds.data_root, on_progress=self._progress
            )
        except BaseException as exc:  # reported by the caller
            self.error = exc
        finally:
            self.started.set()

    @property
    def status(self) -> str:
        return self.summaries[0].status if self.summaries else "none"


def stop_round(seg: Segmenter, ds: Dataset, *, force: bool, delay: float) -> Json:
    """One run stopped `delay` s after its start event: latency, phase, outcome."""
    run = _Run(seg, ds, RunSettings(force=force))
    run.started.wait()
    time.sleep(delay)
    phase = run.phase
    start = time.perf_counter()
    idle = seg.stop(wait=True, timeout=120.0)
    latency = time.perf_counter() - start
    run.thread.join(timeout=120.0)
    if run.error is not None:
        raise RuntimeError(f"run failed during the stop benchmark: {run.error!r}")
    return {
        "delay_s": delay,
        "phase": phase,
        "latency_s": latency,
        "idle": idle,
        "status": run.status,
    }


def measure_stop(ds: Dataset, workers: int, *, stops: int, max_delay: float, seed: int) -> Json:
    """Latency of `stops` stops at random moments, and the final resume to the end."""
    rng = random.Random(seed)
    rounds: list[Json] = []
    with keep_sigint():
        seg = Segmenter(workers)
    try:
        warm(seg.pool)
        force = True
        attempts = 0
        while sum(1 for r in rounds if r["status"] == "interrupted") < stops:
            attempts += 1
            if attempts > 3 * stops + 3:
                break
            result = stop_round(seg, ds, force=force, delay=rng.uniform(0.0, max_delay))
            rounds.append(result)
            force = result["status"] != "interrupted"  # finished: start over next time
        final = _Run(seg, ds, RunSettings(force=False))
        final.thread.join()
        resumed = final.status == "done" and final.error is None
        frames_done = final.summaries[0].frames if final.summaries else 0
    finally:
        seg.close()
    latencies = [r["latency_s"] for r in rounds if r["status"] == "interrupted"]
    if not latencies:
        raise RuntimeError("no stop landed while a run was going: the acquisition is too short")
    return {
        "workers": workers,
        "stops": len(latencies),
        "max_delay_s": max_delay,
        "p50_s": percentile(latencies, 50),
        "p95_s": percentile(latencies, 95),
        "max_s": max(latencies),
        "mean_s": mean(latencies),
        "all_idle": all(r["idle"] for r in rounds),
        "resumed_to_done": resumed,
        "frames": frames_done,
        "rounds": rounds,
    }
