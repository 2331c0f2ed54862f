"""`segmenter upload` against the EcoTaxa stand-in (a real HTTP server on loopback): the
import of every object once, the sample skipped the second time, a wrong password, a
job that ends in E or asks a question, dry run, ls."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from segmenter.cli import main
from segmenter.synth import SynthSpec, write_acquisition
from segmenter.upload.book import UploadBook
from streamer.ecotaxa import read_tsv
from tests.segmenter.upload.ecotaxa_standin import EcoTaxaStandIn


def the_tsv(root: Path) -> list[dict[str, str]]:
    (tsv,) = (root / "objects").rglob("ecotaxa_*.tsv")
    return read_tsv(tsv)[2]


def run_json(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any], str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_upload_imports_every_object_once_then_skips_the_sample(
    data_root: Path, standin: EcoTaxaStandIn, login: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    rows = the_tsv(data_root)
    assert rows
    code, summary, err = run_json(["upload", str(data_root), *login, "--json"], capsys)
    assert code == 0, err
    (upload,) = summary["uploads"]
    assert upload["state"] == "imported" and upload["objects"] == len(rows)
    book = (data_root / ".segmenter" / "uploads.json").read_text(encoding="utf-8")
    assert standin.password not in book + err + json.dumps(summary)  # never written
    assert f"imported: {upload['acquisition']}: {len(rows)} objects into project 1" in err
    sample = rows[0]["sample_id"]
    assert sorted(standin.objects_of(1, sample)) == sorted(r["object_id"] for r in rows)
    # the server unpacked the zip into the folder named like it and deleted the zip; the
    # finished import moved that folder to the trash
    assert not (standin.files / upload["source"]).with_suffix(".zip").exists()
    source = standin.files / "Trash" / upload["source"]
    assert {p.name for p in source.iterdir()} == {
        *(r["img_file_name"] for r in rows),
        f"ecotaxa_{rows[0]['acq_id']}.tsv",
    }
    # a second run: the book says it was imported, nothing is asked of EcoTaxa
    asked = len(standin.requests)
    code, summary, err = run_json(["upload", str(data_root), *login, "--json"], capsys)
    assert code == 0 and summary["uploads"][0]["state"] == "imported"
    assert "(imported earlier: --again sends it anyway)" in err
    assert len(standin.requests) == asked
    # without the book (another instrument sent it): the sample is found in the project
    (data_root / ".segmenter" / "uploads.json").unlink()
    code, summary, err = run_json(["upload", str(data_root), *login, "--json"], capsys)
    assert code == 0 and summary["uploads"][0]["state"] == "skipped"
    assert f"acquisition {rows[0]['acq_id']} of sample {sample} is in project 1 already" in err
    assert standin.requests.count("POST /api/file_import/1") == 1
    assert len(standin.objects_of(1, sample)) == len(rows)


def test_wrong_password_is_one_line(
    data_root: Path,
    standin: EcoTaxaStandIn,
    login: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ECOTAXA_PASSWORD", "not-the-password")
    assert main(["upload", str(data_root), *login]) == 1
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "refused the login (HTTP 403): check the user and the password" in err
    assert "not-the-password" not in out + err
    assert standin.requests == ["POST /api/login"]
    (upload,) = UploadBook(data_root).all().values()
    assert upload.state == "pending"  # not the acquisition's fault: sent on the next run


def test_another_acquisition_of_a_sample_in_the_project_is_sent(
    data_root: Path, standin: EcoTaxaStandIn, login: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    rows = the_tsv(data_root)
    sample = rows[0]["sample_id"]
    standin.seed(1, sample, "an_earlier_acquisition", ["earlier_0", "earlier_1"])
    code, summary, err = run_json(["upload", str(data_root), *login, "--json"], capsys)
    assert code == 0, err
    assert summary["uploads"][0]["state"] == "imported"
    assert len(standin.objects_of(1, sample)) == len(rows) + 2


def test_a_wrong_password_leaves_an_earlier_import_recorded(
    data_root: Path,
    standin: EcoTaxaStandIn,
    login: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert main(["upload", str(data_root), *login]) == 0
    monkeypatch.setenv("ECOTAXA_PASSWORD", "not-the-password")
    assert main(["upload", str(data_root), *login, "--again"]) == 1
    (upload,) = UploadBook(data_root).all().values()
    assert upload.describe() == f"imported {len(the_tsv(data_root))}"


def test_the_password_is_never_a_flag(
    data_root: Path, login: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["upload", str(data_root), *login, "--password", "x"])
    assert exited.value.code == 2


def test_password_file_first_line(
    data_root: Path,
    standin: EcoTaxaStandIn,
    login: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ECOTAXA_PASSWORD")
    secret = tmp_path / "password"
    secret.write_text(standin.password + "\n", encoding="utf-8")
    assert main(["upload", str(data_root), *login, "--password-file", str(secret)]) == 0


def test_a_job_ending_in_e_says_ecotaxas_errors(
    data_root: Path, standin: EcoTaxaStandIn, login: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    rows = the_tsv(data_root)
    standin.seed(1, "someone_else", "a1", [rows[0]["object_id"]])  # an object already there
    code, summary, err = run_json(["upload", str(data_root), *login, "--json"], capsys)
    assert code == 1
    (upload,) = summary["uploads"]
    assert upload["state"] == "failed"
    assert f"Object '{rows[0]['object_id']}' already in project 1" in upload["reason"]
    assert f"failed: {upload['acquisition']}: EcoTaxa's import (job 1) failed" in err
    assert standin.objects_of(1, rows[0]["sample_id"]) == []  # EcoTaxa imported nothing


def test_env_settings_and_dry_run_send_nothing(
    data_root: Path,
    standin: EcoTaxaStandIn,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ECOTAXA_PASSWORD", raising=False)
    monkeypatch.setenv("ECOTAXA_URL", standin.url)
    monkeypatch.setenv("ECOTAXA_USER", "pi")
    monkeypatch.setenv("ECOTAXA_PROJECT", "2")
    code, plan, err = run_json(["upload", str(data_root), "--dry-run", "--json"], capsys)
    assert code == 0 and plan["dry_run"]
    (item,) = plan["uploads"]
    assert item["path"].endswith(Path(item["archive"]).name)
    assert f"into project 2 as pi (skipped if {item['acq_id']} of {item['sample_id']} is" in err
    assert item["objects"] == len(the_tsv(data_root))
    assert standin.requests == []
    assert not (data_root / ".segmenter" / "uploads.json").exists()


def test_ls_shows_the_upload_state(
    data_root: Path, standin: EcoTaxaStandIn, login: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    n = len(the_tsv(data_root))
    assert main(["upload", str(data_root), *login]) == 0
    capsys.readouterr()
    assert main(["ls", str(data_root), "--json"]) == 0
    (item,) = json.loads(capsys.readouterr().out)
    assert item["upload"] == f"imported {n}"
    assert main(["ls", str(data_root)]) == 0
    assert f"[EcoTaxa: imported {n}]" in capsys.readouterr().out


def test_server_down_at_the_start_is_waited_for(
    data_root: Path, standin: EcoTaxaStandIn, login: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    standin.down()
    threading.Timer(1.0, standin.up).start()  # back on the same port a second later
    code = main(["upload", str(data_root), *login])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "waiting 2 s for EcoTaxa: EcoTaxa at http://127.0.0.1" in err  # the progress line
    zip_path = next((data_root / "export").rglob("*.zip"))
    size = zip_path.stat().st_size
    assert f"uploading {zip_path.name}: 100% of {size / 1e6:.1f} MB" in err
    assert "imported: " in err
    (upload,) = UploadBook(data_root).all().values()
    assert upload.state == "imported" and upload.attempts == 1


def test_server_going_away_mid_upload(
    data_root: Path, standin: EcoTaxaStandIn, login: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    rows = the_tsv(data_root)
    standin.cut_uploads, standin.cut_for = 1, 1.0  # half the body, then down for 1 s
    code, summary, err = run_json(["upload", str(data_root), *login, "--json"], capsys)
    assert code == 0, err
    assert standin.requests.count("POST /api/user_files/") == 2
    assert standin.requests.count("POST /api/file_import/1") == 1
    assert summary["uploads"][0]["objects"] == len(rows)
    assert len(standin.objects_of(1, rows[0]["sample_id"])) == len(rows)


def test_still_down_leaves_it_pending_and_the_next_run_finishes(
    data_root: Path, standin: EcoTaxaStandIn, login: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    standin.down()
    code = main(["upload", str(data_root), *login, "--retry-for", "0"])
    err = capsys.readouterr().err
    assert code == 1
    assert "pending: " in err and "`segmenter upload` again goes on from there" in err
    assert main(["ls", str(data_root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["upload"] == "pending"
    standin.up()
    assert main(["upload", str(data_root), *login]) == 0
    assert "imported: " in capsys.readouterr().err


def test_an_acquisition_without_archive_is_named_and_the_others_sent(
    data_root: Path, standin: EcoTaxaStandIn, login: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    spec = SynthSpec(frames=2, objects=2, width=640, height=480, seed=5)
    new = write_acquisition(data_root, spec)  # never segmented
    code, summary, err = run_json(["upload", str(data_root), *login, "--json"], capsys)
    assert code == 1
    assert "no finished archive" in err and f"run `segmenter segment {new}` first" in err
    states = [u.get("state") for u in summary["uploads"]]
    assert states == [None, "imported"] and not summary["ok"]
