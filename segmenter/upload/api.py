"""EcoTaxa's API, the calls an upload needs, over httpx with a timeout on every call.

All routes are under the server's API root (`URL`, e.g. https://ecotaxa.obs-vlfr.fr/api):
`POST /login` (JSON username/password, the token as a JSON string; 403 when wrong),
`POST /user_files/` (multipart `file` + `path`; the server unpacks the zip into the folder
named like it, which is the import's source), `POST /file_import/{project}` (`job_id`),
`GET /jobs/{id}/` (trailing slash required), `GET /samples/search`,
`GET /acquisitions/search`.

Two kinds of failure: `EcoTaxaUnreachable` (no network, a timeout, a 5xx: worth waiting
for) and `EcoTaxaRefused` (a 4xx: the same request will fail again; its message is one
line saying what to do)."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from segmenter.errors import SegmenterError

#: connect / read / write / pool seconds; an upload's write of a large zip has its own
TIMEOUT = httpx.Timeout(20.0, read=60.0, write=60.0)
UPLOAD_TIMEOUT = httpx.Timeout(20.0, read=600.0, write=600.0)


class EcoTaxaUnreachable(SegmenterError):
    """The network or the server is down or failing (5xx): try again later.
    `server_error`: EcoTaxa itself answered 500 (a fault of its own, which may come back
    for the same request: the caller bounds how often it tries)."""

    def __init__(self, message: str, server_error: bool = False) -> None:
        super().__init__(message)
        self.server_error = server_error


class EcoTaxaRefused(SegmenterError):
    """EcoTaxa refused the request (4xx): retrying the same request will not help."""


@dataclass(frozen=True, slots=True)
class Job:
    """A job's state as `GET /jobs/{id}/` gives it (P, R, A, E or F)."""

    id: int
    state: str
    progress_pct: int | None = None
    progress_msg: str | None = None
    errors: list[str] = field(default_factory=list)
    question: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state in ("A", "E", "F")


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    detail = body.get("detail", body) if isinstance(body, dict) else body
    return detail if isinstance(detail, str) else json.dumps(detail)[:300]


class _Counted(io.BufferedReader):
    """A file as httpx reads it for the upload, saying how much has gone."""

    def __init__(self, raw: io.FileIO, on_bytes: Callable[[int, int], None]) -> None:
        super().__init__(raw)
        self.total = os.fstat(raw.fileno()).st_size
        self.sent, self.on_bytes, self.last = 0, on_bytes, time.monotonic()

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        self.sent += len(data)
        if time.monotonic() - self.last >= 1.0 or (self.sent == self.total and data):
            self.last = time.monotonic()
            self.on_bytes(self.sent, self.total)
        return data

    def seek(self, offset: int, whence: int = 0, /) -> int:
        position = super().seek(offset, whence)
        self.sent = position  # httpx rewinds it before a retry of the request
        return position


class EcoTaxaClient:
    """One logged-in session with an EcoTaxa server (`login` first)."""

    def __init__(self, url: str, *, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=TIMEOUT, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EcoTaxaClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, method: str, route: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, route, **kwargs)
        except httpx.TransportError as exc:
            raise EcoTaxaUnreachable(
                f"EcoTaxa at {self.url} cannot be reached ({type(exc).__name__}: {exc})"
            ) from exc
        if response.status_code >= 500:
            raise EcoTaxaUnreachable(
                f"EcoTaxa at {self.url} failed on {method} {route}: "
                f"HTTP {response.status_code} {_detail(response)}",
                server_error=response.status_code == 500,
            )
        if response.status_code in (401, 403) and route == "/login":
            raise EcoTaxaRefused(
                f"EcoTaxa at {self.url} refused the login (HTTP {response.status_code}): "
                "check the user and the password (ECOTAXA_PASSWORD or --password-file)"
            )
        if response.status_code == 401:  # the token expired: the caller logs in again
            raise EcoTaxaUnreachable(f"EcoTaxa at {self.url} ended the session (HTTP 401)")
        if response.status_code >= 400:
            raise EcoTaxaRefused(
                f"EcoTaxa refused {method} {route}: HTTP {response.status_code} {_detail(response)}"
            )
        try:
            return response.json()
        except ValueError as exc:
            raise EcoTaxaUnreachable(
                f"EcoTaxa at {self.url} answered {method} {route} with no JSON "
                "(is URL the API root, ending in /api?)"
            ) from exc

    def login(self, user: str, password: str) -> None:
        token = self._call("POST", "/login", json={"username": user, "password": password})
        if not isinstance(token, str) or not token:
            raise EcoTaxaRefused(f"EcoTaxa at {self.url} gave no token at login")
        self._http.headers["Authorization"] = f"Bearer {token}"

    def samples(self, project: int, sample_id: str) -> dict[str, int]:
        """The project's samples matching `sample_id` (EcoTaxa matches case-insensitively;
        the caller compares): their id (`orig_id`) -> EcoTaxa's number (`sampleid`)."""
        found = self._call(
            "GET", "/samples/search", params={"project_ids": str(project), "id_pattern": sample_id}
        )
        return {str(s["orig_id"]): int(s["sampleid"]) for s in found if isinstance(s, dict)}

    def acquisitions(self, project: int) -> list[tuple[str, int]]:
        """Every acquisition of the project: its id (`orig_id`) and its sample's number."""
        found = self._call("GET", "/acquisitions/search", params={"project_id": str(project)})
        return [(str(a["orig_id"]), int(a["acq_sample_id"])) for a in found if isinstance(a, dict)]

    def upload(
        self, archive: Path, remote: str, on_bytes: Callable[[int, int], None] | None = None
    ) -> str:
        """Send `archive` as `remote` (a path ending in its name); returns the server's path.
        `on_bytes(sent, total)` at most once a second while it goes."""
        with _Counted(io.FileIO(archive), on_bytes or (lambda _s, _t: None)) as fh:
            files = {"file": (archive.name, fh, "application/zip")}
            stored = self._call(
                "POST", "/user_files/", files=files, data={"path": remote}, timeout=UPLOAD_TIMEOUT
            )
        return str(stored)

    def start_import(self, project: int, source: str, *, skip_existing: bool = False) -> int:
        body = self._call(
            "POST",
            f"/file_import/{project}",
            json={
                "source_path": source,
                "skip_loaded_files": False,
                "skip_existing_objects": skip_existing,
                "update_mode": "",
                "taxo_mappings": {},
            },
        )
        errors = body.get("errors") or []
        if errors:
            raise EcoTaxaRefused("EcoTaxa refused the import: " + "; ".join(map(str, errors)))
        return int(body["job_id"])

    def job(self, job_id: int) -> Job:
        body = self._call("GET", f"/jobs/{job_id}/")
        return Job(
            id=job_id,
            state=str(body.get("state")),
            progress_pct=body.get("progress_pct"),
            progress_msg=body.get("progress_msg"),
            errors=[str(e) for e in body.get("errors") or []],
            question=body.get("question") or {},
            result=body.get("result") or {},
        )
