"""Runs every part of the benchmark in order and assembles the JSON report."""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmark.baseline import measure_baseline
from benchmark.common import Json
from benchmark.flatfield import measure_flat
from benchmark.inflight import measure_inflight
from benchmark.inputs import Dataset, given_dataset, linked_acquisition, synth_datasets
from benchmark.machine import machine_info
from benchmark.memory import measure_growth
from benchmark.mqtt import measure_mqtt, service_available
from benchmark.preview import measure_preview
from benchmark.process import FRAMES, WORKERS, measure_process
from benchmark.qc_cost import measure_qc, with_kernel
from benchmark.settings import BenchSettings
from benchmark.stages import flat_of, measure_stages
from benchmark.stop import measure_stop
from benchmark.targets import recommended_workers, targets
from benchmark.throughput import measure_throughput
from segmenter.service.broker import DEFAULT_PORT, parse_broker
from segmenter.settings import RunSettings
from worker.params import Params

SCHEMA = "planktoscope-segmenter-benchmark/1"
Log = Callable[[str], None]


def stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def params_for(ds: Dataset) -> Params:
    """The pipeline parameters a default run uses for this acquisition."""
    return RunSettings().params(ds.pixel_size_um)


def prepare(settings: BenchSettings, workdir: Path) -> list[Dataset]:
    if settings.acquisition is not None:
        return [given_dataset(workdir, settings.acquisition, settings.frames)]
    densities = list(settings.objects)
    return synth_datasets(
        workdir, settings.synth_frames, densities=densities, size=settings.size, seed=settings.seed
    )


def densest(datasets: list[Dataset]) -> Dataset:
    return max(datasets, key=lambda d: d.objects_target or 0.0)


def lightest(datasets: list[Dataset]) -> Dataset:
    """The lowest density (6 obj/frame by default, the real median): the process target's."""
    return min(datasets, key=lambda d: d.objects_target or 0.0)


def throughput_dataset(ds: Dataset, settings: BenchSettings, workdir: Path) -> Dataset:
    """`ds`, or an acquisition of `throughput_frames` reusing its frames when longer."""
    n = settings.throughput_frames
    if n <= len(ds.frames):
        return ds
    acq_id = f"bench_throughput_{ds.folder.name}"
    return linked_acquisition(
        ds, workdir / "throughput" / ds.folder.name, n_frames=n, acq_id=acq_id
    )


def qc_cost(ds: Dataset, params: Params, *, repeats: int, kernel_s: float) -> Json:
    """What the per-frame QC costs (benchmark.qc_cost), beside the kernel's time."""
    return with_kernel(
        measure_qc(ds, flat_of(ds, params), params=params, repeats=repeats), kernel_s
    )


def _dataset_entry(ds: Dataset, settings: BenchSettings, *, workdir: Path, log: Log) -> Json:
    params = params_for(ds)
    entry: Json = {"dataset": ds.info()}
    if settings.runs("stages"):
        log(f"  stages: {ds.name}")
        entry["stages"] = measure_stages(
            ds, flat_of(ds, params), params=params, repeats=settings.repeats
        )
        entry["qc"] = qc_cost(
            ds, params, repeats=settings.repeats, kernel_s=entry["stages"]["kernel_s"]
        )
    if settings.runs("baseline"):
        log(f"  baseline: {ds.name}")
        n, repeats = settings.baseline_frames, settings.repeats
        entry["baseline"] = measure_baseline(ds, params, n_frames=n, repeats=repeats)
    if settings.runs("throughput"):
        long = throughput_dataset(ds, settings, workdir)
        log(f"  throughput: {long.name}, workers {settings.worker_counts}")
        counts, repeats = settings.worker_counts, settings.throughput_repeats
        entry["throughput"] = measure_throughput(long, counts, repeats)
    return entry


def _memory(settings: BenchSettings, heavy: Dataset, *, workdir: Path, log: Log) -> Json:
    params = params_for(heavy)
    log("  memory: one frame in flight")
    in_flight = measure_inflight(
        heavy, flat_of(heavy, params), params=params, n_frames=settings.inflight_frames
    )
    short_n, long_n = settings.memory_frames
    short = linked_acquisition(heavy, workdir / "memory", n_frames=short_n, acq_id="bench_short")
    long = linked_acquisition(heavy, workdir / "memory", n_frames=long_n, acq_id="bench_long")
    log(f"  memory: {short_n} and {long_n} frames, {settings.memory_worker_count} workers")
    growth = measure_growth(short, long, settings.memory_worker_count)
    return {"in_flight": in_flight, "growth": growth}


def _mqtt(settings: BenchSettings, heavy: Dataset) -> Json:
    assert settings.broker is not None
    host, given = parse_broker(settings.broker)
    port = given or DEFAULT_PORT
    root = settings.service_data_root
    if root is None and os.environ.get("PLANKTOSCOPE_DATA_PATH"):
        root = Path(os.environ["PLANKTOSCOPE_DATA_PATH"])
    base: Json = {"broker": f"{host}:{port}", "rounds": settings.mqtt_rounds}
    if not service_available():
        return base | {"skipped": "segmenter.service is not in this checkout"}
    if root is None:
        return base | {"skipped": "pass --service-data-root (the service's data root)"}
    frames = max(len(heavy.frames), settings.stop_frames)
    acq = linked_acquisition(heavy, root, n_frames=frames, acq_id="bench_mqtt")
    return measure_mqtt(
        host,
        port,
        path=acq.folder,
        rounds=settings.mqtt_rounds,
        workers=settings.max_workers,
        timeout=settings.mqtt_timeout,
        seed=settings.seed,
        max_delay=settings.stop_max_delay,
    )


def _preview(settings: BenchSettings, heavy: Dataset) -> Json:
    params = params_for(heavy)
    flat = flat_of(heavy, params)
    return measure_preview(
        heavy, flat, params=params, repeats=settings.repeats, workers=settings.max_workers
    )


def _clean(value: Any) -> Any:
    """NaN and infinities become null: the report is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def run_benchmark(settings: BenchSettings, log: Log = stderr_log) -> Json:
    """Every part `settings` asks for; returns the report (strict JSON values)."""
    started = time.perf_counter()
    workdir = settings.workdir or Path(tempfile.mkdtemp(prefix="segmenter-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report: Json = {
        "schema": SCHEMA,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", "benchmark", *sys.argv[1:]]),
        "machine": machine_info(),
        "settings": settings.to_json(),
    }
    try:
        log(f"preparing input in {workdir}")
        datasets = prepare(settings, workdir)
        report["datasets"] = [
            _dataset_entry(ds, settings, workdir=workdir, log=log) for ds in datasets
        ]
        heavy = densest(datasets)
        if settings.runs("flat"):
            log("  flat field")
            ds = datasets[0]
            report["flat"] = measure_flat(
                ds, params_for(ds), workers=settings.max_workers, repeats=settings.repeats
            )
        if settings.runs("process"):
            light = lightest(datasets)
            log(f"  process: {FRAMES} frames of {light.name}, {WORKERS} workers, and the old one")
            min_esd_px = params_for(light).min_esd_px
            report["process"] = measure_process(
                light, workdir, min_esd_px=min_esd_px, repeats=settings.repeats
            )
        if settings.runs("memory"):
            report["memory"] = _memory(settings, heavy, workdir=workdir, log=log)
        if settings.runs("stop"):
            log(f"  stop: {settings.stops} stops")
            acq = linked_acquisition(
                heavy, workdir / "stop", n_frames=settings.stop_frames, acq_id="bench_stop"
            )
            report["stop"] = measure_stop(
                acq,
                settings.max_workers,
                stops=settings.stops,
                max_delay=settings.stop_max_delay,
                seed=settings.seed,
            )
        if settings.runs("preview"):
            log(f"  preview: {heavy.name}, per previewed frame and per run")
            report["preview"] = _preview(settings, heavy)
        if settings.broker and settings.runs("mqtt"):
            log(f"  mqtt: {settings.broker}")
            report["mqtt"] = _mqtt(settings, heavy)
    finally:
        if settings.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    report["recommended_workers"] = recommended_workers(report)
    report["targets"] = targets(report)
    report["load_average_end"] = list(os.getloadavg())
    report["seconds"] = time.perf_counter() - started
    cleaned: Json = _clean(report)
    return cleaned
