"""SIGKILL of the whole service (parent, workers, forkserver, resource tracker) during a
job: on restart the item resumes from its committed frames to the uninterrupted archive,
and the shared memory the killed process left is swept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from segmenter.engine import shared_memory as shm
from tests.segmenter.service.harness import (
    COUNT_RE,
    Broker,
    Recorder,
    assert_archive_as_uninterrupted,
    iter_frames,
    two_copies,
)
from tests.segmenter.service.test_serve import assert_resumed_off_the_legacy_stream

REPO = Path(__file__).resolve().parents[2]
FRAMES, SIZE, SEED = 30, (1352, 1014), 9


def serve(broker: Broker, data_root: Path, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "segmenter", "serve", "--broker", broker.address]
    command += ["--data-root", str(data_root), "--workers", "2"]
    with open(log, "ab") as out:
        return subprocess.Popen(command, cwd=REPO, stdout=out, stderr=out, start_new_session=True)


def test_sigkill_of_the_service_then_restart_resumes(
    broker: Broker, acq_cache: Callable[..., Path], tmp_path: Path
) -> None:
    source = acq_cache(FRAMES, *SIZE, SEED)
    root, reference_root, rel = two_copies(source, tmp_path)
    folder, log = root / rel, tmp_path / "serve.log"
    rec = Recorder(broker)
    try:
        first = serve(broker, root, log)
        rec.wait(lambda r: "Ready" in r.statuses(), 30)
        rec.send({"action": "segment", "path": [str(folder)], "id": "job"})
        rec.wait(lambda r: sum(bool(COUNT_RE.search(s)) for s in r.statuses()) >= 3, 60)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        killed = f"{shm.PREFIX}{first.pid}_"
        assert [n for n in shm.ours() if n.startswith(killed)], "the kill left no flat behind"
        committed = len(list(iter_frames(root, folder)))
        assert 0 < committed < FRAMES and not (folder / "done.txt").exists()
        saved = json.loads((root / ".segmenter" / "queue.json").read_text())["items"]
        assert [i["id"] for i in saved] == ["job"]

        mark = len(rec.messages)
        second = serve(broker, root, log)
        try:
            rec.wait(lambda r: r.state("job") == "done", 90)
            assert_resumed_off_the_legacy_stream(rec, mark, "job")
            assert not [n for n in shm.ours() if n.startswith(killed)], "not swept"
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0, log.read_text()
    finally:
        rec.close()
    assert len(list(iter_frames(root, folder))) == FRAMES
    assert_archive_as_uninterrupted(root, reference_root, rel)
