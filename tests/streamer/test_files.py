"""streamer.files' batch writer: every file whole under its name, no temporary left, and
the first failure a StorageError naming its file."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.errors import StorageError
from streamer.files import remove_temporaries, write_files


def test_write_files_puts_each_file_whole_under_its_name(tmp_path: Path) -> None:
    (tmp_path / "b.jpg").write_bytes(b"an older, longer crop")
    files = [("a.jpg", b"\xff\xd8" + bytes(range(256)) * 40), ("b.jpg", b"new"), ("c.jpg", b"")]
    write_files(tmp_path, files)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == dict(files)


def test_write_files_stops_at_a_failure_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "b.jpg").mkdir()  # a folder where a crop goes: the rename fails
    with pytest.raises(StorageError, match=r"b\.jpg"):
        write_files(tmp_path, [("a.jpg", b"1"), ("b.jpg", b"2"), ("c.jpg", b"3")])
    assert (tmp_path / "a.jpg").read_bytes() == b"1"
    assert not (tmp_path / "c.jpg").exists()
    assert remove_temporaries(tmp_path) == 0  # its temporary was removed, none left over


def test_write_files_into_a_missing_folder_names_it(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="missing"):
        write_files(tmp_path / "missing", [("a.jpg", b"1")])
