"""The service's EcoTaxa uploads over a real mosquitto against the stand-in: the `upload`
command, the upload after each acquisition, a restart with uploads pending while EcoTaxa
is down; progress on status/segmenter/upload, never on status/segmenter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from segmenter.acquisition import find_acquisitions
from segmenter.cli import main
from segmenter.service.mqtt import MqttTransport
from segmenter.service.uploads import UPLOAD_TOPIC, ServiceUploads
from segmenter.synth import SynthSpec, write_acquisition
from segmenter.upload.book import UploadBook
from segmenter.upload.config import Server
from segmenter.upload.run import Policy
from tests.conftest import REPO
from tests.segmenter.service.harness import Broker, Harness, Recorder
from tests.segmenter.upload.ecotaxa_standin import EcoTaxaStandIn

pytestmark = pytest.mark.mqtt
FAST = Policy(retry_for=float("inf"), first_delay=0.2, max_delay=0.5, poll=0.1)


def uploading_service(
    broker: Broker, root: Path, server: Server | None, auto: bool, live: bool = False
) -> Harness:
    """The service in this process with EcoTaxa uploads set up (as `serve` does)."""

    def uploads(transport: MqttTransport) -> ServiceUploads:
        return ServiceUploads(root, server, transport, auto=auto, policy=FAST)

    return Harness(broker, root, live=live, uploads=uploads)


def server_of(standin: EcoTaxaStandIn) -> Server:
    return Server(standin.url, standin.user, standin.password, 1)


def uploads(rec: Recorder, state: str | None = None) -> list[dict[str, Any]]:
    return [m for m in rec.on(UPLOAD_TOPIC) if state is None or m["state"] == state]


def legacy_clean(rec: Recorder) -> None:
    legacy = [m.data for m in rec.messages if m.topic == "status/segmenter"]
    assert all(set(d) == {"status"} and "EcoTaxa" not in d["status"] for d in legacy)


def test_the_upload_command(
    broker: Broker,
    recorder: Recorder,
    data_root: Path,
    standin: EcoTaxaStandIn,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (folder,) = find_acquisitions(data_root)
    svc = uploading_service(broker, data_root, server_of(standin), auto=False)
    try:
        assert main(["send", "upload", str(folder), "--broker", broker.address, "--json"]) == 0
        recorder.wait(lambda r: bool(uploads(r, "imported")))
    finally:
        svc.close()
    (reply,) = [m for m in recorder.on("status/segmenter/reply") if m["action"] == "upload"]
    assert reply["ok"] and reply["message"] == "upload of 1 acquisition(s) queued"
    assert "upload of 1 acquisition(s) queued" in capsys.readouterr().out
    (done,) = uploads(recorder, "imported")
    sample = done["sample_id"]
    assert done["objects"] == len(standin.objects_of(1, sample)) > 0
    assert "importing" in {m["state"] for m in uploads(recorder)}  # the progress on the way
    legacy_clean(recorder)


def test_the_upload_command_refused_when_not_set_up(
    broker: Broker, recorder: Recorder, data_root: Path
) -> None:
    (folder,) = find_acquisitions(data_root)
    svc = uploading_service(broker, data_root, None, auto=False)
    try:
        recorder.send({"action": "upload", "id": "u2", "path": [str(folder)]})
        recorder.wait(lambda r: any(m.get("id") == "u2" for m in r.on("status/segmenter/reply")))
    finally:
        svc.close()
    (reply,) = [m for m in recorder.on("status/segmenter/reply") if m.get("id") == "u2"]
    assert not reply["ok"] and reply["message"].startswith("uploads are not set up")


def test_upload_after_each_acquisition_survives_an_outage_and_a_restart(
    broker: Broker, recorder: Recorder, data_root: Path, standin: EcoTaxaStandIn
) -> None:
    spec = SynthSpec(frames=4, objects=5, width=640, height=480, seed=9)
    folder = write_acquisition(data_root, spec)
    standin.down()  # EcoTaxa unreachable from the start
    svc = uploading_service(broker, data_root, server_of(standin), auto=True)
    try:
        recorder.send({"action": "segment", "path": [str(folder)], "settings": {}})
        recorder.wait_status("Done")
        recorder.wait(lambda r: any("waiting" in m["message"] for m in uploads(r)))
    finally:
        svc.close()  # a restart with the upload pending
    rel = str(folder.relative_to(data_root / "img"))
    assert UploadBook(data_root).get(rel).state == "pending"  # type: ignore[union-attr]
    standin.up()
    svc = uploading_service(broker, data_root, server_of(standin), auto=True)
    try:
        recorder.wait(lambda r: any(m["acquisition"] == rel for m in uploads(r, "imported")))
    finally:
        svc.close()
    (done,) = [m for m in uploads(recorder, "imported") if m["acquisition"] == rel]
    assert done["objects"] == len(standin.objects_of(1, done["sample_id"])) > 0
    assert len(standin.imports) == 1
    legacy_clean(recorder)


def test_upload_after_a_live_acquisition(
    broker: Broker, recorder: Recorder, data_root: Path, standin: EcoTaxaStandIn, tmp_path: Path
) -> None:
    spec = SynthSpec(frames=10, objects=4, width=640, height=480, seed=12)
    source = write_acquisition(tmp_path / "source", spec)
    rel = "2026-06-01/S_up/A_up"
    svc = uploading_service(broker, data_root, server_of(standin), auto=True, live=True)
    try:
        replay = [sys.executable, "-m", "segmenter", "replay", str(source), str(data_root)]
        replay += ["--as", rel, "--rate", "50", "--broker", broker.address, "--qos", "1"]
        done = subprocess.run(replay, cwd=REPO, capture_output=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr.decode()
        recorder.wait(lambda r: any(m["acquisition"] == rel for m in uploads(r, "imported")), 90)
    finally:
        svc.close()
    (imported,) = [m for m in uploads(recorder, "imported") if m["acquisition"] == rel]
    assert imported["objects"] == len(standin.objects_of(1, imported["sample_id"])) > 0
    assert set(recorder.statuses()) <= {"Ready", "Dead"}  # the live run and its upload: silent
