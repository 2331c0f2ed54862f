"""Faults of an upload against the EcoTaxa stand-in: a lost answer to the import, a
restart at each step recorded in the book, a job that asks a question, files EcoTaxa
drops while unpacking. Never an acquisition imported twice."""

from __future__ import annotations

import threading
import time
import zipfile
from dataclasses import replace
from pathlib import Path

from segmenter.acquisition import find_acquisitions
from segmenter.upload.book import IMPORTED, IMPORTING, UPLOADING, Upload, UploadBook
from segmenter.upload.config import Server
from segmenter.upload.run import AGAIN, FOUND, Policy, Uploader
from segmenter.upload.targets import Target, target_of
from streamer.ecotaxa import read_tsv
from tests.segmenter.upload.ecotaxa_standin import EcoTaxaStandIn

FAST = Policy(retry_for=30.0, first_delay=0.2, max_delay=1.0, poll=0.1)


def target(root: Path) -> Target:
    (folder,) = find_acquisitions(root)
    return target_of(folder, root)


def rows_of(t: Target) -> list[dict[str, str]]:
    with zipfile.ZipFile(t.archive) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".tsv")]
        zf.extract(name, t.archive.parent / "tsv")
    return read_tsv(t.archive.parent / "tsv" / name)[2]


def uploader(standin: EcoTaxaStandIn, root: Path, stop: threading.Event | None = None) -> Uploader:
    server = Server(standin.url, standin.user, standin.password, 1)
    return Uploader(server, UploadBook(root), FAST, report=lambda _u, _text: None, stop=stop)


def test_a_lost_answer_to_an_import_that_ran_is_not_imported_again(
    data_root: Path, standin: EcoTaxaStandIn
) -> None:
    t = target(data_root)
    rows = rows_of(t)
    standin.lose_import_answers = 1  # the job starts, its number never reaches us
    up = uploader(standin, data_root)

    def until_it_ran(_upload: object, text: str) -> None:
        while text.startswith("waiting") and standin.job_json(1)["state"] != "F":
            time.sleep(0.05)

    up.report = until_it_ran
    done = up.send(t)
    assert done.state == IMPORTED and done.reason == FOUND
    assert done.objects == len(rows)  # counted in the project
    assert len(standin.imports) == 1  # its source went to the trash: never asked again
    assert sorted(standin.objects_of(1, t.sample_id)) == sorted(r["object_id"] for r in rows)


def test_a_lost_answer_to_an_import_still_waiting_never_imports_twice(
    data_root: Path, standin: EcoTaxaStandIn
) -> None:
    t = target(data_root)
    rows = rows_of(t)
    standin.lose_import_answers = 1
    standin.run_jobs.clear()  # behind another job: the first request waits its turn
    up = uploader(standin, data_root)
    up.report = lambda _u, text: standin.run_jobs.set() if text.startswith("importing") else None
    done = up.send(t)
    assert done.state == IMPORTED and done.reason == AGAIN
    assert done.objects == len(rows)  # counted in the project, not the second job's 0
    assert standin.requests.count("POST /api/user_files/") == 2  # the first source goes
    assert [body["skip_existing_objects"] for body in standin.imports] == [False, True]
    assert [standin.job_json(j)["state"] for j in (1, 2)] == ["F", "F"]  # no E: skipped
    assert sorted(standin.objects_of(1, t.sample_id)) == sorted(r["object_id"] for r in rows)


def test_a_restart_while_the_job_runs_follows_the_same_job(
    data_root: Path, standin: EcoTaxaStandIn
) -> None:
    t = target(data_root)
    stop = threading.Event()
    first = uploader(standin, data_root, stop=stop)
    first.report = lambda _u, text: stop.set() if text.startswith("importing (job") else None
    left = first.send(t)  # stopped while following the job, as a killed process would be
    first.close()
    assert left.state == IMPORTING and left.job_id == 1
    assert UploadBook(data_root).open_uploads() == [left]
    done = uploader(standin, data_root).send(t)  # the restarted program
    assert done.state == IMPORTED and done.job_id == 1 and done.objects == len(rows_of(t))
    assert len(standin.imports) == 1


def test_an_expired_session_logs_in_again(data_root: Path, standin: EcoTaxaStandIn) -> None:
    t = target(data_root)
    up = uploader(standin, data_root)
    forget = {f"uploading {t.archive.name}"}  # once: the server forgets every token

    def expire(_upload: object, text: str) -> None:
        if text in forget:
            forget.clear()
            standin.tokens.clear()

    up.report = expire
    done = up.send(t)
    assert done.state == IMPORTED and done.attempts == 1
    assert standin.requests.count("POST /api/login") == 2
    assert standin.requests.count("POST /api/user_files/") == 2  # refused (401), then sent


def test_ecotaxas_own_errors_are_tried_again_a_few_times(
    data_root: Path, standin: EcoTaxaStandIn
) -> None:
    t = target(data_root)
    standin.errors_500 = 2  # passing trouble
    assert uploader(standin, data_root).send(t).state == IMPORTED
    (data_root / ".segmenter" / "uploads.json").unlink()
    standin.errors_500 = 1000  # a fault that stays: no endless loop
    done = uploader(standin, data_root).send(replace(t, sample_id="another"))
    assert done.state == "failed"
    assert done.reason.endswith("HTTP 500 Internal Server Error (5 times in a row)")  # type: ignore[union-attr]


def test_a_restart_mid_upload_sends_the_archive_again(
    data_root: Path, standin: EcoTaxaStandIn
) -> None:
    t = target(data_root)
    book = UploadBook(data_root)
    book.put(Upload(t.acquisition, str(t.archive), t.sample_id, standin.url, 1, UPLOADING))
    done = uploader(standin, data_root).send(t)
    assert done.state == IMPORTED and done.objects == len(rows_of(t))
    assert standin.requests.count("POST /api/user_files/") == 1
    assert "GET /api/samples/search" not in standin.requests  # past that step already
    assert len(standin.imports) == 1


def test_a_finished_upload_for_another_project_starts_over(
    data_root: Path, standin: EcoTaxaStandIn
) -> None:
    t = target(data_root)
    book = UploadBook(data_root)
    old = Upload(t.acquisition, str(t.archive), t.sample_id, standin.url, 2, IMPORTED, objects=3)
    book.put(old)
    assert uploader(standin, data_root).send(t).state == IMPORTED
    assert len(standin.objects_of(1, t.sample_id)) == len(rows_of(t))


def rewrite_archive(
    t: Target, extra: dict[str, bytes], column: tuple[str, str, str] | None
) -> None:
    """The archive with `extra` members and, with `column` (name, type, cell), one more
    TSV column on every row."""
    with zipfile.ZipFile(t.archive) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    if column is not None:
        (name,) = [n for n in members if n.endswith(".tsv")]
        lines = members[name].decode("utf-8-sig").splitlines()
        cells = [column[0], column[1]] + [column[2]] * (len(lines) - 2)
        lines = [f"{line}\t{cell}" for line, cell in zip(lines, cells, strict=True)]
        members[name] = "\ufeff".encode() + "\n".join(lines).encode() + b"\n"
    with zipfile.ZipFile(t.archive, "w") as zf:
        for name, data in {**members, **extra}.items():
            zf.writestr(name, data)


def test_a_job_that_asks_a_question_says_it(data_root: Path, standin: EcoTaxaStandIn) -> None:
    t = target(data_root)
    rewrite_archive(t, {}, ("object_annotation_category", "[t]", "Noctiluca"))
    done = uploader(standin, data_root).send(t)
    assert done.state == "failed"
    assert done.reason == (
        "EcoTaxa asks missing_taxa: ['Noctiluca'] (answer it on EcoTaxa's page of job 1)"
    )


def test_files_ecotaxa_drops_on_unpacking(data_root: Path, standin: EcoTaxaStandIn) -> None:
    t = target(data_root)
    crop = rows_of(t)[0]["img_file_name"]
    broken = b"\x00\x00\x00\x0cjP  \r\n\x87\n"  # a JPEG 2000 signature: not an image EcoTaxa reads
    rewrite_archive(t, {".~lock.ecotaxa.tsv#": b"\x00\x01lock", crop: broken}, None)
    done = uploader(standin, data_root).send(t)
    source = standin.files / str(done.source)
    assert not (source / ".~lock.ecotaxa.tsv#").exists() and not (source / crop).exists()
    assert done.state == "failed" and f"Missing Image '{crop}'" in str(done.reason)


def test_the_book_survives_and_sets_a_damaged_file_aside(tmp_path: Path) -> None:
    book = UploadBook(tmp_path)
    up = book.put(Upload("a/b", "x.zip", "s", "http://e/api", 1))
    assert UploadBook(tmp_path).all() == {"a/b": up}
    book.put(replace(up, state=IMPORTED, objects=5))
    assert UploadBook(tmp_path).get("a/b").describe() == "imported 5"  # type: ignore[union-attr]
    book.path.write_text("{not json", encoding="utf-8")
    assert UploadBook(tmp_path).all() == {}
    assert [p.name.startswith("uploads.json.bad-") for p in book.path.parent.iterdir()].count(True)
