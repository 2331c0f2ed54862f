"""EcoTaxa uploads in the service: the `upload` command and, with `serve --upload-after`,
every acquisition archived (batch or live), sent one at a time by a thread of their own
so that segmentation never waits for the network.

Progress and outcomes go on `status/segmenter/upload` (retained, QoS 1), never on the
legacy `status/segmenter`. The upload book (segmenter.upload.book) is the durable queue:
at start, every upload it holds open for this server and project is taken up again, from
the step it was at. While EcoTaxa cannot be reached the thread waits, doubling the delay
up to `max_delay`, for as long as it takes; a stop of the service ends the wait."""

from __future__ import annotations

import json
import logging
import math
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmenter.errors import ConfigError, SegmenterError
from segmenter.service.progress import Publisher
from segmenter.summary import AcquisitionSummary
from segmenter.upload.book import UploadBook
from segmenter.upload.config import Server
from segmenter.upload.targets import target_of

if TYPE_CHECKING:
    from segmenter.upload.book import Upload
    from segmenter.upload.run import Policy

log = logging.getLogger(__name__)
UPLOAD_TOPIC = "status/segmenter/upload"


def default_policy() -> Policy:
    from segmenter.upload.run import Policy

    return Policy(retry_for=math.inf, first_delay=5.0, max_delay=300.0, poll=2.0)


class ServiceUploads:
    """The service's upload thread and its queue of acquisitions (paths below img/)."""

    def __init__(
        self,
        data_root: Path,
        server: Server | None,
        publisher: Publisher,
        *,
        auto: bool = False,
        policy: Policy | None = None,
    ) -> None:
        if auto and server is None:
            raise ConfigError("--upload-after needs ECOTAXA_URL, ECOTAXA_USER, ECOTAXA_PROJECT")
        self.data_root, self.server, self.publisher = data_root, server, publisher
        self.auto = auto
        self.policy = policy
        self.book = UploadBook(data_root)
        self._todo: deque[tuple[str, bool]] = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="segmenter-upload", daemon=True)

    # -- life cycle ------------------------------------------------------------------
    def start(self) -> None:
        """Take up the uploads a previous run left open, then start the thread."""
        if self.server is None:
            return
        for upload in self.book.open_uploads():
            if (upload.url, upload.project) == (self.server.url, self.server.project):
                log.info("upload of %s resumes (%s)", upload.acquisition, upload.state)
                self._add(upload.acquisition, again=False)
        self._thread.start()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop waiting and following; what is not finished stays open in the book."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- what to send ------------------------------------------------------------------
    def request(self, folders: Iterable[Path], again: bool) -> list[str]:
        """The `upload` command: each acquisition at or below `folders`; ConfigError when
        uploads are not set up or an acquisition has no archive."""
        from segmenter.acquisition import find_acquisitions

        if self.server is None:
            raise ConfigError(
                "uploads are not set up: start the service with ECOTAXA_URL, ECOTAXA_USER, "
                "ECOTAXA_PROJECT and ECOTAXA_PASSWORD (or ECOTAXA_PASSWORD_FILE)"
            )
        targets = [target_of(f, self.data_root) for p in folders for f in find_acquisitions(p)]
        if not targets:
            raise ConfigError("no acquisition (folder with metadata.json) at that path")
        for target in targets:
            self._add(target.acquisition, again)
        return [t.acquisition for t in targets]

    def after(self, summaries: Sequence[AcquisitionSummary]) -> None:
        """After each acquisition (batch or live): queue those archived, when configured."""
        if not self.auto:
            return
        img = self.data_root.resolve() / "img"
        for summary in summaries:
            path = Path(summary.path).resolve()
            if summary.status == "done" and summary.archive and path.is_relative_to(img):
                self._add(str(path.relative_to(img)), again=False)

    def _add(self, acquisition: str, again: bool) -> None:
        with self._cond:
            if any(a == acquisition for a, _ in self._todo):
                return
            self._todo.append((acquisition, again))
            self._cond.notify_all()
        self._publish({"acquisition": acquisition, "state": "pending", "message": "queued"})

    # -- the thread ----------------------------------------------------------------------
    def _publish(self, message: dict[str, Any]) -> None:
        with self._cond:
            message["waiting"] = len(self._todo)
        payload = json.dumps(message, ensure_ascii=False).encode("utf-8")
        self.publisher.publish(UPLOAD_TOPIC, payload, qos=1, retain=True)

    def _progress(self, upload: Upload, text: str) -> None:
        self._publish({"acquisition": upload.acquisition, "state": upload.state, "message": text})

    def _loop(self) -> None:
        from segmenter.upload.run import LoginRefused, Uploader

        assert self.server is not None
        while not self._stop.is_set():
            with self._cond:
                while not self._todo and not self._stop.is_set():
                    self._cond.wait()
                if self._stop.is_set():
                    return
                acquisition, again = self._todo[0]
            policy = replace(self.policy or default_policy(), again=again)
            uploader = Uploader(
                self.server,
                self.book,
                policy,
                report=self._progress,
                stop=self._stop,
            )
            try:
                target = target_of(self.data_root / "img" / acquisition, self.data_root)
                upload = uploader.send(target)
                message = upload.to_json() | {"message": upload.describe()}
            except LoginRefused as exc:
                log.error("upload of %s: %s", acquisition, exc)
                message = {"acquisition": acquisition, "state": "failed", "message": str(exc)}
            except SegmenterError as exc:
                message = {"acquisition": acquisition, "state": "failed", "message": str(exc)}
            except Exception as exc:  # the thread reports and carries on
                log.exception("upload of %s failed", acquisition)
                message = {"acquisition": acquisition, "state": "failed", "message": repr(exc)}
            finally:
                uploader.close()
            if self._stop.is_set():
                return  # left open in the book: the next start takes it up
            with self._cond:
                self._todo.popleft()
            message.pop("updated", None)
            self._publish(message)
