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

from tests.conftest import MOMENT_FEATURES, REPO, require, same_value
from tests.service.harness import Broker, Recorder
from tests.test_golden import BASELINE, CASES, MIN_ESD_UM


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


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_one_legacy_command_gives_the_old_programs_messages(
    case: str, serve: Path, recorder: Recorder
) -> None:
    require(BASELINE / case)
    root = serve
    shutil.copytree(BASELINE / case / "img", root / "img", dirs_exist_ok=True)
    folder = next((root / "img").glob("**/metadata.json")).parent
    run = json.loads((BASELINE / case / "baseline" / "run.json").read_text())["settings"]
    recorder.wait(lambda r: "Ready" in r.statuses(), timeout=30)
    before = len(recorder.statuses())
    recorder.send(
        {
            "action": "segment",
            "path": [str(folder)],
            "settings": {
                "force": False,
                "recursive": True,
                "ecotaxa": True,
                "keep": False,
                "process_id": run["process_id"],
                "process_min_ESD": MIN_ESD_UM,
                "remove_previous_mask": run["remove_previous_mask"],
            },
        }
    )
    recorder.wait(lambda r: "Done" in r.statuses()[before:], timeout=180)
    old = legacy_messages(case)
    expected = ["Started", *(m["status"] for m in old["status/segmenter"]), "Done"]  # type: ignore[index]
    assert recorder.statuses()[before:] == expected
    recorder.wait(
        lambda r: len(r.on("status/segmenter/metric")) >= len(old["status/segmenter/metric"])
    )
    assert recorder.on("status/segmenter/object_id") == old["status/segmenter/object_id"]
    assert_same_metrics(recorder.on("status/segmenter/metric"), old["status/segmenter/metric"])


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
