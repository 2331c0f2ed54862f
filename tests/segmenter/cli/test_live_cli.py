"""`segmenter live PATH` beside `segmenter replay` (files only, no broker): it ends when
the announced frames are in, at the idle timeout, or at the first Ctrl-C, and says which;
the archive is the batch archive of the same frames."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segmenter.engine import Segmenter
from segmenter.settings import RunSettings
from tests.conftest import REPO, MakeAcq, archive_content

REL = "2026-06-03/S_cli/A_cli"
SEGMENTER = [sys.executable, "-m", "segmenter"]


def start_replay(src: Path, root: Path, rate: float, *extra: str) -> subprocess.Popen[bytes]:
    command = [*SEGMENTER, "replay", str(src), str(root), "--as", REL, "--rate", str(rate)]
    proc = subprocess.Popen([*command, *extra], cwd=REPO, stdout=subprocess.DEVNULL)
    folder = root / "img" / REL
    deadline = time.monotonic() + 30
    while not (folder / "metadata.json").exists():
        assert time.monotonic() < deadline and proc.poll() is None, "replay did not start"
        time.sleep(0.02)
    return proc


def live(root: Path, *extra: str) -> subprocess.Popen[bytes]:
    command = [*SEGMENTER, "live", str(root / "img" / REL), "--workers", "2", *extra]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def batch(folder: Path, tmp_path: Path) -> Path:
    root = tmp_path / "batch"
    shutil.copytree(folder, root / "img" / REL, ignore=shutil.ignore_patterns("done.txt"))
    with Segmenter(2) as seg:
        (summary,) = seg.run([root / "img" / REL], RunSettings(), data_root=root)
    assert summary.archive
    return Path(summary.archive)


@pytest.fixture
def source(make_acq: MakeAcq, tmp_path: Path) -> Path:
    return make_acq(root=tmp_path / "src", frames=14)[1]


def test_it_ends_when_the_announced_frames_are_in(source: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "img").mkdir(parents=True)
    player = start_replay(source, root, 10.0)
    proc = live(root, "--json")
    out, err = proc.communicate(timeout=120)
    player.wait(30)
    assert proc.returncode == 0, err.decode()
    assert "live: ended: all 14 frames announced are in" in err.decode()
    assert '"status": "done"' in out.decode()
    archive = root / "export" / "ecotaxa" / "ecotaxa_synth_s3_synth_a3.zip"  # SPEC 7 names
    assert archive_content(archive) == archive_content(batch(root / "img" / REL, tmp_path))


def test_it_ends_at_the_idle_timeout(source: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "img").mkdir(parents=True)
    player = start_replay(source, root, 20.0, "--stop-after", "6", "--end", "silent")
    proc = live(root, "--idle-timeout", "1")
    _out, err = proc.communicate(timeout=120)
    player.wait(30)
    assert proc.returncode == 0, err.decode()
    assert "no new frame for 1 s" in err.decode() and "in 6 frames" in err.decode()


def test_the_first_ctrl_c_finishes_with_the_frames_there(source: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "img").mkdir(parents=True)
    player = start_replay(source, root, 2.0)
    proc = live(root)
    time.sleep(4)  # some frames in, not all
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    player.terminate()
    player.wait(30)
    text = err.decode()
    assert proc.returncode == 0, text
    assert "live: ended: Ctrl-C: no more frames" in text
    assert (root / "img" / REL / "done.txt").exists()


def test_cluster_is_refused_in_one_line(
    make_acq: MakeAcq, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`live` runs on this machine's --workers: --cluster is refused, not ignored."""
    from segmenter import cli

    root, folder = make_acq(root=tmp_path / "data", frames=3)
    code = cli.main(["live", str(folder), "--cluster", "local:4", "--idle-timeout", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "--cluster" in err, err
    assert not (root / "objects").exists() or not any((root / "objects").rglob("*.zip"))
