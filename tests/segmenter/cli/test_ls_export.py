"""`segmenter ls` on new, partial, done and failed acquisitions, and `segmenter export`
after a metadata edit against a fresh segmentation of the edited acquisition."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from segmenter.cli import main
from segmenter.engine import Progress, Segmenter
from segmenter.engine.source import LiveFrames
from segmenter.settings import RunSettings
from streamer.ecotaxa import read_tsv
from tests.conftest import MakeAcq, archive_content
from tests.golden.test_golden import BASELINE, segment_case
from tests.segmenter.engine.test_live_engine import Feeder


def segment(root: Path, folder: Path, stop_after: int | None = None, **settings: Any) -> str:
    with Segmenter(1) as seg:

        def progress(event: Progress) -> None:
            if stop_after is not None and event.phase == "frame" and event.done >= stop_after:
                seg.stop(wait=False)

        (summary,) = seg.run(
            [folder], RunSettings(**settings), data_root=root, on_progress=progress
        )
    return summary.status


def ls(root: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, Any]]:
    assert main(["ls", str(root), "--json"]) == 0
    return {item["path"].split("/")[-1]: item for item in json.loads(capsys.readouterr().out)}


def edit(folder: Path, **changes: Any) -> None:
    meta = json.loads((folder / "metadata.json").read_text())
    (folder / "metadata.json").write_text(json.dumps(meta | changes, ensure_ascii=False))


def test_ls_new_partial_done_and_failed(
    make_acq: MakeAcq, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "data"
    make_acq(root, frames=3, seed=1)  # new
    _, partial = make_acq(root, frames=8, seed=2)
    _, done = make_acq(root, frames=4, seed=3)
    _, failed = make_acq(root, frames=4, seed=4)
    _, invalid = make_acq(root, frames=2, seed=5)
    _, nested = make_acq(root, frames=2, seed=6)
    edit(nested, acq_camera={"iso": 100})
    assert segment(root, nested) == "failed"
    assert segment(root, partial, stop_after=3) == "interrupted"
    assert segment(root, done) == "done"
    for frame in sorted(failed.glob("*.jpg"))[1:]:  # 3 of 4 frames unreadable
        frame.write_bytes(b"not a jpeg")
    assert segment(root, failed) == "failed"
    (invalid / "metadata.json").write_text("{not json")

    items = ls(root, capsys)
    assert set(items) == {f"synth_a{seed}" for seed in range(1, 7)}
    assert items["synth_a1"] | {"path": ""} == {
        "path": "", "state": "new", "frames": 3, "committed": 0, "objects": 0,
        "archive": None, "reason": None,
    }  # fmt: skip
    part = items["synth_a2"]
    assert part["state"] == "partial" and 3 <= part["committed"] < 8 and part["frames"] == 8
    journal = root / "objects" / Path(part["path"]) / ".segmenter" / "frames"
    lines = [json.loads(p.read_text()) for p in sorted(journal.glob("*.jsonl"))]
    assert part["committed"] == len(lines)
    assert part["objects"] == sum(len(line["objects"]) for line in lines) > 0
    finished = items["synth_a3"]
    _, _, rows = read_tsv(next((root / "objects" / finished["path"]).glob("ecotaxa_*.tsv")))
    assert finished["state"] == "done" and finished["committed"] == 4
    assert finished["objects"] == len(rows) > 0
    assert finished["archive"] == str(
        root / "export" / "ecotaxa" / "ecotaxa_synth_s3_synth_a3.zip"
    )  # SPEC 7 names
    bad = items["synth_a4"]
    assert bad["state"] == "failed" and "3 of 4 frames failed" in bad["reason"]
    assert bad["archive"] is None
    assert items["synth_a5"]["state"] == "failed"
    assert "not readable JSON" in items["synth_a5"]["reason"]
    assert items["synth_a6"]["state"] == "failed" and "nested" in items["synth_a6"]["reason"]
    assert not (root / "objects" / items["synth_a6"]["path"]).exists()  # ls wrote nothing

    assert main(["ls", str(root)]) == 0  # the text form: one line each
    text = capsys.readouterr().out.splitlines()
    assert len(text) == 6 and any(t.startswith("partial") and "/8 frames" in t for t in text)

    # fixed and run again: the failure record goes with the new run
    shutil.rmtree(failed)
    make_acq(root, frames=4, seed=4)
    assert segment(root, failed) == "done"
    assert ls(root, capsys)["synth_a4"]["state"] == "done"


def test_export_after_a_metadata_edit_equals_a_fresh_segmentation(
    make_acq: MakeAcq, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, folder = make_acq(tmp_path / "a", frames=6, seed=7)
    assert segment(root, folder, process_id="p7") == "done"
    old_tsv = next((root / "objects").rglob("ecotaxa_*.tsv"))
    edit(folder, sample_id="S_fixed", acq_id="A fixed", acq_imaged_volume=0.5, sample_note="é")
    assert main(["export", str(folder), "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    archive = Path(result["archive"])
    assert archive.name == "ecotaxa_S_fixed_A_fixed.zip" and not old_tsv.exists()  # SPEC 7

    fresh_root = tmp_path / "b"
    shutil.copytree(root / "img", fresh_root / "img")
    fresh = fresh_root / folder.relative_to(root)
    (fresh / "done.txt").unlink()
    assert segment(fresh_root, fresh, process_id="p7") == "done"
    fresh_zip = fresh_root / "export" / "ecotaxa" / archive.name
    assert archive_content(archive) == archive_content(fresh_zip)
    ids = {read_tsv(next(r.rglob("ecotaxa_*.tsv")))[2][0]["process_id"] for r in (root, fresh_root)}
    assert ids == {"synthetic_S_fixed_p7"}  # the run's process id, the new sample_id
    figures = json.loads((root / "export" / "ecotaxa" / "summary_S_fixed_A_fixed.json").read_text())
    assert figures["objects_per_ml"] == pytest.approx(result["objects"] / 0.5)


def test_export_refuses_what_it_cannot_rebuild(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    root, folder = make_acq(frames=5)
    assert main(["export", str(folder)]) == 1
    assert "never segmented" in capsys.readouterr().err
    assert segment(root, folder) == "done"
    edit(folder, process_pixel=1.5)
    assert main(["export", str(folder)]) == 1
    assert "process_pixel changed" in capsys.readouterr().err
    edit(folder, process_pixel=0.75)
    journal = next((root / "objects").rglob(".segmenter")) / "frames"
    (journal / "000003.jsonl").unlink()
    assert main(["export", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "2 of 5 frames are missing from the journal" in err and err.count("\n") == 1


def test_export_on_a_golden_acquisition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dense case (an acq_id with spaces): export after an edit == a fresh run of the
    edited acquisition (same process id, as segment_case sets it)."""
    g = segment_case("dense", tmp_path / "a" / "data", 1)
    edit(g.folder, sample_operator="someone else", acq_imaged_volume=1.25)
    assert main(["export", str(g.folder)]) == 0
    edited = tmp_path / "edited"
    shutil.copytree(BASELINE / "dense", edited)
    shutil.copy(g.folder / "metadata.json", next(edited.glob("img/**/metadata.json")))
    monkeypatch.setattr("tests.golden.test_golden.BASELINE", tmp_path)  # the edited copy
    fresh = segment_case("edited", tmp_path / "b" / "data", 1)
    assert fresh.archive.name == g.archive.name
    ours, theirs = archive_content(g.archive), archive_content(fresh.archive)
    assert ours == theirs
    assert {r["sample_operator"] for r in ours[0]} == {"someone else"}


def test_ls_and_export_after_a_live_run(
    make_acq: MakeAcq, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A live run's journal records no frame list (frames are checked as they come): ls
    and export check the committed names against the folder's instead."""
    src_root, src = make_acq(tmp_path / "src", frames=5, seed=9)
    root = tmp_path / "live"
    feeder = Feeder(src, root / src.relative_to(src_root))
    feeder.release(5)
    with Segmenter(1) as seg:
        source = LiveFrames(feeder.dest, feeder, end_at_expected=True)
        summary = seg.run_live(source, RunSettings(), data_root=root)
    assert summary.status == "done", summary.message
    assert ls(root, capsys)["synth_a9"] | {"path": "", "archive": None} == {
        "path": "", "state": "done", "frames": 5, "committed": 5,
        "objects": summary.objects, "archive": None, "reason": None,
    }  # fmt: skip
    edit(feeder.dest, sample_id="S_live")
    assert main(["export", str(feeder.dest)]) == 0
    fresh_root = tmp_path / "fresh"
    shutil.copytree(root / "img", fresh_root / "img", ignore=shutil.ignore_patterns("done.txt"))
    assert segment(fresh_root, fresh_root / src.relative_to(src_root)) == "done"
    name = "ecotaxa_S_live_synth_a9.zip"  # SPEC 7: sample and acquisition ids
    assert archive_content(root / "export" / "ecotaxa" / name) == archive_content(
        fresh_root / "export" / "ecotaxa" / name
    )
