"""One acquisition's archive to EcoTaxa: look the sample up, upload, import, follow the
job to its end; every step recorded in the upload book first, so that a retry or a
restart goes on from the step it was at and never imports an acquisition twice.

Waiting: the network or EcoTaxa down (`EcoTaxaUnreachable`) is retried with a doubling
delay until `retry_for` seconds have gone by; the upload then stays pending in the book
(the next `segmenter upload`, or the service, takes it up). A refusal fails the upload
with EcoTaxa's reason; a refused login stops everything (`LoginRefused`).

Never twice: the import request is recorded as sent before it is sent. When its answer
was lost: if the acquisition is in the project, the import ran (whole: an import that
fails adds nothing; and EcoTaxa moves the source of a finished import to the trash); if
not, the request may still wait for its turn (jobs run one at a time), so the archive
is sent again and imported with `skip_existing_objects`: whichever job runs second adds
nothing the first added."""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

from segmenter.errors import SegmenterError
from segmenter.upload.api import EcoTaxaClient, EcoTaxaRefused, EcoTaxaUnreachable, Job
from segmenter.upload.book import (
    FAILED,
    IMPORTED,
    IMPORTING,
    OPEN_STATES,
    PENDING,
    SKIPPED,
    UPLOADING,
    Upload,
    UploadBook,
)
from segmenter.upload.config import Server
from segmenter.upload.targets import Target

REMOTE_ROOT = "planktoscope"  # the folder of the user's files on the server
#: the notes kept when the answer to an import request was lost
FOUND = "the answer to the import was lost; the acquisition was found in the project"
AGAIN = "sent again after a lost answer, importing only objects not yet in the project"


class LoginRefused(SegmenterError):
    """Wrong user or password: no acquisition can be sent."""


@dataclass(frozen=True, slots=True)
class Policy:
    again: bool = False  # send a sample the project holds already
    retry_for: float = 600.0  # seconds of waiting for the network before leaving it pending
    first_delay: float = 2.0
    max_delay: float = 60.0
    poll: float = 2.0  # at most this many seconds between looks at a running job
    server_errors: int = 5  # EcoTaxa's own HTTP 500s in a row before the upload fails


Report = Callable[[Upload, str], None]


def remote_path(target: Target) -> str:
    """Where the zip goes among the user's files: a fresh folder per attempt, so that an
    attempt never lands on the half-unpacked files of another."""
    return f"{REMOTE_ROOT}/{target.archive.stem}-{secrets.token_hex(4)}/{target.archive.name}"


def job_outcome(job: Job) -> tuple[str, str | None]:
    """(state, reason) of a finished job: F imported, E its errors, A its question."""
    if job.state == "F":
        return IMPORTED, None
    if job.state == "A":
        question = "; ".join(f"{k}: {v}" for k, v in job.question.items()) or "a question"
        return FAILED, (f"EcoTaxa asks {question} (answer it on EcoTaxa's page of job {job.id})")
    shown = job.errors[:3] + ([f"and {len(job.errors) - 3} more"] if len(job.errors) > 3 else [])
    return FAILED, f"EcoTaxa's import (job {job.id}) failed: " + ("; ".join(shown) or "no reason")


class Uploader:
    """Sends acquisitions to one project, one at a time, recording each step in `book`."""

    def __init__(
        self,
        server: Server,
        book: UploadBook,
        policy: Policy,
        *,
        report: Report,
        stop: threading.Event | None = None,
        client: Callable[[str], EcoTaxaClient] = EcoTaxaClient,
    ) -> None:
        self.server, self.book, self.policy, self.report = server, book, policy, report
        self.stop = stop or threading.Event()
        self._make_client = client
        self._client: EcoTaxaClient | None = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _session(self) -> EcoTaxaClient:
        if self._client is None:
            client = self._make_client(self.server.url)
            try:
                client.login(self.server.user, self.server.password)
            except EcoTaxaRefused as exc:
                client.close()
                raise LoginRefused(str(exc)) from exc
            except BaseException:
                client.close()
                raise
            self._client = client
        return self._client

    def _put(self, upload: Upload, **changes: object) -> Upload:
        return self.book.put(replace(upload, **changes))  # type: ignore[arg-type]

    def _kept(self, known: Upload | None) -> bool:
        """Whether the book's record goes on as it is: open (taken up where it was), or
        imported into this project before (--again sends it anyway)."""
        if known is None or (known.url, known.project) != (self.server.url, self.server.project):
            return False
        return known.state in OPEN_STATES or (known.state == IMPORTED and not self.policy.again)

    def start(self, target: Target) -> Upload:
        """The book's record for `target`: kept (see `_kept`), else a new one."""
        known = self.book.get(target.acquisition)
        if known is not None and self._kept(known):
            return known
        return self.book.put(
            Upload(
                acquisition=target.acquisition,
                archive=str(target.archive),
                sample_id=target.sample_id,
                url=self.server.url,
                project=self.server.project,
            )
        )

    def send(self, target: Target) -> Upload:
        """Send one acquisition; returns its record once imported, skipped, failed, or
        left pending after `retry_for` seconds without EcoTaxa (or a stop)."""
        known = self.book.get(target.acquisition)
        if known is not None and not self._kept(known):
            with contextlib.suppress(EcoTaxaUnreachable):
                self._session()  # refused: the earlier outcome stays recorded as it was
        upload = self.start(target)
        if upload.state == IMPORTED:
            return upload
        deadline = time.monotonic() + self.policy.retry_for
        delay = self.policy.first_delay
        server_errors = 0
        while True:
            try:
                return self._advance(upload, target)
            except EcoTaxaUnreachable as exc:
                upload = self.book.get(target.acquisition) or upload
                server_errors = server_errors + 1 if exc.server_error else 0
                if server_errors >= self.policy.server_errors:
                    reason = f"{exc} ({server_errors} times in a row)"
                    return self._put(upload, state=FAILED, reason=reason)
                upload = self._put(upload, reason=str(exc), attempts=upload.attempts + 1)
                self.close()  # log in again after the outage
                left = deadline - time.monotonic()
                if left <= 0 or self.stop.is_set():
                    return upload
                wait = min(delay, left)
                self.report(upload, f"waiting {wait:.0f} s for EcoTaxa: {exc}")
                if self.stop.wait(wait):
                    return upload
                delay = min(delay * 2, self.policy.max_delay)
            except LoginRefused:
                raise
            except EcoTaxaRefused as exc:
                upload = self.book.get(target.acquisition) or upload
                return self._put(upload, state=FAILED, reason=str(exc))

    def _advance(self, upload: Upload, target: Target) -> Upload:
        client = self._session()
        project = self.server.project
        if upload.state == PENDING:
            if not self.policy.again and self._in_project(client, target):
                return self._put(
                    upload,
                    state=SKIPPED,
                    reason=f"acquisition {target.acq_id} of sample {target.sample_id} is in "
                    f"project {project} already (--again sends it anyway)",
                )
            upload = self._put(upload, state=UPLOADING, reason=None)
        if upload.state == UPLOADING:
            self.report(upload, f"uploading {target.archive.name}")
            remote = remote_path(target)
            client.upload(target.archive, remote, partial(self._sending, upload, target))
            source = remote.removesuffix(".zip")  # the server unpacks it there
            upload = self._put(
                upload, state=IMPORTING, source=source, job_id=None, import_sent=False, reason=None
            )
        if upload.job_id is None and upload.import_sent:  # its answer was lost
            if not self.policy.again and self._in_project(client, target):
                # it ran (an import is whole or nothing; EcoTaxa moved its source away)
                return self._put(upload, state=IMPORTED, objects=target.objects, reason=FOUND)
            # maybe still waiting for its turn: send again, import only what is missing then
            upload = self._put(upload, state=UPLOADING, import_sent=False, skip_existing=True)
            return self._advance(upload, target)
        if upload.job_id is None:
            upload = self._put(upload, import_sent=True)
            skip = self.policy.again or upload.skip_existing
            job_id = client.start_import(project, str(upload.source), skip_existing=skip)
            upload = self._put(upload, job_id=job_id)
        return self._follow(client, upload, target)

    def _sending(self, upload: Upload, target: Target, sent: int, total: int) -> None:
        percent = 100 * sent // max(total, 1)
        self.report(upload, f"uploading {target.archive.name}: {percent}% of {total / 1e6:.1f} MB")

    def _follow(self, client: EcoTaxaClient, upload: Upload, target: Target) -> Upload:
        assert upload.job_id is not None
        wait = min(0.25, self.policy.poll)  # small imports end in a second: look soon, then less
        while True:
            job = client.job(upload.job_id)
            if job.finished:
                break
            pct = f"{job.progress_pct}%" if job.progress_pct is not None else job.state
            self.report(upload, f"importing (job {job.id}): {pct} {job.progress_msg or ''}")
            wait = min(wait * 2, self.policy.poll)
            if self.stop.wait(wait):
                raise EcoTaxaUnreachable("stopped while EcoTaxa imports (the job goes on)")
        state, reason = job_outcome(job)
        if state != IMPORTED:
            return self._put(upload, state=state, reason=reason)
        if upload.skip_existing:  # sent again: the first request may have added them all
            return self._put(upload, state=IMPORTED, objects=target.objects, reason=AGAIN)
        objects = int(job.result.get("rowcount") or 0)
        return self._put(upload, state=IMPORTED, objects=objects)

    def _in_project(self, client: EcoTaxaClient, target: Target) -> bool:
        """Whether the project holds this acquisition (its acq_id in its sample; a sample
        may have other acquisitions, which do not count)."""
        found = client.samples(self.server.project, target.sample_id)
        wanted = target.sample_id.casefold()
        sample = next((n for s, n in found.items() if s.casefold() == wanted), None)
        if sample is None:
            return False
        acquisitions = client.acquisitions(self.server.project)
        return any(a == target.acq_id and s == sample for a, s in acquisitions)
