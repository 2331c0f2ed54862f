"""The upload book: each acquisition's upload state, kept in the data root so that it
survives a restart, like the service's queue: `<data root>/.segmenter/uploads.json`,
written atomically (streamer.files) under an advisory lock (the CLI and the service may
both write it).

States: `pending` (to do, or waiting for the network), `uploading`, `importing` (the
import was asked for; `job_id` once EcoTaxa answered), `imported` (`objects`),
`skipped` (the sample was in the project already), `failed` (`reason`)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from streamer.errors import storage_error
from streamer.files import atomic_write

BOOK_FILE = Path(".segmenter") / "uploads.json"
PENDING, UPLOADING, IMPORTING = "pending", "uploading", "importing"
IMPORTED, SKIPPED, FAILED = "imported", "skipped", "failed"
OPEN_STATES = (PENDING, UPLOADING, IMPORTING)


@dataclass(frozen=True, slots=True)
class Upload:
    """One acquisition's upload to one EcoTaxa project."""

    acquisition: str  # below img/
    archive: str
    sample_id: str
    url: str
    project: int
    state: str = PENDING
    source: str | None = None  # the unpacked folder on the server, the import's source
    import_sent: bool = False  # the import was asked for (its answer may have been lost)
    skip_existing: bool = False  # sent again after a lost answer: skip_existing_objects
    job_id: int | None = None
    objects: int | None = None
    reason: str | None = None
    attempts: int = 0
    updated: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Upload:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def describe(self) -> str:
        """The state as `segmenter ls` shows it."""
        if self.state == IMPORTED:
            return f"imported {self.objects}"
        if self.state in (FAILED, SKIPPED) and self.reason:
            return f"{self.state}: {self.reason}"
        if self.state == IMPORTING and self.job_id is not None:
            return f"importing (job {self.job_id})"
        return self.state


class UploadBook:
    """The uploads of one data root, read and written whole (a few hundred at most)."""

    def __init__(self, data_root: Path) -> None:
        self.path = data_root / BOOK_FILE

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self.path.with_name("uploads.lock")
        try:
            lock.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise storage_error(lock, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self) -> dict[str, Upload]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {d["acquisition"]: Upload.from_json(d) for d in data["uploads"]}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError):
            # kept for a look, never silently overwritten
            bad = self.path.with_name(f"uploads.json.bad-{int(time.time())}")
            with contextlib.suppress(OSError):
                os.replace(self.path, bad)
            return {}

    def all(self) -> dict[str, Upload]:
        """Every upload by acquisition (never writes, except to set a damaged file aside)."""
        if not self.path.is_file():
            return {}
        with self._locked():
            return self._read()

    def get(self, acquisition: str) -> Upload | None:
        return self.all().get(acquisition)

    def put(self, upload: Upload) -> Upload:
        """Record `upload` (durably) and return it as recorded."""
        upload = replace(upload, updated=time.time())
        with self._locked():
            book = self._read()
            book[upload.acquisition] = upload
            data = {"uploads": [u.to_json() for u in book.values()]}
            atomic_write(self.path, json.dumps(data, indent=1).encode("utf-8"), durable=True)
        return upload

    def open_uploads(self) -> list[Upload]:
        """The uploads not finished (pending, uploading, importing): a restart takes them up."""
        return [u for u in self.all().values() if u.state in OPEN_STATES]


def upload_states(data_root: Path) -> dict[str, str]:
    """Each acquisition's upload state as `segmenter ls` shows it, by path below img/."""
    return {path: upload.describe() for path, upload in UploadBook(data_root).all().items()}
