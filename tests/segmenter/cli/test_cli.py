"""`segmenter segment` from the command line: bad inputs give one clear line and an exit
code, nothing else is lost; a SIGKILLed run resumes to the same archive; the real frame."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from benchmark import old_method
from segmenter import cli
from streamer.ecotaxa import read_tsv, validate_header
from tests.conftest import REAL_FRAME, REPO, MakeAcq, archive_content
from tests.worker.test_kernel_vs_old_method import assert_same_objects
from worker.correct import median_into
from worker.decode import read_frame
from worker.kernel import segment_frame
from worker.params import Params

CLI = [sys.executable, "-m", "segmenter"]


def segment(*args: str | Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    """Run `segmenter segment ARGS --json` in-process: (exit code, JSON summary, stderr)."""
    code = cli.main(["segment", *map(str, args), "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else {}), err


def rows_of(summary: Any) -> list[dict[str, str]]:
    (acq,) = summary["acquisitions"]
    rows, crops = archive_content(Path(acq["archive"]))
    assert len(crops) == len(rows)
    return rows


def frames_of(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jpg"))


# -- input that is not an acquisition ------------------------------------------------
def test_nonexistent_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, summary, err = segment(tmp_path / "img" / "nope", capsys=capsys)
    assert code == cli.EXIT_USAGE and summary == {}
    assert err.strip().splitlines() == [
        f"segmenter: error: {tmp_path / 'img' / 'nope'} does not exist"
    ]


def test_folder_without_metadata(make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]) -> None:
    root, folder = make_acq(frames=2)
    (folder / "metadata.json").unlink()
    code, _, err = segment(folder, capsys=capsys)
    assert code == cli.EXIT_FAILED
    assert "no acquisition (folder with metadata.json) found" in err
    assert not (root / "objects").exists()


def test_exit_code_follows_the_error_not_its_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder that exists but holds no acquisition is a failed run (1), not a usage
    error (2), even when its name reads like one."""
    folder = tmp_path / "img" / "does not exist"
    folder.mkdir(parents=True)
    code, _, err = segment(folder, capsys=capsys)
    assert code == cli.EXIT_FAILED
    assert "no acquisition (folder with metadata.json) found" in err


@pytest.mark.parametrize(
    "command",
    [
        ["segment", "{missing}"],
        ["live", "{missing}"],
        ["ls", "{missing}"],
        ["report", "{missing}"],
        ["export", "{missing}"],
        ["upload", "{missing}", "--project", "1"],
        ["serve", "--data-root", "{missing}"],
    ],
)
def test_a_path_that_does_not_exist_is_a_usage_error(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "img" / "nope")
    code = cli.main([part.format(missing=missing) for part in command])
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert code == cli.EXIT_USAGE
    assert line.startswith("segmenter: error: ") and "does not exist" in line


def test_empty_acquisition(make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]) -> None:
    _, folder = make_acq(frames=2)
    for frame in frames_of(folder):
        frame.unlink()
    code, summary, _ = segment(folder, capsys=capsys)
    assert code == cli.EXIT_FAILED
    (acq,) = summary["acquisitions"]
    assert acq["status"] == "failed" and "holds no .jpg frames" in acq["message"]


def test_path_outside_any_img_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "loose").mkdir()
    code, _, err = segment(tmp_path / "loose", capsys=capsys)
    assert code == cli.EXIT_FAILED and "--data-root" in err


# -- bad frames among good ones ------------------------------------------------------
def test_truncated_frame_is_reported_and_the_rest_archived(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    _, folder = make_acq(frames=6)
    victim = frames_of(folder)[3]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 3])
    code, summary, _ = segment(folder, capsys=capsys)
    assert code == cli.EXIT_OK
    (acq,) = summary["acquisitions"]
    assert [f["name"] for f in acq["failed_frames"]] == [victim.name]
    rows = rows_of(summary)
    stems = {r["object_id"].rsplit("_", 1)[0] for r in rows}
    assert victim.stem not in stems and len(stems) >= 3


def test_frame_of_another_size_is_reported(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    _, folder = make_acq(frames=6)
    victim = frames_of(folder)[4]
    small = cv2.resize(read_frame(victim), (320, 240))
    cv2.imwrite(str(victim), small)
    code, summary, _ = segment(folder, capsys=capsys)
    assert code == cli.EXIT_OK
    (acq,) = summary["acquisitions"]
    assert [f["name"] for f in acq["failed_frames"]] == [victim.name]
    assert "320x240" in acq["failed_frames"][0]["reason"]
    assert rows_of(summary)


def test_single_frame(make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]) -> None:
    """One frame is its own flat field: nothing stands out, and the archive is still valid."""
    _, folder = make_acq(frames=1)
    code, summary, _ = segment(folder, capsys=capsys)
    assert code == cli.EXIT_OK
    (acq,) = summary["acquisitions"]
    assert acq["frames"] == 1 and acq["failed_frames"] == []
    assert rows_of(summary) == [] and Path(acq["archive"]).stat().st_size > 0


# -- metadata ------------------------------------------------------------------------
def edit_metadata(folder: Path, **changes: object) -> None:
    path = folder / "metadata.json"
    meta = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    path.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def test_numeric_sample_id_and_non_ascii_text(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    _, folder = make_acq(frames=4)
    edit_metadata(folder, sample_id=12, acq_id=7, sample_comment="Mer d'Iroise — été, µm")
    code, summary, _ = segment(folder, capsys=capsys)
    assert code == cli.EXIT_OK
    rows = rows_of(summary)
    # SPEC 7 (the default contract): both columns and the names hold the combined id
    assert rows and {(r["sample_id"], r["acq_id"]) for r in rows} == {("12_7", "12_7")}
    assert {r["sample_comment"] for r in rows} == {"Mer d'Iroise — été, µm"}
    assert summary["acquisitions"][0]["archive"].endswith("ecotaxa_12_7.zip")


def test_missing_process_pixel_measures_in_pixels(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    _, folder = make_acq(frames=4)
    edit_metadata(folder, process_pixel=None)
    code, summary, _ = segment(folder, capsys=capsys)
    assert code == cli.EXIT_OK
    rows = rows_of(summary)
    assert rows and {r["process_min_esd_unit"] for r in rows} == {"px"}


@pytest.mark.parametrize("value", ["abc", -1, 0, True])
def test_bad_process_pixel_is_named(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str], value: object
) -> None:
    root, folder = make_acq(frames=2)
    edit_metadata(folder, process_pixel=value)
    code, summary, _ = segment(folder, capsys=capsys)
    assert code == cli.EXIT_FAILED
    (acq,) = summary["acquisitions"]
    assert acq["status"] == "failed" and "process_pixel" in acq["message"]
    assert not (root / "objects").exists() and not (folder / "done.txt").exists()


# -- where outputs go ----------------------------------------------------------------
def test_objects_path_blocked_by_a_file(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    root, folder = make_acq(frames=2)
    (root / "objects").write_text("not a folder")
    code, summary, _ = segment(folder, capsys=capsys)
    assert code == cli.EXIT_FAILED
    (acq,) = summary["acquisitions"]
    assert acq["message"].startswith("cannot write") and str(root / "objects") in acq["message"]


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs mounted for the test (root only; skipped elsewhere)."""
    where = tmp_path / "tmpfs"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_read_only_data_root(
    make_acq: MakeAcq, tmpfs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, folder = make_acq(root=tmpfs, frames=3)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    code, summary, _ = segment(folder, capsys=capsys)
    assert code == cli.EXIT_FAILED
    (acq,) = summary["acquisitions"]
    assert "Read-only file system" in acq["message"] and "check the data root" in acq["message"]


def test_disk_full_keeps_the_committed_part_and_resumes(
    make_acq: MakeAcq, tmpfs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Frames fill a 3 MB tmpfs; a ballast file takes the rest. The run fails naming the
    path and the free space, keeps what it committed, and completes once space is freed."""
    root, folder = make_acq(root=tmpfs, frames=8, width=800, height=600)
    ballast = tmpfs / "ballast"
    free = shutil.disk_usage(tmpfs).free
    ballast.write_bytes(b"\0" * max(0, free - 20_000))
    code, summary, _ = segment(folder, capsys=capsys)
    assert code == cli.EXIT_FAILED
    (acq,) = summary["acquisitions"]
    assert "disk full writing" in acq["message"] and "MB free" in acq["message"]
    assert not list(tmpfs.rglob("*.tmp")), "a half-written file is visible"
    committed = list((root / "objects").rglob("frames/*.jsonl"))
    ballast.unlink()
    code, summary, _ = segment(folder, capsys=capsys)
    assert code == cli.EXIT_OK, summary
    assert len(list((root / "objects").rglob("frames/*.jsonl"))) == 8 >= len(committed)
    assert rows_of(summary)


# -- the JSON summary and --help -----------------------------------------------------
def test_json_summary_shape(make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]) -> None:
    _, folder = make_acq(frames=3)
    code, summary, _ = segment(folder, "--workers", "1", capsys=capsys)
    assert code == cli.EXIT_OK and summary["ok"] is True
    (acq,) = summary["acquisitions"]
    assert set(acq) == {
        "path", "status", "frames", "failed_frames", "objects", "archive", "seconds", "message",
        "report", "flow_cell_clean", "flow_cell_spots", "qc",
    }  # fmt: skip
    assert 0 < acq["flow_cell_clean"] <= 100 and acq["flow_cell_spots"] >= 0
    assert acq["qc"]["frames_with_qc"] == 3 and acq["qc"]["warnings"] == []
    assert Path(acq["report"]).name.startswith("summary_") and Path(acq["report"]).is_file()
    assert acq["path"] == str(folder.resolve()) and acq["frames"] == 3
    assert acq["objects"] == len(rows_of(summary)) and acq["seconds"] > 0
    code, again, _ = segment(folder, capsys=capsys)  # done.txt: skipped, still success
    assert code == cli.EXIT_OK and again["acquisitions"][0]["status"] == "skipped"


def test_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["segment", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--data-root", "--workers", "--force", "--keep", "--json", "exit status"):
        assert flag in text


# -- SIGKILL of the whole command, then resume ---------------------------------------
def test_sigkill_mid_run_then_resume_gives_the_same_archive(
    make_acq: MakeAcq, tmp_path: Path
) -> None:
    spec = {"frames": 24, "objects": 12, "width": 800, "height": 600, "seed": 5}
    clean_root, clean_folder = make_acq(root=tmp_path / "clean", **spec)
    root, folder = make_acq(**spec)
    env = os.environ | {"PYTHONPATH": str(REPO)}
    args = ["segment", "--workers", "2", "--remove-previous-mask", "--json"]
    subprocess.run([*CLI, *args, str(clean_folder)], check=True, env=env, capture_output=True)
    frames_dir = root / "objects" / folder.relative_to(root / "img") / ".segmenter" / "frames"
    proc = subprocess.Popen([*CLI, *args, str(folder)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while len(list(frames_dir.glob("*.jsonl"))) < 6 and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the parent and its workers, with no warning
    proc.wait()
    killed_at = len(list(frames_dir.glob("*.jsonl")))
    assert 6 <= killed_at < 24, "the run finished before it could be killed"
    assert not (folder / "done.txt").exists()
    resumed = subprocess.run([*CLI, *args, str(folder)], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)["acquisitions"][0]
    clean_zip = clean_root / "export" / "ecotaxa" / Path(summary["archive"]).name
    assert archive_content(Path(summary["archive"])) == archive_content(clean_zip)
    assert not list(root.rglob("*.tmp"))


# -- the real frame ------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_frame() -> np.ndarray:
    if not REAL_FRAME.exists():
        pytest.skip(f"{REAL_FRAME} is not here")
    frame = cv2.imread(str(REAL_FRAME))
    assert frame is not None and frame.shape == (3040, 4056, 3)
    return frame


def real_acquisition(root: Path, frame: np.ndarray) -> Path:
    """The real frame, then two copies rolled by a third of its width: the median of the
    three is the real background with the particles removed, as a moving sample gives."""
    folder = root / "img" / "2025-09-18" / "real" / "real_a1"
    folder.mkdir(parents=True)
    w = frame.shape[1]
    for i, shift in enumerate((0, w // 3, 2 * w // 3)):
        cv2.imwrite(str(folder / f"15_06_04_00000{i}.jpg"), np.roll(frame, shift, axis=1),
                    [cv2.IMWRITE_JPEG_QUALITY, 95])  # fmt: skip
    meta = {"sample_id": "real", "acq_id": "real_a1", "process_pixel": 0.75,
            "sample_project": "PlanktoScope contributors"}  # fmt: skip
    (folder / "metadata.json").write_text(json.dumps(meta))
    return folder


def test_real_frame_archive_follows_the_spec(
    real_frame: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = real_acquisition(tmp_path / "data", real_frame)
    code, summary, _ = segment(folder, "--workers", "2", capsys=capsys)
    assert code == cli.EXIT_OK
    (acq,) = summary["acquisitions"]
    assert acq["objects"] > 0 and acq["failed_frames"] == []
    tsv = next((tmp_path / "data" / "objects").rglob("ecotaxa_real_a1.tsv"))
    names, types, _ = read_tsv(tsv)
    validate_header(names, types)
    rows = rows_of(summary)
    assert len(rows) == acq["objects"]
    # the ESD threshold is in micrometres: 20 um at 0.75 um per pixel
    assert all(float(r["object_equivalent_diameter"]) >= 20.0 for r in rows)  # um (SPEC 7)


def test_real_frame_fast_equals_the_old_method(real_frame: np.ndarray) -> None:
    """The fast kernel against the old program's method on the real frame (flat from the
    frame and two rolled copies). The README quotes this comparison."""
    w = real_frame.shape[1]
    stack = np.stack([np.roll(real_frame, s, axis=1) for s in (0, w // 3, 2 * w // 3)])
    params = Params(pixel_size_um=0.75)
    flat = np.empty_like(real_frame)
    median_into(stack, flat)
    corrected = old_method.correct(real_frame, old_method.manual_median(list(stack), 3))
    mask = old_method.clean(old_method.threshold(corrected), None)
    expected = old_method.objects(
        corrected, mask, min_esd_px=params.min_esd_px, stem="real", start=0
    )
    seg, _ = segment_frame(real_frame.copy(), flat, params=params, previous=None)
    assert len(expected) > 0
    assert_same_objects(seg, expected)
