"""One rule per setting (segmenter.rules): the CLI, the MQTT commands (segment, enqueue,
update_config) and the queue's settings file (RunSettings, and an item's worker count)
accept and refuse the same values, with one default."""

from __future__ import annotations

from typing import Any

import pytest

from segmenter.cli import build_parser
from segmenter.errors import ConfigError
from segmenter.service.commands import parse_settings
from segmenter.service.queue import QueueItem
from segmenter.service.values import max_workers
from segmenter.settings import RunSettings, default_workers
from worker.params import Params

# (CLI flag, MQTT field, the queue file's settings field, good values, bad values)
SETTINGS: list[tuple[str, str, str, list[Any], list[Any]]] = [
    ("--workers", "worker_count", "workers", [1, 256], [0, -1, 257]),
    ("--min-esd", "process_min_ESD", "min_esd_um", [0.0, 12.5, 100_000.0], [-1.0, 100_001.0]),
    ("--process-id", "process_id", "process_id", ["run_7", "x" * 64], ["a/b", "x" * 65, "a\\b"]),
    ("--compat", "compat", "compat", ["2026-03", "2026-06"], ["2025-01"]),
]


def cli_accepts(flag: str, value: Any) -> bool:
    try:
        build_parser().parse_args(["segment", "img", flag, str(value)])
    except SystemExit:
        return False
    return True


def mqtt_accepts(field: str, value: Any) -> bool:
    try:
        parse_settings({field: value})
    except ConfigError as exc:
        assert str(exc).startswith(f"settings.{field}:"), exc
        return False
    return True


def settings_accept(field: str, value: Any) -> bool:
    """A queue item's settings as the file holds them (RunSettings' fields, `workers`)."""
    try:
        QueueItem.from_json({"id": "x", "paths": [], "settings": {field: value}})
    except ConfigError:
        return False
    return True


@pytest.mark.parametrize(("flag", "mqtt", "field", "good", "bad"), SETTINGS)
def test_every_door_has_the_same_rule(
    flag: str, mqtt: str, field: str, good: list[Any], bad: list[Any]
) -> None:
    for value in good:
        assert cli_accepts(flag, value), (flag, value)
        assert mqtt_accepts(mqtt, value), (mqtt, value)
        assert settings_accept(field, value), (field, value)
    for value in bad:
        assert not cli_accepts(flag, value), (flag, value)
        if field != "workers" or value != 0:  # in the queue file 0 is the default count
            assert not settings_accept(field, value), (field, value)
        if field != "workers" or value < 1:  # over MQTT a count too high is lowered
            assert not mqtt_accepts(mqtt, value), (mqtt, value)


def test_over_mqtt_a_worker_count_beyond_the_machine_is_lowered_not_refused() -> None:
    patch = parse_settings({"worker_count": 257})
    assert patch.workers == max_workers() <= 256 and patch.notes


def test_the_minimum_esd_has_one_default() -> None:
    args = build_parser().parse_args(["segment", "img"])
    assert args.min_esd == RunSettings().min_esd_um == Params().min_esd_um


def test_the_settings_file_keeps_zero_workers_as_the_default() -> None:
    for settings in ({"workers": 0}, {}):
        item = QueueItem.from_json({"id": "x", "paths": [], "settings": settings})
        assert item.workers == default_workers() >= 1


def test_the_preview_interval_has_one_rule() -> None:
    """serve's --preview-every and RunSettings.preview_s (MQTT commands do not set it)."""

    def serve_accepts(value: Any) -> bool:
        try:
            build_parser().parse_args(["serve", "--preview-every", str(value)])
        except SystemExit:
            return False
        return True

    for value in (0.0, 1.0, 5.0, 3600.0):
        assert serve_accepts(value) and settings_accept("preview_s", value), value
    for value in (-1.0, 0.5, 3601.0):
        assert not serve_accepts(value) and not settings_accept("preview_s", value), value
    assert build_parser().parse_args(["serve"]).preview_every == 5.0
