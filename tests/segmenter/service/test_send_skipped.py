"""`segmenter send segment` of an acquisition already done: the item reports the objects
and archive of the run that made them (it said `done: ..., 0 objects`)."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from segmenter.cli.client import EXIT_OK, send
from tests.segmenter.service.conftest import CopyAcq
from tests.segmenter.service.harness import Broker, Harness

pytestmark = pytest.mark.mqtt


def test_a_skipped_acquisition_reports_its_objects_and_archive(
    broker: Broker, harness: Callable[..., Harness], copy_acq: CopyAcq
) -> None:
    folder = copy_acq(frames=4, seed=5)
    harness()
    lines = []
    for _ in range(2):  # the second finds done.txt
        err = io.StringIO()
        command = {"action": "enqueue", "path": [str(folder)], "start_queue": True}
        assert send(broker.settings, command, follow=True, err=err, out=err) == EXIT_OK
        lines.append(err.getvalue().strip().splitlines()[-1])
    first, second = (line.split(": ", 1)[1].split(", ", 1)[1] for line in lines)
    assert second == first and " 0 objects" not in first, lines
    assert "ecotaxa_synth_s5_synth_a5.zip" in second  # SPEC 7's names (sample + acquisition)
