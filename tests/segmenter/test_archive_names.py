"""An archive's name is its acquisition's acq_id: two acquisitions with one acq_id (on a
PlanktoScope it is typed by hand, and often reused) must not silently write one zip, and
an acq_id changed after a run must not leave the old zip to be uploaded beside the new."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from segmenter import cli
from tests.conftest import MakeAcq


def run(*args: str | Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    code = cli.main([*map(str, args), "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else {}), err


def edit(folder: Path, **changes: Any) -> None:
    meta = json.loads((folder / "metadata.json").read_text())
    (folder / "metadata.json").write_text(json.dumps(meta | changes))


def test_a_second_acquisition_with_the_same_acq_id_is_refused_naming_both(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    root, first = make_acq(frames=2, seed=1)
    copy = first.parent.parent / "other_sample" / first.name  # s2/a copied from s1/a
    shutil.copytree(first, copy)
    code, summary, _ = run("segment", first, "--workers", "1", capsys=capsys)
    archive = Path(summary["acquisitions"][0]["archive"])
    before = archive.read_bytes()
    code, summary, _ = run("segment", copy, "--workers", "1", capsys=capsys)
    assert code == cli.EXIT_FAILED
    (refused,) = summary["acquisitions"]
    assert refused["status"] == "failed" and refused["archive"] is None

    def rel(folder: Path) -> str:
        return str(folder.relative_to(root / "img"))

    assert rel(first) in refused["message"] and rel(copy) in refused["message"]
    assert archive.name in refused["message"] and "--allow-same-archive" in refused["message"]
    assert archive.read_bytes() == before
    assert not (
        root / "objects" / rel(copy) / f"ecotaxa_{archive.stem.removeprefix('ecotaxa_')}.tsv"
    ).exists()
    code, summary, _ = run("segment", copy, "--workers", "1", "--allow-same-archive", capsys=capsys)
    assert code == cli.EXIT_OK and summary["acquisitions"][0]["archive"] == str(archive)


def test_export_after_an_acq_id_change_removes_the_old_zip_and_report(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    root, folder = make_acq(frames=2, seed=1)
    run("segment", folder, "--workers", "1", capsys=capsys)
    export = root / "export" / "ecotaxa"
    old = sorted(p.name for p in export.iterdir())
    name = "synth_s1_synth_a1"  # sample_id + acq_id, the default contract's (SPEC 7)
    assert old == [
        f"ecotaxa_{name}.zip", f"mosaic_{name}.jpg", f"qc_plot_{name}.png", f"qc_{name}.tsv",
        f"size_spectrum_{name}.png", f"summary_{name}.json",
    ]  # fmt: skip
    edit(folder, acq_id="renamed")
    code, _, err = run("export", folder, capsys=capsys)
    assert code == cli.EXIT_OK, err
    assert sorted(p.name for p in export.iterdir()) == [
        n.replace("synth_a1", "renamed") for n in old
    ]
    objects = root / "objects" / folder.relative_to(root / "img")
    assert [p.name for p in objects.glob("ecotaxa_*.tsv")] == ["ecotaxa_synth_s1_renamed.tsv"]


def test_export_keeps_an_old_name_another_acquisition_still_uses(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    root, first = make_acq(frames=2, seed=1)
    copy = first.parent.parent / "other_sample" / first.name
    shutil.copytree(first, copy)
    run("segment", first, "--workers", "1", capsys=capsys)
    run("segment", copy, "--workers", "1", "--allow-same-archive", capsys=capsys)
    edit(copy, acq_id="renamed")
    assert run("export", copy, capsys=capsys)[0] == cli.EXIT_OK
    export = root / "export" / "ecotaxa"
    assert (export / "ecotaxa_synth_s1_synth_a1.zip").exists()  # first's, still
    assert (export / "ecotaxa_synth_s1_renamed.zip").exists()
