"""parse_command: every malformed field gives one ConfigError naming it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from segmenter.errors import ConfigError
from segmenter.service.commands import (
    Dequeue,
    Reorder,
    Resume,
    Scope,
    Segment,
    SettingsPatch,
    Stop,
    UpdateConfig,
    parse_command,
)
from segmenter.service.values import max_workers
from segmenter.settings import RunSettings


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "data" / "img" / "2026-03-10" / "S_12" / "A_1").mkdir(parents=True)
    return tmp_path / "data"


def cmd(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def seg(root: Path, **settings: object) -> bytes:
    return cmd(action="segment", path=str(root / "img" / "2026-03-10"), settings=settings)


def test_the_dashboard_command(root: Path) -> None:
    payload = cmd(
        action="segment",
        path=[str(root / "img/2026-03-10/S_12/A_1")],
        settings={
            "force": False,
            "recursive": True,
            "ecotaxa": True,
            "keep": True,
            "process_id": 1,
            "process_min_ESD": 20,
            "remove_previous_mask": False,
            "worker_count": 3,
        },
        dataset={"anything": [1, 2]},
        unknown_key="ignored",
    )
    command = parse_command(payload, root)
    assert isinstance(command, Segment) and command.start_queue and command.legacy
    assert command.paths == ((root / "img/2026-03-10/S_12/A_1").resolve(),)
    settings = command.settings.apply(RunSettings())
    workers = min(3, max_workers())  # lowered on a smaller machine (test_service_inputs)
    assert settings == RunSettings(
        force=False, recursive=True, ecotaxa=True, keep=True, process_id="1"
    )
    assert command.settings.workers == workers  # the engine's count, not a RunSettings field


def test_path_as_a_string_and_missing_settings_mean_defaults(root: Path) -> None:
    command = parse_command(cmd(action="segment", path=str(root / "img")), root)
    assert isinstance(command, Segment)
    assert command.settings == SettingsPatch()
    assert command.settings.apply(RunSettings()) == RunSettings()


def test_relative_paths_are_below_the_data_root(root: Path) -> None:
    command = parse_command(cmd(action="enqueue", path="img/2026-03-10", id="a1"), root)
    assert isinstance(command, Segment) and not command.start_queue and not command.legacy
    assert command.paths == ((root / "img/2026-03-10").resolve(),) and command.id == "a1"


def test_only_segment_is_a_unit_of_the_legacy_stream(root: Path) -> None:
    command = parse_command(seg(root), root)
    assert isinstance(command, Segment) and command.legacy and command.start_queue
    started = cmd(action="enqueue", path="img", start_queue=True)
    command = parse_command(started, root)
    assert isinstance(command, Segment) and command.start_queue and not command.legacy


@pytest.mark.parametrize(
    ("value", "expected"), [(20, 20.0), ("12.5", 12.5), (" 7 ", 7.0), ("", None), (0, 0.0)]
)
def test_min_esd_number_numeric_string_or_empty(
    root: Path, value: object, expected: object
) -> None:
    command = parse_command(seg(root, process_min_ESD=value), root)
    assert isinstance(command, Segment) and command.settings.min_esd_um == expected


def test_empty_min_esd_keeps_the_default(root: Path) -> None:
    command = parse_command(seg(root, process_min_ESD=""), root)
    assert isinstance(command, Segment)
    assert command.settings.apply(RunSettings(min_esd_um=33.0)).min_esd_um == 33.0


def test_other_actions(root: Path) -> None:
    assert parse_command(cmd(action="stop")) == Stop(None, Scope.CURRENT, legacy=True)
    assert parse_command(cmd(action="stop", scope="current")) == Stop(None, Scope.CURRENT)
    assert parse_command(cmd(action="stop", scope="all", id=7)) == Stop("7", Scope.ALL)
    assert parse_command(cmd(action="dequeue", item="x1")) == Dequeue(None, "x1")
    assert parse_command(cmd(action="dequeue", id="x2")) == Dequeue("x2", "x2")
    assert parse_command(cmd(action="reorder", order=["b", "a"])) == Reorder(None, ("b", "a"))
    assert parse_command(cmd(action="resume")) == Resume(None)
    update = parse_command(cmd(action="update_config", config={"worker_count": "2"}))
    assert update == UpdateConfig(None, SettingsPatch(workers=2))


def test_a_worker_count_beyond_the_machine_is_lowered_with_a_note() -> None:
    """For `segment`, `enqueue` and `update_config` alike (one rule: values.py)."""
    limit = max_workers()
    for payload in (
        cmd(action="update_config", config={"worker_count": 1000}),
        cmd(action="enqueue", path="img", settings={"worker_count": "1000"}),
    ):
        command = parse_command(payload)
        assert isinstance(command, UpdateConfig | Segment)
        assert command.settings.workers == limit
        (note,) = command.settings.notes
        assert f"worker_count: 1000 lowered to {limit}, the most this machine runs" in note


MALFORMED: list[tuple[bytes, str]] = [
    (b"{not json", "payload"),
    (b"\xff\xfe", "payload"),
    (b"[1, 2]", "payload"),
    (b'"segment"', "payload"),
    (b'{"action": "segment", "path": NaN}', "payload"),
    (b"x" * 300_000, "payload"),
    (cmd(path="img"), "action"),
    (cmd(action=3), "action"),
    (cmd(action="explode"), "action"),
    (cmd(action="segment"), "path"),
    (cmd(action="segment", path=[]), "path"),
    (cmd(action="segment", path=5), "path"),
    (cmd(action="segment", path=["img", 5]), "path"),
    (cmd(action="segment", path=["img"] * 101), "path"),
    (cmd(action="segment", path="img", settings=[1]), "settings"),
    (cmd(action="segment", path="img", settings={"force": "yes"}), "settings.force"),
    (cmd(action="segment", path="img", settings={"recursive": 1}), "settings.recursive"),
    (cmd(action="segment", path="img", settings={"ecotaxa": "no"}), "settings.ecotaxa"),
    (cmd(action="segment", path="img", settings={"keep": []}), "settings.keep"),
    (
        cmd(action="segment", path="img", settings={"remove_previous_mask": 0}),
        "settings.remove_previous_mask",
    ),
    (cmd(action="segment", path="img", settings={"process_id": [1]}), "settings.process_id"),
    (cmd(action="segment", path="img", settings={"process_id": "a/b"}), "settings.process_id"),
    (cmd(action="segment", path="img", settings={"process_id": "x" * 65}), "settings.process_id"),
    (
        cmd(action="segment", path="img", settings={"process_min_ESD": "abc"}),
        "settings.process_min_ESD",
    ),
    (
        cmd(action="segment", path="img", settings={"process_min_ESD": -1}),
        "settings.process_min_ESD",
    ),
    (
        cmd(action="segment", path="img", settings={"process_min_ESD": "inf"}),
        "settings.process_min_ESD",
    ),
    (
        cmd(action="segment", path="img", settings={"process_min_ESD": True}),
        "settings.process_min_ESD",
    ),
    (cmd(action="segment", path="img", settings={"worker_count": 0}), "settings.worker_count"),
    (cmd(action="segment", path="img", settings={"worker_count": 2.5}), "settings.worker_count"),
    (cmd(action="segment", path="img", settings={"worker_count": "two"}), "settings.worker_count"),
    (cmd(action="segment", path="img", settings={"worker_count": True}), "settings.worker_count"),
    (cmd(action="segment", path="img", id="has space"), "id"),
    (cmd(action="segment", path="img", id=True), "id"),
    (cmd(action="segment", path="img", id="x" * 65), "id"),
    (cmd(action="stop", scope="everything"), "scope"),
    (cmd(action="stop", scope=1), "scope"),
    (cmd(action="dequeue"), "item"),
    (cmd(action="dequeue", item={"id": 1}), "item"),
    (cmd(action="reorder"), "order"),
    (cmd(action="reorder", order="a"), "order"),
    (cmd(action="reorder", order=["a", "a"]), "order"),
    (cmd(action="reorder", order=["a", None]), "order"),
    (cmd(action="update_config"), "config"),
    (cmd(action="update_config", config="fast"), "config"),
    (cmd(action="update_config", config={"keep": "maybe"}), "config.keep"),
]


@pytest.mark.parametrize(("payload", "field"), MALFORMED)
def test_malformed_fields_are_named(root: Path, payload: bytes, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_command(payload, root)
    assert str(info.value).startswith(f"{field}:"), str(info.value)


def test_paths_outside_the_data_root_are_refused(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "img" / "link_out").symlink_to(outside)
    (root / "img" / "a_file").write_text("x")
    (root / "objects").mkdir()
    cases = {
        str(root / "img" / "2026-03-10" / ".." / "2026-03-10"): "'..'",
        "img/../../elsewhere": "'..'",
        str(outside): "outside",
        str(root / "img" / "link_out"): "outside",
        str(root / "objects"): "outside",
        "/etc": "outside",
        str(root / "img" / "missing"): "does not exist",
        str(root / "img" / "a_file"): "not a folder",
    }
    for path, why in cases.items():
        with pytest.raises(ConfigError, match=why) as info:
            parse_command(cmd(action="segment", path=path), root)
        assert str(info.value).startswith("path:")


def test_a_symlink_inside_the_data_root_is_fine(root: Path) -> None:
    os.symlink(root / "img" / "2026-03-10", root / "img" / "today")
    command = parse_command(cmd(action="segment", path="img/today"), root)
    assert isinstance(command, Segment)
    assert command.paths == ((root / "img" / "2026-03-10").resolve(),)


def test_patch_clears_process_id_with_an_empty_string() -> None:
    assert SettingsPatch(process_id="").apply(RunSettings(process_id="x")).process_id is None
