"""A STAND-IN for EcoTaxa's back-end (ecotaxa/ecotaxa_back), for the upload tests: a real
HTTP server on loopback (http.server in a thread), not EcoTaxa. It copies only the
behaviours `segmenter upload` relies on, as issue 27 measured them on EcoTaxa's own
back-end, under `/api`:

- `POST /login` JSON {username, password}: the token as a JSON string; 403 when wrong.
  Every other route wants `Authorization: Bearer <token>` (401 without).
- `POST /user_files/` multipart `file` + `path` (ending in the file's name, no `..`): the
  zip is stored, unpacked into the folder named like it (`run1/ecotaxa_x.zip` ->
  `run1/ecotaxa_x/`; a zip whose members already sit in a top folder of that name is
  unpacked beside it, EcoTaxa's rule), then deleted. Unpacking drops every file whose
  content is not an archive, text/TSV, JPEG, PNG, GIF or TIFF (by content, not name).
  Returns the zip's server-side path as a JSON string.
- `POST /file_import/{project}` {source_path, skip_existing_objects, ...}: a job,
  `{"job_id": N, "errors": []}`; 422 when the source folder does not exist. A job that
  finishes (F) moves its source folder to the user's `Trash/`.
- `GET /jobs/{id}/` (the trailing slash is required: without it, 404): `state` P
  (pending), R (running), A (asking: `question`, for unknown annotators or taxa), E
  (`errors`: per-line messages, e.g. an object already in the project, a missing image),
  F (`result.rowcount`); `progress_pct`, `progress_msg`. Jobs run one at a time.
- `POST /object_set/{project}/summary?only_total=...` (a JSON body of filters is
  required; `samples`, EcoTaxa's sample numbers comma-separated): `total_objects`.
- `GET /samples/search?project_ids=..&id_pattern=..`: the samples (`sampleid`, `projid`,
  `orig_id`), the pattern matched case-insensitively, `*` for any.
- `GET /acquisitions/search?project_id=..`: every acquisition of the project
  (`acquisid`, `acq_sample_id`, `orig_id`).

The import checks what it receives with EcoTaxa's rules as this project's tests check
them (`streamer.ecotaxa.read_tsv` and `validate_header`, tests/streamer/test_ecotaxa*.py): TSVs
named `ecotaxa*.tsv` or `ecotaxa*.txt` anywhere below the source, a name line and a type line, every
`img_file_name` an image beside the TSV, `object_id` unique in the project.

Faults for the tests: `down()` / `up()` stop and restart the listener on the same port;
`cut_uploads = n` makes the next n uploads drop the connection half-way through the body
and take the server down for `cut_for` seconds; `lose_import_answers = n` makes the next n
imports start their job and drop the connection instead of answering; `errors_500 = n`
answers the next n POSTs but the login with HTTP 500; `run_jobs.clear()` holds the
jobs pending (as behind another user's long job) until `run_jobs.set()`."""

from __future__ import annotations

import fnmatch
import re
import shutil
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from segmenter.errors import EcoTaxaError
from streamer.ecotaxa import read_tsv, validate_header
from tests.segmenter.upload.standin_http import StandInHandler

MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*",
         b"PK\x03\x04", b"\x1f\x8b")  # fmt: skip
TSV_PATTERNS = ("ecotaxa*.tsv", "ecotaxa*.txt")  # looked for in every folder below the source
KNOWN_TAXA = frozenset({"living", "detritus", "copepoda"})


def kept_on_unpack(path: Path) -> bool:
    """EcoTaxa's unpacking keeps archives, text and the images it reads, by content."""
    head = path.read_bytes()[:16]
    if any(head.startswith(m) for m in MAGIC):
        return True
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "\x00" not in text


@dataclass
class StandInJob:
    id: int
    project: int
    source: Path
    skip_existing: bool
    state: str = "P"
    progress_pct: int = 0
    progress_msg: str = ""
    errors: list[str] = field(default_factory=list)
    question: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)


@dataclass
class Project:
    samples: dict[str, int] = field(default_factory=dict)  # orig_id -> sampleid
    objects: dict[str, str] = field(default_factory=dict)  # object_id -> orig sample id
    acquisitions: dict[tuple[str, str], int] = field(default_factory=dict)  # -> acquisid

    def add(self, sample: str, acquisition: str) -> None:
        self.samples.setdefault(sample, len(self.samples) + 100)
        self.acquisitions.setdefault((sample, acquisition), len(self.acquisitions) + 500)


class EcoTaxaStandIn:
    def __init__(self, root: Path, *, user: str = "pi", password: str = "s3cret") -> None:
        self.root = root
        self.files = root / "user_files"
        self.files.mkdir(parents=True, exist_ok=True)
        self.user, self.password = user, password
        self.tokens: set[str] = set()
        self.projects: dict[int, Project] = {1: Project(), 2: Project()}
        self.jobs: dict[int, StandInJob] = {}
        self.requests: list[str] = []  # "METHOD /route" of every request, in order
        self.imports: list[dict[str, Any]] = []  # the body of every import request
        self.cut_uploads = 0
        self.lose_import_answers = 0
        self.errors_500 = 0  # the next n requests get HTTP 500 (EcoTaxa's own fault)
        self.run_jobs = threading.Event()  # cleared: jobs stay pending (P) until it is set
        self.run_jobs.set()
        self.cut_for = 1.0
        self.lock = threading.Lock()
        self._queue: list[int] = []
        self._wake = threading.Condition(self.lock)
        self._closing = False
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        threading.Thread(target=self._run_jobs, daemon=True, name="standin-jobs").start()

    # --- the listener ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def up(self) -> EcoTaxaStandIn:
        handler = type("Handler", (StandInHandler,), {"standin": self})
        server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True, name="standin").start()
        return self

    def down(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def close(self) -> None:
        self.down()
        with self.lock:
            self._closing = True
            self._wake.notify_all()
        self.run_jobs.set()

    def away_for(self, seconds: float) -> None:
        """Go down now (from a request's thread) and come back after `seconds`."""

        def bounce() -> None:
            self.down()
            time.sleep(seconds)
            self.up()

        threading.Thread(target=bounce, daemon=True).start()

    # --- the project ----------------------------------------------------------------------

    def seed(self, project: int, sample_id: str, acq_id: str, object_ids: list[str]) -> None:
        """Objects imported before by someone else (or another acquisition of a sample)."""
        with self.lock:
            proj = self.projects[project]
            proj.add(sample_id, acq_id)
            proj.objects.update(dict.fromkeys(object_ids, sample_id))

    def objects_of(self, project: int, sample_id: str) -> list[str]:
        with self.lock:
            return [o for o, s in self.projects[project].objects.items() if s == sample_id]

    # --- the jobs, one at a time ----------------------------------------------------------

    def _run_jobs(self) -> None:
        while True:
            with self.lock:
                while not self._queue and not self._closing:
                    self._wake.wait()
            self.run_jobs.wait()  # held: the job stays pending
            with self.lock:
                if self._closing:
                    return
                job = self.jobs[self._queue.pop(0)]
                job.state, job.progress_msg = "R", "reading the TSV"
            time.sleep(0.2)  # long enough for a client to see R
            self._import(job)

    def _import(self, job: StandInJob) -> None:
        rows: list[tuple[Path, dict[str, str]]] = []
        errors: list[str] = []
        tsvs = sorted(p for pattern in TSV_PATTERNS for p in job.source.rglob(pattern))
        for tsv in tsvs:
            try:
                names, types, found = read_tsv(tsv)
                validate_header(names, types)
            except EcoTaxaError as exc:
                errors.append(f"{tsv.name}: {exc}")
                continue
            rows += [(tsv.parent, row) for row in found]
        if not rows and not errors:
            errors.append("no object in the TSVs" if tsvs else "no ecotaxa*.tsv file")
        with self.lock:
            proj = self.projects[job.project]
            taxa = {r.get("object_annotation_category", "") for _d, r in rows} - {""}
            if taxa - KNOWN_TAXA and not errors:
                job.state = "A"
                job.question = {"missing_taxa": sorted(taxa - KNOWN_TAXA)}
                return
            new: list[tuple[str, str, str]] = []
            for folder, row in rows:
                object_id = row.get("object_id", "")
                image = folder / row.get("img_file_name", "")
                if not image.is_file():
                    errors.append(f"Missing Image '{row.get('img_file_name')}' for {object_id}")
                elif object_id in proj.objects:
                    if not job.skip_existing:
                        errors.append(f"Object '{object_id}' already in project {job.project}")
                elif not row.get("sample_id"):
                    errors.append(f"object {object_id}: no sample_id")
                else:
                    new.append((object_id, row["sample_id"], row.get("acq_id", "")))
            if errors:
                job.state, job.errors = "E", errors
                return
            for object_id, sample, acquisition in new:
                proj.add(sample, acquisition)
                proj.objects[object_id] = sample
            # a finished import moves its source (from the user's files) to the trash
            trash = self.files / "Trash" / job.source.relative_to(self.files)
            trash.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(trash, ignore_errors=True)
            job.source.rename(trash)
            job.state, job.progress_pct = "F", 100
            job.progress_msg, job.result = "Done", {"rowcount": len(new)}

    # --- the routes -----------------------------------------------------------------------

    def store(self, path: str, data: bytes) -> str:
        if ".." in path or not path.endswith(".zip"):
            raise ValueError("Forbidden")
        target = self.files / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        stem = target.name.removesuffix(".zip")
        with zipfile.ZipFile(target) as archive:
            names = archive.namelist()
            into = target.parent if names and names[0].startswith(f"{stem}/") else (
                target.parent / stem)  # fmt: skip
            archive.extractall(into)
        for member in names:
            file = into / member
            if file.is_file() and not kept_on_unpack(file):
                file.unlink()
        target.unlink()
        return str(target)

    def start_import(self, project: int, body: dict[str, Any]) -> dict[str, Any]:
        self.imports.append(body)
        source = self.files / str(body.get("source_path", "")).lstrip("/")
        if ".." in str(body.get("source_path")) or not source.is_dir():
            raise FileNotFoundError(str(body.get("source_path")))
        with self.lock:
            job = StandInJob(len(self.jobs) + 1, project, source,
                             bool(body.get("skip_existing_objects")))  # fmt: skip
            self.jobs[job.id] = job
            self._queue.append(job.id)
            self._wake.notify_all()
        return {"job_id": job.id, "errors": []}

    def job_json(self, job_id: int) -> dict[str, Any]:
        with self.lock:
            job = self.jobs[job_id]
            return {"id": job.id, "state": job.state, "progress_pct": job.progress_pct,
                    "progress_msg": job.progress_msg, "errors": list(job.errors),
                    "question": dict(job.question), "result": dict(job.result)}  # fmt: skip

    def acquisitions(self, project: int) -> list[dict[str, Any]]:
        with self.lock:
            proj = self.projects.get(project, Project())
            return [{"acquisid": n, "acq_sample_id": proj.samples[s], "orig_id": a}
                    for (s, a), n in proj.acquisitions.items()]  # fmt: skip

    def samples(self, project_ids: str, pattern: str) -> list[dict[str, Any]]:
        pattern = (pattern or "*").lower()
        with self.lock:
            return [{"sampleid": sid, "projid": pid, "orig_id": orig}
                    for pid in map(int, re.findall(r"\d+", project_ids)) if pid in self.projects
                    for orig, sid in self.projects[pid].samples.items()
                    if fnmatch.fnmatchcase(orig.lower(), pattern)]  # fmt: skip


def make_standin(root: Path) -> EcoTaxaStandIn:
    """A running stand-in whose files live under `root`."""
    shutil.rmtree(root / "user_files", ignore_errors=True)
    return EcoTaxaStandIn(root).up()


def main() -> None:
    """`python -m tests.segmenter.upload.ecotaxa_standin DIR [PORT]`: serve until Ctrl-C, to try
    `segmenter upload` by hand (projects 1 and 2, user pi, password s3cret)."""
    import sys

    standin = EcoTaxaStandIn(Path(sys.argv[1]))
    standin.port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    standin.up()
    print(f"EcoTaxa stand-in at {standin.url} (user {standin.user}, password {standin.password})")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        standin.close()


if __name__ == "__main__":
    main()
