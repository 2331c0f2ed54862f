"""The benchmark on tiny inputs: every documented JSON field, sane values, consistent ratios.

Nothing here asserts a timing (these machines are noisy): only that figures exist, are
positive where they must be, and agree with the figures they are computed from.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from multiprocessing import shared_memory
from pathlib import Path
from typing import Any

import pytest

from benchmark.common import median, percentile
from benchmark.machine import cpu_model
from benchmark.memory import process_tree, tree_memory
from benchmark.mqtt import measure_mqtt
from benchmark.report import table
from benchmark.run import run_benchmark
from benchmark.settings import PARTS, BenchSettings
from benchmark.targets import per_frame_limit, recommended_workers, targets
from segmenter.cli import args
from tests.conftest import REPO

ROOT = REPO  # the checkout
README = ROOT / "benchmark" / "README.md"
STAGES = {"decode", "correct", "mask", "label", "features", "encode", "commit"}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = BenchSettings(
        frames=4,
        objects=(2.0, 8.0),
        size=(480, 360),
        max_workers=2,
        repeats=2,
        baseline_frames=2,
        throughput_frames=6,
        throughput_repeats=2,
        memory_frames=(4, 8),
        inflight_frames=2,
        stops=2,
        stop_frames=80,
        stop_max_delay=0.05,
        workdir=tmp_path_factory.mktemp("bench"),
        skip=("process",),  # its own test below: 6 child processes would double this fixture
    )
    return run_benchmark(settings, log=lambda _message: None)


@pytest.fixture(scope="module")
def process_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Only the process part: 20 frames (4 reused) of 400x300, one repeat of each run."""
    others = tuple(p for p in PARTS if p != "process")
    settings = BenchSettings(
        frames=4,
        objects=(30.0, 6.0),
        size=(400, 300),
        repeats=1,
        workdir=tmp_path_factory.mktemp("bench_process"),
        skip=others,
    )
    return run_benchmark(settings, log=lambda _message: None)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def positive(*values: Any) -> bool:
    return all(isinstance(v, int | float) and v > 0 and math.isfinite(v) for v in values)


def leaf_keys(value: Any) -> set[str]:
    """Every dict key of a JSON document, at any depth."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in leaf_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in leaf_keys(v)}
    return set()


def test_top_level_machine_and_settings(report: dict[str, Any]) -> None:
    top = {"schema", "created", "command", "machine", "settings", "datasets", "flat", "memory"}
    assert top | {"stop", "targets", "seconds"} <= set(report)
    machine = report["machine"]
    for key in ("cpu_model", "arch", "os", "python", "numpy", "opencv", "scikit_image"):
        assert isinstance(machine[key], str) and machine[key]
    assert positive(machine["cores"], machine["usable_cores"], machine["memory_bytes"])
    settings = report["settings"]
    assert settings["worker_counts"] == [1, 2]
    assert settings["size"] == [480, 360] and settings["memory_frames"] == [4, 8]
    assert "synthetic 480x360" in settings["input"]
    assert positive(report["seconds"])
    assert len(machine["load_average"]) == 3 and len(report["load_average_end"]) == 3
    json.dumps(report, allow_nan=False)  # strict JSON: NaN became null


def test_stages_and_floor(report: dict[str, Any]) -> None:
    assert len(report["datasets"]) == 2
    for entry in report["datasets"]:
        assert entry["dataset"]["frames"] == 4
        assert entry["dataset"]["frame_bytes"] == 480 * 360 * 3
        st = entry["stages"]
        assert set(st["stages_s"]) == STAGES
        assert positive(st["imread_s"], st["per_frame_s"], st["kernel_s"], *st["stages_s"].values())
        assert positive(st["imread_fresh_s"]) and st["imread_into_buffer"] is True
        assert close(st["per_frame_s"], sum(st["stages_s"].values()))
        assert close(st["per_frame_vs_imread"], st["per_frame_s"] / st["imread_s"])
        assert close(st["kernel_vs_imread"], st["kernel_s"] / st["imread_s"])
        assert len(st["per_frame"]) == 4 and st["frames"] == 4 and st["repeats"] == 2
        counts = [f["objects"] for f in st["per_frame"]]
        assert close(st["objects_per_frame"], sum(counts) / 4)
        assert all(positive(f["imread_s"], f["total_s"]) for f in st["per_frame"])
        qc = entry["qc"]  # the per-frame QC's cost, a part of segment_frame's
        assert set(qc["parts_s"]) == {"background", "focus_grid", "static"}
        assert positive(*qc["parts_s"].values()) and close(qc["qc_s"], sum(qc["parts_s"].values()))
        assert close(qc["qc_vs_kernel"], qc["qc_s"] / st["kernel_s"])
    printed = table(report)  # the QC's parts each on its line, the static check named
    for part in ("background", "focus grid", "static check (at commit)"):
        assert f"    QC: {part}" in printed


def test_baseline_side_by_side(report: dict[str, Any]) -> None:
    for entry in report["datasets"]:
        b = entry["baseline"]
        assert b["frames"] == 2 and b["object_counts_match"] is True
        assert positive(b["baseline_s"], b["fast_s"], b["imread_s"], b["speedup"])
        assert close(b["speedup"], b["baseline_s"] / b["fast_s"])
        assert close(b["baseline_vs_imread"], b["baseline_s"] / b["imread_s"])
        assert close(b["fast_vs_imread"], b["fast_s"] / b["imread_s"])


def test_throughput_rows(report: dict[str, Any]) -> None:
    """The throughput acquisition is 6 frames: the 4 of the dataset, reused."""
    for entry in report["datasets"]:
        rows = entry["throughput"]["rows"]
        assert [r["workers"] for r in rows] == [1, 2]
        assert rows[0]["mode"] == "inline" and rows[1]["mode"] == "processes"
        for r in rows:
            assert r["frames"] == 6 and r["repeats"] == 2 and r["failed_frames"] == 0
            assert positive(r["wall_s"], r["segment_s"], r["frames_per_s"])
            assert r["segment_s"] <= r["wall_s"]
            assert close(r["frames_per_s"], r["frames"] / r["wall_s"])
            assert close(r["objects_per_s"], r["objects"] / r["wall_s"])
            assert r["cpu_per_frame_s"] > 0 and r["run_queue_wait_per_frame_s"] >= 0
            assert close(r["speedup"], r["frames_per_s"] / rows[0]["frames_per_s"])
        assert rows[0]["speedup"] == 1.0 and rows[0]["objects"] == rows[1]["objects"]


def test_flat(report: dict[str, Any]) -> None:
    flat = report["flat"]
    assert flat["frames"] == 3 and flat["equal_to_baseline"] is True
    assert positive(flat["pooled_s"], flat["one_process_s"], flat["baseline_s"])
    assert close(flat["pooled_speedup_vs_one_process"], flat["one_process_s"] / flat["pooled_s"])
    assert close(flat["speedup_vs_baseline"], flat["baseline_s"] / flat["pooled_s"])


def test_memory(report: dict[str, Any]) -> None:
    growth = report["memory"]["growth"]
    assert growth["short"]["frames"] == 4 and growth["long"]["frames"] == 8
    for run in (growth["short"], growth["long"]):
        assert run["status"] == "done" and run["workers"] == 2
        assert positive(run["peak_pss_bytes"], run["peak_rss_bytes"], run["samples"])
        assert run["peak_pss_bytes"] <= run["peak_rss_bytes"]
        assert 0 < run["peak_segments_bytes"] < run["peak_bytes"]  # the flat field at least
        assert run["peak_processes"] >= 3  # the run, the forkserver, workers
    short, long = growth["short"]["peak_pss_bytes"], growth["long"]["peak_pss_bytes"]
    assert close(growth["pss_growth"], long / short)
    short, long = growth["short"]["peak_bytes"], growth["long"]["peak_bytes"]
    assert close(growth["growth"], long / short)
    flight = report["memory"]["in_flight"]
    assert flight["bytes"] == max(flight["tracemalloc_peak_bytes"], flight["rss_peak_delta_bytes"])
    assert flight["tracemalloc_peak_bytes"] >= flight["frame_bytes"]  # the frame itself
    assert close(flight["vs_frame"], flight["bytes"] / flight["frame_bytes"])


def test_stop(report: dict[str, Any]) -> None:
    stop = report["stop"]
    assert stop["stops"] == 2 and stop["all_idle"] is True
    assert 0 < stop["p50_s"] <= stop["p95_s"] <= stop["max_s"]
    assert stop["resumed_to_done"] is True and stop["frames"] == 80
    stopped = [r["latency_s"] for r in stop["rounds"] if r["status"] == "interrupted"]
    assert len(stopped) == 2 and close(stop["max_s"], max(stopped))


def test_targets(report: dict[str, Any]) -> None:
    names = {t["name"] for t in report["targets"]}
    assert {"per_frame_vs_imread", "vs_old_two_workers", "two_workers_speedup"} <= names
    assert {"stop_p95_s", "peak_memory_mb", "memory_growth", "in_flight_vs_frame"} <= names
    for t in report["targets"]:
        ok = t["value"] <= t["limit"] if t["comparison"] == "<=" else t["value"] >= t["limit"]
        assert t["met"] is ok
        assert t["comparable"] is (not t["lacks"])
    by_name = {(t["name"], t["scope"]): t for t in report["targets"]}
    for entry in report["datasets"]:  # 480x360 frames, 6-frame throughput: not the targets'
        scope = entry["dataset"]["name"]
        assert by_name["per_frame_vs_imread", scope]["lacks"] == ["4056x3040 frames"]
        lacks = by_name["two_workers_speedup", scope]["lacks"]
        assert lacks[0] == "a 400-frame acquisition" and busy_only(lacks[1:])
        rows = {r["workers"]: r for r in entry["throughput"]["rows"]}
        assert rows[2]["frames"] == 6
        old = by_name["vs_old_two_workers", scope]["value"]
        assert close(old, entry["baseline"]["baseline_s"] * rows[2]["frames_per_s"])
    assert by_name["stop_p95_s", "engine"]["comparable"] is True
    assert (
        "--memory-workers 3"
        in next(t for t in report["targets"] if t["name"] == "peak_memory_mb")["lacks"]
    )
    printed = table(report, with_targets=True)
    assert "not comparable: needs 4056x3040 frames" in printed
    assert not any(line.strip().startswith("MISSED") and "not comparable" in line
                   for line in printed.splitlines())  # fmt: skip
    assert "Targets" not in table(report)  # only when asked
    full = {**report, "settings": {**report["settings"], "size": (4056, 3040)}}
    in_flight = next(t for t in targets(full) if t["name"] == "in_flight_vs_frame")
    assert in_flight["comparable"] is True  # a tuple, as the settings hold it before JSON


def test_recommended_workers(report: dict[str, Any]) -> None:
    rec = report["recommended_workers"]
    assert rec["workers"] in (1, 2)
    shares = {r["workers"]: r["relative"] for r in rec["relative_throughput"]}
    assert set(shares) == {1, 2}
    # each share is the geometric mean, over the datasets, of that count's frames/s over the
    # best count's (timing decides which count is best, so only the arithmetic is checked)
    tables = [
        {r["workers"]: r["frames_per_s"] for r in e["throughput"]["rows"]}
        for e in report["datasets"]
        if e.get("throughput")
    ]
    for n, share in shares.items():
        expected = math.prod(t[n] / max(t.values()) for t in tables) ** (1 / len(tables))
        assert 0 < share <= 1 and share == pytest.approx(expected, rel=1e-3)
    fake = {
        "datasets": [
            {"throughput": {"rows": [{"workers": n, "frames_per_s": f} for n, f in rows]}}
            for rows in ([(1, 2.0), (2, 3.9), (3, 4.0)], [(1, 1.0), (2, 1.9), (3, 2.0)])
        ]
    }
    assert recommended_workers(fake)["workers"] == 2  # type: ignore[index]
    fake["datasets"][1]["throughput"]["rows"][2]["frames_per_s"] = 3.0
    assert recommended_workers(fake)["workers"] == 3  # type: ignore[index]
    assert per_frame_limit(6) == 2.0 and per_frame_limit(30) == 3.0 and per_frame_limit(2) == 2.0
    assert per_frame_limit(18) == 2.5


def test_whole_process_against_the_old_one(process_report: dict[str, Any]) -> None:
    """Both sides ran to the end on the same 20 frames, found the same objects, and the old
    side wrote a crop per object, its TSV and its zip."""
    assert "datasets" in process_report and "memory" not in process_report
    p = process_report["process"]
    assert p["dataset"] == "6 obj/frame" and (p["width"], p["height"]) == (400, 300)
    assert p["frames"] == 20 and p["workers"] == 2 and p["repeats"] == 1
    for key in ("ours", "ours_1_worker", "old"):
        runs = p[f"{key}_runs_s"]
        assert len(runs) == 1 and positive(*runs) and p[f"{key}_s"] == median(runs)
    assert close(p["old_vs_ours"], p["old_s"] / p["ours_s"])
    assert close(p["old_vs_ours_1_worker"], p["old_s"] / p["ours_1_worker_s"])
    assert p["ours_objects"] == p["old_objects"] > 20 and p["objects_match"] is True
    out = Path(p["old_out"])
    crops = sorted(out.glob("*.jpg"))
    assert len(crops) == p["old_objects"]
    (tsv,) = out.glob("ecotaxa_*.tsv")
    lines = tsv.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 + len(crops) and lines[1].split("\t")[0] in ("[t]", "[f]")
    with zipfile.ZipFile(next(out.glob("ecotaxa_*.zip"))) as zf:
        assert sorted(zf.namelist()) == sorted([c.name for c in crops] + [tsv.name])
    (target,) = [t for t in process_report["targets"] if t["name"] == "vs_old_process"]
    assert target["value"] == p["old_vs_ours"] and target["limit"] == 9.0
    assert target["met"] is (p["old_vs_ours"] >= 9.0)
    assert target["lacks"][0] == "4056x3040 frames" and target["comparable"] is False
    assert busy_only(target["lacks"][1:])
    (scaling,) = [
        t for t in process_report["targets"] if t["name"] == "process_two_workers_speedup"
    ]
    assert close(scaling["value"], p["ours_1_worker_s"] / p["ours_s"]) and scaling["limit"] == 1.6
    assert scaling["lacks"][0] == "4056x3040 frames" and busy_only(scaling["lacks"][1:])
    for key in ("ours", "ours_1_worker", "old"):
        assert p[f"{key}_cpu_per_frame_s"] > 0 and p[f"{key}_run_queue_wait_per_frame_s"] >= 0
    printed = table(process_report)
    assert "Whole process, 20 frames of 6 obj/frame" in printed and "DIFFER" not in printed
    differ = {**p, "old_objects": p["old_objects"] + 1, "objects_match": False}
    assert "OBJECT COUNTS DIFFER" in table({**process_report, "process": differ})
    text = README.read_text(encoding="utf-8")
    assert sorted(k for k in leaf_keys(p) if f"`{k}`" not in text) == []


def busy_only(lacks: list[str]) -> bool:
    """At most the run-queue wait (benchmark.runqueue): on a loaded machine it is there."""
    return len(lacks) <= 1 and all(x.startswith("a free CPU (run-queue wait ") for x in lacks)


def test_readme_documents_every_field(report: dict[str, Any]) -> None:
    text = README.read_text(encoding="utf-8")
    missing = sorted(k for k in leaf_keys(report) if f"`{k}`" not in text)
    assert not missing, f"benchmark/README.md does not document {missing}"


def test_cli_help_and_bad_arguments() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "benchmark", "--quick", "--help"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 0 and "--acquisition" in done.stdout and "--json" in done.stdout
    bad = [sys.executable, "-m", "benchmark", "--size", "12x"]
    done = subprocess.run(bad, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 2 and "4056x3040" in done.stderr


def test_helpers() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0 and median([1.0, 2.0]) == 1.5
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 50) == 5.5 and percentile(values, 100) == 10.0
    assert percentile(values, 95) == pytest.approx(9.55)
    assert args.frame_size("4056x3040") == (4056, 3040)
    assert args.broker("10.0.0.2:1884") == "10.0.0.2:1884"
    with pytest.raises(argparse.ArgumentTypeError):
        args.broker("host:notaport")
    assert cpu_model("processor\t: 0\nmodel name\t: Cortex-A76\n") == "Cortex-A76"
    assert cpu_model("processor\t: 0\nModel\t\t: Raspberry Pi 5 Model B\n").startswith("Raspberry")


def test_process_tree_sees_children() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        time.sleep(0.2)
        assert child.pid in process_tree(os.getpid())
        memory = tree_memory(os.getpid())
        assert 0 < memory.pss <= memory.rss and memory.processes >= 2
    finally:
        child.kill()
        child.wait()


# A run's process: one segment it keeps mapped, one it wrote and detached from (as workers
# do from the flat field's stack), one it unlinked but still maps (a worker's old flat).
RUN_WITH_SEGMENTS = """
import os, sys
from multiprocessing import shared_memory
MB = 1 << 20
def segment(n, size):
    shm = shared_memory.SharedMemory(f"segmenter_{os.getpid()}_{n}", create=True, size=size)
    shm.buf[:] = b"x" * size
    return shm
kept, detached, unlinked = segment(0, 8 * MB), segment(1, 16 * MB), segment(2, 4 * MB)
detached.close()
unlinked.unlink()
print("ready", flush=True)
sys.stdin.read()
kept.unlink()
detached.unlink()
"""


def test_the_runs_shared_memory_counts_whether_mapped_or_not() -> None:
    mb = 1 << 20
    other = shared_memory.SharedMemory(f"segmenter_{os.getpid()}_test", create=True, size=32 * mb)
    assert other.buf is not None
    other.buf[:] = b"y" * (32 * mb)  # another process's segment: not the run's
    run = subprocess.Popen(
        [sys.executable, "-c", RUN_WITH_SEGMENTS], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert run.stdout is not None and run.stdout.readline() == b"ready\n"
        memory = tree_memory(run.pid)
        assert memory.segments == 28 * mb  # each of the run's own once, mapped or not
        assert 12 * mb <= memory.shmem_pss < 13 * mb  # what PSS alone saw of them
        assert memory.bytes == memory.pss - memory.shmem_pss + memory.segments
        assert memory.bytes >= memory.pss + 16 * mb  # the detached segment is counted
    finally:
        run.communicate(timeout=30)
        other.close()
        other.unlink()


# --- MQTT end to end, against a fake service on a private mosquitto -------------------


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        pytest.skip("no mosquitto binary")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def fake_service(port: int, stop: threading.Event) -> None:
    """Answers like SPEC section 4: Started, progress, Done; stop -> Interrupted."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    stopped = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2)

    def status(text: str) -> None:
        client.publish("status/segmenter", json.dumps({"status": text}), qos=1)

    def job() -> None:
        status("Started")
        for i in range(1, 21):
            if stopped.wait(0.05):
                status("Interrupted")
                return
            status(f"Segmenting image frame_{i}.jpg, image {i}/20")
        status("Done")

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        action = json.loads(msg.payload)["action"]
        if action == "stop":
            stopped.set()
        elif action == "segment":
            stopped.clear()
            threading.Thread(target=job, daemon=True).start()

    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe("segmenter/#", qos=1)
    client.loop_start()
    stop.wait()
    client.loop_stop()
    client.disconnect()


def test_mqtt_against_a_fake_service(broker: int, tmp_path: Path) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=fake_service, args=(broker, stop), daemon=True)
    thread.start()
    time.sleep(0.3)
    try:
        out = measure_mqtt(
            "127.0.0.1",
            broker,
            path=tmp_path,
            rounds=2,
            timeout=10,
            require_service=False,
            max_delay=0.2,
        )
    finally:
        stop.set()
        thread.join(5)
    assert "error" not in out, out
    assert 0 < out["to_started_s"] <= out["to_done_s"]
    p50, p95 = out["stop_to_interrupted_p50_s"], out["stop_to_interrupted_p95_s"]
    assert 0 < p50 <= p95 <= out["stop_to_interrupted_max_s"]
    assert len(out["results"]) == 2


def test_mqtt_unreachable_broker_is_reported(tmp_path: Path) -> None:
    out = measure_mqtt("127.0.0.1", 1, path=tmp_path, rounds=1, timeout=2, require_service=False)
    assert "cannot reach the broker" in out["error"]
