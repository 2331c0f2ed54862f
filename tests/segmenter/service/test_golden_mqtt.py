"""The old program's MQTT messages reproduced: one legacy `segment` command per baseline
acquisition, sent to a real `segmenter serve` (2 worker processes) through a real
mosquitto, must give on `status/segmenter` `Started`, the old program's own sequence
for the folder (`Calculating flat`, one `Segmenting image ...` per frame, recorded in
`../shared/baseline/*/baseline/messages.json`), then `Done`; and, per object, its
`status/segmenter/object_id` and `status/segmenter/metric` payloads, equal in keys and
values."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from streamer import contract
from tests.conftest import MOMENT_FEATURES, REPO, require, same_value
from tests.golden.test_golden import BASELINE, CASES, MIN_ESD_UM
from tests.segmenter.service.harness import Broker, Recorder


def legacy_messages(case: str) -> dict[str, list[object]]:
    """The old program's payloads per topic, parsed, in order."""
    messages = json.loads((BASELINE / case / "baseline" / "messages.json").read_text())
    out: dict[str, list[object]] = {}
    for m in messages:
        out.setdefault(m["topic"], []).append(json.loads(m["payload"]))
    return out


@pytest.fixture
def serve(broker: Broker, tmp_path: Path) -> object:
    root = tmp_path / "data"
    (root / "img").mkdir(parents=True)
    env = os.environ | {"PYTHONPATH": str(REPO)}
    log = (tmp_path / "serve.log").open("wb")
    args = ["serve", "--broker", broker.address, "--data-root", str(root), "--workers", "2"]
    proc = subprocess.Popen([sys.executable, "-m", "segmenter", *args], env=env, stderr=log)
    yield root
    proc.terminate()
    proc.wait(30)
    log.close()


def run_case(case: str, root: Path, recorder: Recorder, **extra: object) -> dict[str, list[Any]]:
    """Send the legacy `segment` command of a baseline case (settings plus `extra`), wait
    for its `Done` and its metrics; return the old program's messages."""
    require(BASELINE / case)
    shutil.copytree(BASELINE / case / "img", root / "img", dirs_exist_ok=True)
    folder = next((root / "img").glob("**/metadata.json")).parent
    run = json.loads((BASELINE / case / "baseline" / "run.json").read_text())["settings"]
    recorder.wait(lambda r: "Ready" in r.statuses(), timeout=30)
    before = len(recorder.statuses())
    settings = {
        "force": False,
        "recursive": True,
        "ecotaxa": True,
        "keep": False,
        "process_id": run["process_id"],
        "process_min_ESD": MIN_ESD_UM,
        "remove_previous_mask": run["remove_previous_mask"],
    }
    recorder.send({"action": "segment", "path": [str(folder)], "settings": settings | extra})
    recorder.wait(lambda r: "Done" in r.statuses()[before:], timeout=180)
    old = legacy_messages(case)
    expected = ["Started", *(m["status"] for m in old["status/segmenter"]), "Done"]  # type: ignore[index]
    assert recorder.statuses()[before:] == expected
    recorder.wait(
        lambda r: len(r.on("status/segmenter/metric")) >= len(old["status/segmenter/metric"])
    )
    return old


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_one_legacy_command_gives_the_old_programs_messages(
    case: str, serve: Path, recorder: Recorder
) -> None:
    """In the 2026-03 output contract, asked for in the command's settings."""
    old = run_case(case, serve, recorder, compat="2026-03")
    assert recorder.on("status/segmenter/object_id") == old["status/segmenter/object_id"]
    assert_same_metrics(recorder.on("status/segmenter/metric"), old["status/segmenter/metric"])


def test_the_default_contract_s_metric_payload(serve: Path, recorder: Recorder) -> None:
    """The service's default, 2026-06 (SPEC 7): the old program's metric payloads with
    sizes in micrometres (x 0.75, x 0.75^2, x 1/0.75), `bw`, `bh` (its width and height
    in pixels), `threshold`, the focus score, and `contour` as upstream sends it: a JSON
    text of [x, y] frame points, here inside the object's box."""
    old = run_case("dense", serve, recorder)
    ours = recorder.on("status/segmenter/metric")
    assert [m["name"] for m in ours] == [m["name"] for m in old["status/segmenter/metric"]]
    factors = dict.fromkeys(contract.LINEAR, 0.75) | dict.fromkeys(contract.SQUARE, 0.75 * 0.75)
    factors |= dict.fromkeys(contract.INVERSE, 1 / 0.75)
    for mine, theirs in zip(ours, old["status/segmenter/metric"], strict=True):
        got, base = mine["metadata"], theirs["metadata"]
        assert list(got) == [*contract.FEATURES[contract.NEW], "contour"], mine["name"]
        assert (got["bw"], got["bh"]) == (base["width"], base["height"])
        assert isinstance(got["threshold"], float) and 0 < got["threshold"] < 255
        assert got["blur_laplacian"] is None or got["blur_laplacian"] > 0
        for name, factor in factors.items():
            assert same_value(got[name], base[name] * factor, loose=True), (mine["name"], name)
        points = json.loads(got["contour"])
        assert len(points) >= 3
        for x, y in points:
            assert base["bx"] <= x < base["bx"] + base["width"], mine["name"]
            assert base["by"] <= y < base["by"] + base["height"], mine["name"]


def assert_same_metrics(ours: list[Any], theirs: list[Any]) -> None:
    """Equal payloads, but the features whose last bits come from the CPU's BLAS kernel
    (the second moments, tests.conftest.MOMENT_FEATURES) within 1e-12: the old program
    ran on another CPU."""
    assert [m["name"] for m in ours] == [m["name"] for m in theirs]
    for mine, old in zip(ours, theirs, strict=True):
        rest = {k: v for k, v in mine.items() if k != "metadata"}
        assert rest == {k: v for k, v in old.items() if k != "metadata"}
        assert list(mine["metadata"]) == list(old["metadata"]), mine["name"]
        for name, value in old["metadata"].items():
            if name in MOMENT_FEATURES and isinstance(value, float):
                assert same_value(mine["metadata"][name], value, loose=True), name
            else:
                assert mine["metadata"][name] == value, (mine["name"], name)
