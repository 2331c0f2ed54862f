"""What the service publishes goes to every subscriber of the broker: paths relative to
the data root, errors as sentences (no absolute path of this machine, no repr of an
exception), while the dashboard's legacy strings keep their form (SPEC 4)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from segmenter.service.status import error_message
from tests.segmenter.service.conftest import CopyAcq
from tests.segmenter.service.harness import Harness, Recorder
from tests.segmenter.service.test_service import segment


def test_published_paths_are_relative_to_the_data_root(
    harness: Callable[..., Harness], copy_acq: CopyAcq, recorder: Recorder, data_root: Path
) -> None:
    good = copy_acq(frames=3, seed=2)
    bad = copy_acq(frames=3, seed=5)
    (bad / "metadata.json").write_text("{not json")
    h = harness()
    recorder.send(segment(good, "good"))
    recorder.wait_status("Done")
    recorder.send(segment(bad, "bad"))
    recorder.wait(lambda r: r.state("bad") == "failed")
    recorder.send({"action": "segment", "path": "/etc", "id": "outside"})
    recorder.wait(lambda r: len(r.on("status/segmenter/reply")) >= 3)
    recorder.wait(lambda r: len(r.statuses()) >= 5)  # Ready, Started, Done, 2 errors
    root = str(h.service.data_root)
    leaks = [m.raw[:200] for m in recorder.messages if root.encode() in m.raw]
    assert leaks == [], f"{len(leaks)} messages name {root}, e.g. {leaks[:2]}"
    rel = str(good.relative_to(data_root))
    done = recorder.item("good")
    assert done["paths"] == [rel]
    assert [Path(a).parts[:2] for a in done["archives"]] == [("export", "ecotaxa")]
    assert (data_root / done["archives"][0]).is_file()
    failed = recorder.item("bad")
    assert failed["message"].startswith(str(bad.relative_to(data_root)))
    errors = [s for s in recorder.statuses() if s.startswith("An exception was raised")]
    assert len(errors) == 2 and str(bad.relative_to(data_root)) in errors[0]


def test_an_unexpected_error_is_published_as_a_sentence() -> None:
    """Not repr(exc): `KeyError('x')` told a user nothing and showed the code's names."""
    assert error_message(KeyError("frames")) == (
        "internal error (KeyError: 'frames'); the service log has the details"
    )
    assert error_message(RuntimeError()) == (
        "internal error (RuntimeError); the service log has the details"
    )
    assert error_message(FileNotFoundError(2, "No such file or directory", "x.jpg")) == (
        "x.jpg: No such file or directory"
    )
