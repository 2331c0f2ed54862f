"""Commands the service must answer however they are malformed or greedy: a `segment`
too large or too deep to parse still ends its unit on status/segmenter, and a worker
count beyond the machine is lowered to what the machine runs."""

from __future__ import annotations

import json
from collections.abc import Callable

from segmenter.service.status import reserved_words
from tests.service.harness import Harness, Recorder

DEPTH = 100_000


def _units_end_with_one_exception(recorder: Recorder, payloads: list[bytes]) -> None:
    for n, payload in enumerate(payloads, 1):
        recorder.send(payload)
        recorder.wait(lambda r, n=n: len(r.on("status/segmenter/reply")) >= n)  # type: ignore[misc]
    recorder.wait(lambda r: len(r.statuses()) >= 1 + len(payloads))
    statuses = [s for s in recorder.statuses() if s != "Ready"]
    assert len(statuses) == len(payloads), statuses
    for status in statuses:
        assert status.startswith("An exception was raised during the segmentation: "), status
        assert reserved_words(status) == ["exception"], status
    assert all(not r["ok"] for r in recorder.on("status/segmenter/reply"))


def test_an_oversized_or_too_deep_segment_ends_its_unit(
    harness: Callable[..., Harness], recorder: Recorder
) -> None:
    """The dashboard waits for one terminal status per `segment`: a payload the parser
    cannot read (too large, nested too deep, cut short) that still says `segment` ends
    its unit with one error, not just a `parse` reply nobody reads."""
    harness()
    filler = "x" * (300 * 1024)
    payloads = [
        json.dumps({"action": "segment", "path": "img", "note": filler}).encode(),
        b'{"action": "segment", "path": ' + b"[" * DEPTH + b"]" * DEPTH + b"}",
        b'{"action":"segment","id":"cut","path":"img"',
    ]
    _units_end_with_one_exception(recorder, payloads)
    assert recorder.on("status/segmenter/reply")[2]["id"] == "cut"
