"""The engine fed frame by frame, as the imager writes them: the archive equals the batch
archive of the same folder, whatever the timing; idle timeout, resume, incomplete frames."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from segmenter.engine import AcquisitionSummary, Progress, Segmenter
from segmenter.engine.flat_rules import flat_window, settled_flat_window
from segmenter.engine.source import LiveFrames
from segmenter.settings import RunSettings
from tests.conftest import MakeAcq, archive_content

# A burst on frame 6 recalculates the flat before frame 7, from frames 7..15: live, that
# window is known only once frame 17 is there (the baseline's window looks ahead).
SPEC = {"frames": 20, "objects": 5, "bursts": (6,), "burst": 40, "width": 640, "height": 480,
        "seed": 5}  # fmt: skip
SETTINGS = RunSettings(min_esd_um=15.0, remove_previous_mask=True)


@pytest.mark.parametrize("flat_frames", [1, 3, 9])
def test_a_settled_window_is_the_window_of_every_later_count(flat_frames: int) -> None:
    for j in range(30):
        for seen in range(j, 45):
            window = settled_flat_window(j, seen, ended=False, flat_frames=flat_frames)
            if seen >= j + flat_frames + 2 and (j > 0 or seen >= flat_frames):
                assert window is not None, (j, seen)
            if window is None:
                continue
            assert window.stop <= seen
            for n in range(seen, seen + 30):
                assert flat_window(j, n, flat_frames) == window, (j, seen, n)
    assert settled_flat_window(0, 9, ended=False, flat_frames=9) == range(
        9
    )  # the first 9 frames suffice


class Feeder:
    """Copies an acquisition's frames into a new folder one at a time; the finder the live
    source asks (the engine sees a frame once it is released)."""

    def __init__(self, src: Path, dest: Path) -> None:
        self.frames = sorted(src.glob("*.jpg"))
        dest.mkdir(parents=True)
        shutil.copy(src / "metadata.json", dest)
        self.dest, self.released = dest, 0
        self._ready: list[Path] = []
        self._lock = threading.Lock()

    def release(self, count: int = 1) -> None:
        for path in self.frames[self.released : self.released + count]:
            shutil.copy(path, self.dest / path.name)
            with self._lock:
                self._ready.append(self.dest / path.name)
            self.released += 1

    def poll(self) -> list[Path]:
        with self._lock:
            ready, self._ready = self._ready, []
        return ready

    def expected(self) -> int | None:
        return len(self.frames)


@pytest.fixture
def batch(make_acq: MakeAcq, tmp_path: Path) -> tuple[Path, Path, AcquisitionSummary]:
    root, folder = make_acq(root=tmp_path / "batch", **SPEC)
    with Segmenter(2) as seg:
        (summary,) = seg.run([folder], SETTINGS, data_root=root)
    assert summary.status == "done" and summary.archive
    return root, folder, summary


def live_folder(batch_root: Path, folder: Path, root: Path) -> Path:
    return root / folder.relative_to(batch_root)


@pytest.mark.parametrize("workers", [1, 2])
def test_live_archive_equals_the_batch_archive(
    batch: tuple[Path, Path, AcquisitionSummary], tmp_path: Path, workers: int
) -> None:
    batch_root, folder, done = batch
    root = tmp_path / "live"
    feeder = Feeder(folder, live_folder(batch_root, folder, root))
    source = LiveFrames(feeder.dest, feeder)
    events: list[Progress] = []
    out: list[AcquisitionSummary] = []
    with Segmenter(workers) as seg:
        thread = threading.Thread(
            target=lambda: out.append(
                seg.run_live(source, SETTINGS, data_root=root, on_progress=events.append)
            )
        )
        thread.start()
        for _ in feeder.frames[:-1]:
            feeder.release()
            time.sleep(0.08)
        # the last frame waits for a commit (not for a duration: a loaded machine starts the
        # pool late): an engine that segments only once the imager ends never commits here
        deadline = time.monotonic() + 60
        while not any(e.done for e in events) and time.monotonic() < deadline:
            time.sleep(0.05)
        committed_while_imaging = max((e.done for e in events), default=0)
        feeder.release()
        source.end("the imager said Done")
        thread.join(120)
    (summary,) = out
    assert summary.status == "done" and summary.archive, summary
    assert sum(e.phase == "flat" for e in events) == 2, "no recalculation: the test proves less"
    assert archive_content(Path(summary.archive)) == archive_content(Path(done.archive or ""))
    assert committed_while_imaging > 0, "nothing was segmented before the imager ended"
    states = [e.live.state for e in events if e.live is not None]
    assert states[0] == "waiting" and states[-1] == "finishing"
    assert {"keeping up", "lagging"} & set(states)
    assert events[-1].live and events[-1].live.ended == "the imager said Done"
    assert (feeder.dest / "done.txt").exists()


def test_an_imager_gone_silent_ends_at_the_idle_timeout(
    batch: tuple[Path, Path, AcquisitionSummary], make_acq: MakeAcq, tmp_path: Path
) -> None:
    batch_root, folder, _ = batch
    root = tmp_path / "live"
    feeder = Feeder(folder, live_folder(batch_root, folder, root))
    feeder.release(11)
    source = LiveFrames(feeder.dest, feeder, idle_timeout=0.5)
    events: list[Progress] = []
    with Segmenter(2) as seg:
        summary = seg.run_live(source, SETTINGS, data_root=root, on_progress=events.append)
        assert summary.status == "done" and summary.frames == 11
        # the same 11 frames, segmented as a batch, give the same archive
        other = tmp_path / "eleven" / folder.relative_to(batch_root)
        shutil.copytree(feeder.dest, other, ignore=shutil.ignore_patterns("done.txt"))
        (eleven,) = seg.run([other], SETTINGS, data_root=tmp_path / "eleven")
    assert archive_content(Path(summary.archive or "")) == archive_content(
        Path(eleven.archive or "")
    )
    ended = [e.live.ended for e in events if e.live and e.live.ended]
    assert ended and "no new frame for 0.5 s" in ended[-1]


def test_a_stopped_live_run_resumes_from_its_journal(
    batch: tuple[Path, Path, AcquisitionSummary], tmp_path: Path
) -> None:
    batch_root, folder, done = batch
    root = tmp_path / "live"
    feeder = Feeder(folder, live_folder(batch_root, folder, root))
    feeder.release(12)
    first = LiveFrames(feeder.dest, feeder)
    events: list[Progress] = []

    def stop_after_some() -> None:
        while not any(e.phase == "frame" and e.done >= 3 for e in events):
            time.sleep(0.01)
        seg.stop()

    with Segmenter(2) as seg:
        stopper = threading.Thread(target=stop_after_some)
        stopper.start()
        summary = seg.run_live(first, SETTINGS, data_root=root, on_progress=events.append)
        stopper.join(30)
        assert summary.status == "interrupted"
        kept = max(e.done for e in events)
        assert 3 <= kept < 20
        # the service restarted: a new source finds the frames on disk again
        feeder._ready = list(feeder.dest.glob("*.jpg"))
        feeder._ready.sort()
        feeder.release(8)
        second = LiveFrames(feeder.dest, feeder)
        second.end("the imager said Done")
        resumed: list[Progress] = []
        summary = seg.run_live(second, SETTINGS, data_root=root, on_progress=resumed.append)
    assert summary.status == "done" and summary.archive
    assert resumed[0].phase == "start" and resumed[0].done == kept  # resumed, not redone
    assert archive_content(Path(summary.archive)) == archive_content(Path(done.archive or ""))


def test_a_frame_that_never_completes_is_named_failed(
    batch: tuple[Path, Path, AcquisitionSummary], tmp_path: Path
) -> None:
    batch_root, folder, _ = batch
    root = tmp_path / "live"
    feeder = Feeder(folder, live_folder(batch_root, folder, root))
    feeder.release(10)
    half = feeder.frames[10]
    (feeder.dest / half.name).write_bytes(half.read_bytes()[: half.stat().st_size // 2])
    source = LiveFrames(feeder.dest, feeder)
    source.end("the imager said Done")
    with Segmenter(2) as seg:
        summary = seg.run_live(source, SETTINGS, data_root=root)
    assert summary.status == "done" and summary.frames == 11
    assert [f["name"] for f in summary.failed_frames] == [half.name]
    assert "truncated" in summary.failed_frames[0]["reason"]
    meta = json.loads((feeder.dest / "metadata.json").read_text())
    assert meta["acq_id"]


def test_the_imagers_total_wins_over_metadata(
    batch: tuple[Path, Path, AcquisitionSummary], tmp_path: Path
) -> None:
    """metadata.json says 20 frames; the imager announces 24 (metadata was wrong): the
    acquisition does not end at 20, and ends at the imager's count when it is 12."""
    batch_root, folder, _ = batch
    feeder = Feeder(folder, live_folder(batch_root, folder, tmp_path / "live"))
    feeder.release(20)
    source = LiveFrames(feeder.dest, feeder, idle_timeout=60, end_at_expected=True)
    source.announce(24)
    source.refresh(0)
    assert not source.ended and len(source.frames) == 20
    twelve = Feeder(folder, tmp_path / "other")
    twelve.release(12)
    other = LiveFrames(twelve.dest, twelve, end_at_expected=True)
    other.announce(12)
    other.refresh(0)
    assert other.ended and other.end_reason == "all 12 frames announced are in"
    assert len(other.frames) == 12
