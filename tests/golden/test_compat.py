"""Output contracts (streamer.contract): chosen by --compat and MQTT settings.compat,
refused in one line when unknown, kept by `export` (an old journal, made before
contracts existed, re-exports as 2026-03), followed by `ls` and the report."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from segmenter.cli import main
from segmenter.errors import ConfigError
from segmenter.service.commands import parse_command
from segmenter.settings import RunSettings
from streamer import contract
from streamer.ecotaxa import read_tsv, validate_header
from tests.conftest import MakeAcq, archive_content
from tests.segmenter.cli.test_ls_export import ls, segment

KNOWN = "known are 2026-03, 2026-06"


def make_old_journal(objects_dir: Path) -> None:
    """Turn a 2026-03 run's journal into one written before contracts existed: no
    `compat`, no `records`, no raw 2026-06 values, no contours."""
    state = objects_dir / ".segmenter"
    manifest = json.loads((state / "run.json").read_text())
    manifest.pop("compat")
    manifest["run"].pop("records")
    (state / "run.json").write_text(json.dumps(manifest))
    for path in sorted((state / "frames").glob("*.jsonl")):
        line = json.loads(path.read_text())
        for obj in line["objects"]:
            obj.pop("contour", None)
            for name in contract.RAW_NEW:
                obj["features"].pop(name)
        path.write_text(json.dumps(line) + "\n")


def archive_of(root: Path) -> Path:
    (archive,) = (root / "export" / "ecotaxa").glob("ecotaxa_*.zip")
    return archive


def header(archive: Path) -> list[str]:
    with zipfile.ZipFile(archive) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".tsv")]
        return zf.read(name).decode("utf-8-sig").split("\n")[0].split("\t")


def test_an_old_journal_re_exports_as_2026_03(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    root, folder = make_acq(frames=4, seed=11)
    assert segment(root, folder, process_id="p", compat="2026-03") == "done"
    original = archive_content(archive_of(root))
    names = header(archive_of(root))
    assert "process_compat" not in names and "object_bw" not in names  # today's archive
    objects_dir = next((root / "objects").rglob(".segmenter")).parent
    make_old_journal(objects_dir)
    archive_of(root).unlink()

    assert main(["export", str(folder)]) == 0
    assert archive_of(root).name == "ecotaxa_synth_a11.zip"
    assert archive_content(archive_of(root)) == original
    assert header(archive_of(root)) == names
    assert ls(root, capsys)["synth_a11"]["archive"] == str(archive_of(root))

    assert main(["export", str(folder), "--compat", "2026-06"]) == 1
    err = capsys.readouterr().err
    assert "before the 2026-06 output contract existed" in err and err.count("\n") == 1
    assert archive_of(root).name == "ecotaxa_synth_a11.zip"  # nothing replaced


def test_export_keeps_the_run_s_contract_unless_asked(
    make_acq: MakeAcq, capsys: pytest.CaptureFixture[str]
) -> None:
    root, folder = make_acq(frames=4, seed=12)
    assert segment(root, folder, process_id="p") == "done"  # the default: 2026-06
    new = archive_of(root)
    assert new.name == "ecotaxa_synth_s12_synth_a12.zip"
    first = archive_content(new)
    assert first[0][0]["process_compat"] == "2026-06"
    assert main(["export", str(folder)]) == 0
    assert archive_of(root) == new and archive_content(new) == first

    assert main(["export", str(folder), "--compat", "2026-03"]) == 0
    old = archive_of(root)  # the 2026-06 zip is replaced, not left beside it
    assert old.name == "ecotaxa_synth_a12.zip"
    names = header(old)
    assert "process_compat" not in names
    objects = [n for n in names if n in set(contract.column_names(contract.OLD))]
    assert tuple(objects) == contract.column_names(contract.OLD)
    capsys.readouterr()
    assert ls(root, capsys)["synth_a12"]["archive"] == str(old)
    assert main(["export", str(folder)]) == 0  # now the run's contract is 2026-03
    assert archive_of(root) == old
    reports = sorted(p.name for p in (root / "export" / "ecotaxa").glob("[!e]*"))
    assert reports == [
        "mosaic_synth_a12.jpg",
        "qc_plot_synth_a12.png",
        "qc_synth_a12.tsv",
        "size_spectrum_synth_a12.png",
        "summary_synth_a12.json",
    ]


def test_sizes_converted_once_and_the_report_in_micrometres_in_both(
    make_acq: MakeAcq, tmp_path: Path
) -> None:
    """The same acquisition in both contracts: areas x px^2 in 2026-06 only
    (process_pixel_applied), and the report's figures identical (never converted twice)."""
    figures, rows = {}, {}
    for compat in contract.CONTRACTS:
        root, folder = make_acq(tmp_path / compat, frames=4, seed=13)
        assert segment(root, folder, compat=compat) == "done"
        rows[compat] = archive_content(archive_of(root))[0]
        (summary,) = (root / "export" / "ecotaxa").glob("summary_*.json")
        data = json.loads(summary.read_text())
        figures[compat] = {k: v for k, v in data.items() if "seconds" not in k}
    px = float(rows["2026-03"][0]["process_pixel"])
    assert rows["2026-06"][0]["process_pixel_applied"] == "True"
    for old, new in zip(rows["2026-03"], rows["2026-06"], strict=True):
        assert float(new["object_area"]) == float(old["object_area"]) * (px * px)
        assert float(new["object_width"]) == float(old["object_width"]) * px
    assert figures["2026-03"] == figures["2026-06"]


def test_a_tsv_of_each_contract_passes_ecotaxa_s_header_rules(
    make_acq: MakeAcq, tmp_path: Path
) -> None:
    for compat in contract.CONTRACTS:
        root, folder = make_acq(tmp_path / compat, frames=3, seed=14)
        assert segment(root, folder, compat=compat) == "done"
        (tsv,) = (root / "objects").rglob("ecotaxa_*.tsv")
        names, types, rows = read_tsv(tsv)
        validate_header(names, types)
        assert set(contract.column_names(compat)) <= set(names)
        assert all(len(cell) <= 250 for row in rows for cell in row.values())


def test_an_unknown_contract_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match=KNOWN):
        RunSettings(compat="2026-12")
    command = {"action": "segment", "path": ["x"], "settings": {"compat": "2025"}}
    with pytest.raises(ConfigError, match=f"settings.compat: .*{KNOWN}"):
        parse_command(json.dumps(command).encode())
    update = {"action": "update_config", "config": {"compat": "2026-03"}}
    parsed = parse_command(json.dumps(update).encode())
    assert parsed.settings.apply(RunSettings()).compat == "2026-03"  # type: ignore[union-attr]
    with pytest.raises(SystemExit):
        main(["segment", "somewhere", "--compat", "2026-13"])
    err = capsys.readouterr().err.strip().splitlines()
    assert KNOWN in err[-1]


def test_the_service_s_default_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve --compat`, else $SEGMENTER_COMPAT (systemd/segmenter.env), else 2026-06."""
    from segmenter.cli.service import _default_compat

    monkeypatch.delenv("SEGMENTER_COMPAT", raising=False)
    assert _default_compat(None) == contract.DEFAULT == "2026-06"
    monkeypatch.setenv("SEGMENTER_COMPAT", "2026-03")
    assert _default_compat(None) == "2026-03"
    assert _default_compat("2026-06") == "2026-06"
    monkeypatch.setenv("SEGMENTER_COMPAT", "march")
    with pytest.raises(ConfigError, match=f"^SEGMENTER_COMPAT: .*{KNOWN}$"):
        _default_compat(None)
