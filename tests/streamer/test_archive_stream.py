"""The zip written as frames commit: each committed frame's crops are in the temporary
zip at once, the finished zip is the one `segmenter export` writes from the crops folder,
and an abandoned one leaves nothing."""

from __future__ import annotations

import zipfile
from pathlib import Path

import cv2
import numpy as np

from streamer.archive import write_archive
from streamer.ecotaxa import write_tsv
from streamer.journal import CommittedFrame, FrameStore
from streamer.layout import Layout
from streamer.outputs import open_archive, write_tsv_and_archive
from tests.streamer.test_ecotaxa import METADATA, PROCESS, cells, leftovers, record

FRAMES = ["2026-03-10_12-00-00-000000.jpg", "2026-03-10_12-00-01-000000.jpg"]


def crop(i: int) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((8 + i, 6, 3), 30 * i, np.uint8))
    assert ok
    return data.tobytes()


def frame(index: int) -> tuple[CommittedFrame, list[bytes]]:
    stem = FRAMES[index].removesuffix(".jpg")
    objects = tuple(
        record(i, object_id=f"{stem}_{i}", img_file_name=f"{stem}_{i}.jpg")
        for i in range(3 * index, 3 * index + 3)
    )
    crops = [crop(i) for i in range(3 * index, 3 * index + 3)]
    return CommittedFrame(index, FRAMES[index], 0, objects, tuple(map(len, crops))), crops


def opened(tmp_path: Path) -> tuple[FrameStore, Layout]:
    layout = Layout(tmp_path, Path("2026-03-10/S_12/A_1"), "A_1")
    store = FrameStore(layout.objects_dir)
    store.open({"run": {"frames": FRAMES}})
    return store, layout


def test_crops_are_in_the_zip_as_frames_commit(tmp_path: Path) -> None:
    store, layout = opened(tmp_path)
    writer = open_archive(store, layout, 0)
    store.on_commit = lambda f, crops: writer.add_frame(f.objects, crops)
    (partial,) = list(layout.archive.parent.iterdir())  # the temporary zip, hidden
    assert partial.name.startswith(".") and partial.name.endswith(".tmp")
    written = 0
    for index in range(len(FRAMES)):
        committed, crops = frame(index)
        store.commit(committed, crops)
        written += sum(map(len, crops))
        assert partial.stat().st_size >= written, "the frame's crops are not in the zip yet"
        assert not layout.archive.exists()
    path = write_tsv_and_archive(
        store, layout, cells=cells(METADATA, PROCESS), frames=len(FRAMES), archive=writer
    )
    assert path == layout.archive and not partial.exists()
    names = [o.img_file_name for index in range(len(FRAMES)) for o in frame(index)[0].objects]
    with zipfile.ZipFile(layout.archive) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == [layout.tsv.name, *names]  # the TSV listed first, as before
        assert zf.read(layout.tsv.name) == layout.tsv.read_bytes()
        assert [zf.read(name) for name in names] == [crop(i) for i in range(len(names))]
    # the same bytes as the zip `segmenter export` writes from the crops folder at once
    again = tmp_path / "again" / layout.archive.name
    write_archive(
        again, layout.tsv, crops_dir=layout.objects_dir, objects=store.objects(len(FRAMES))
    )
    assert again.read_bytes() == layout.archive.read_bytes()


def test_resumed_zip_starts_from_the_committed_crops(tmp_path: Path) -> None:
    store, layout = opened(tmp_path)
    for index in range(len(FRAMES)):
        store.commit(*frame(index))
    write_tsv(layout.tsv, cells(METADATA, PROCESS), store.objects(len(FRAMES)))
    first = open_archive(store, layout, 1)  # a resumed run that kept frame 0
    store.on_commit = lambda f, crops: first.add_frame(f.objects, crops)
    store.commit(*frame(1))
    first.finish(layout.tsv)
    whole = open_archive(store, layout, len(FRAMES))
    whole.finish(layout.tsv)  # replaces the first: the same content, the same bytes
    again = tmp_path / "again.zip"
    write_archive(
        again, layout.tsv, crops_dir=layout.objects_dir, objects=store.objects(len(FRAMES))
    )
    assert again.read_bytes() == layout.archive.read_bytes()


def test_an_abandoned_zip_leaves_nothing(tmp_path: Path) -> None:
    store, layout = opened(tmp_path)
    store.commit(*frame(0))
    writer = open_archive(store, layout, 1)
    writer.abort()
    writer.abort()  # twice is harmless (a run's `finally` after a failure)
    assert list(layout.archive.parent.iterdir()) == []
    assert leftovers(layout.objects_dir) == []
