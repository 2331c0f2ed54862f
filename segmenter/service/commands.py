"""Parse once at the edge: an MQTT payload becomes one `Command` or one ConfigError.

Every error names the field that was wrong (`settings.worker_count: ...`). Unknown keys
are ignored (the dashboard sends `dataset`, which we do not use). Each field's value is
parsed and checked in values.py: paths, for one, must lie inside `<data root>/img`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from segmenter import rules
from segmenter.errors import ConfigError
from segmenter.service.values import (
    bool_value,
    item_ids,
    min_esd_value,
    parse_id,
    parse_paths,
    process_id_value,
    qc_values,
    workers_value,
)
from segmenter.settings import RunSettings

MAX_PAYLOAD = 256 * 1024
# what a payload the parser refused (too large, too deep, cut short) says it is
_RAW_ACTION_RE = re.compile(rb'"action"\s*:\s*"([a-z_]{1,20})"')
_RAW_ID_RE = re.compile(rb'"id"\s*:\s*"?([A-Za-z0-9_.:\-]{1,64})[",}\s]')


class Action(StrEnum):
    SEGMENT = "segment"  # the dashboard's: queue it, run the queue, report on the legacy topic
    ENQUEUE = "enqueue"  # queue it (and with start_queue, run the queue); own topics only
    DEQUEUE = "dequeue"
    REORDER = "reorder"
    STOP = "stop"
    RESUME = "resume"
    UPDATE_CONFIG = "update_config"
    UPLOAD = "upload"  # send acquisitions' archives to EcoTaxa (service/uploads.py)


class Scope(StrEnum):
    CURRENT = "current"  # stop this item, go on with the queue (the dashboard's stop)
    QUEUE = "queue"  # let this item finish, then pause the queue
    ALL = "all"  # stop this item and drop the queue
    LIVE = "live"  # stop the live acquisitions (committed frames kept); the queue goes on


@dataclass(frozen=True, slots=True)
class SettingsPatch:
    """The settings a command gave; None means "not given, use the service default"."""

    force: bool | None = None
    recursive: bool | None = None
    ecotaxa: bool | None = None
    keep: bool | None = None
    process_id: str | None = None  # "" clears it (a new uuid per run)
    workers: int | None = None
    min_esd_um: float | None = None
    remove_previous_mask: bool | None = None
    compat: str | None = None  # the output contract (streamer.contract)
    live: bool | None = None  # the service's: follow the imager (update_config only)
    qc_focus_min: float | None = None  # the QC warnings' levels (segmenter.qc)
    qc_drift: int | None = None
    qc_static: int | None = None
    qc_frames: int | None = None
    notes: tuple[str, ...] = ()  # what was changed on the way in (said in the reply)

    def apply(self, base: RunSettings) -> RunSettings:
        """`base` with the settings given; `workers` is not a RunSettings' (the service
        hands it to the engine) nor `live`."""
        changes: dict[str, Any] = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) is not None and f.name not in ("live", "notes", "workers")
        }
        if changes.get("process_id") == "":
            changes["process_id"] = None
        return replace(base, **changes)


@dataclass(frozen=True, slots=True)
class Segment:
    id: str | None
    paths: tuple[Path, ...]
    settings: SettingsPatch
    start_queue: bool  # also run a paused queue: `segment`, or `enqueue` with start_queue
    legacy: bool = False  # `segment`: a unit of work of the legacy stream (SPEC 4)

    @property
    def action(self) -> Action:
        return Action.SEGMENT if self.legacy else Action.ENQUEUE


@dataclass(frozen=True, slots=True)
class Stop:
    id: str | None
    scope: Scope
    legacy: bool = False  # `{"action": "stop"}` without a scope: the dashboard's stop
    action: Action = Action.STOP


@dataclass(frozen=True, slots=True)
class Dequeue:
    id: str | None
    item: str
    action: Action = Action.DEQUEUE


@dataclass(frozen=True, slots=True)
class Reorder:
    id: str | None
    order: tuple[str, ...]
    action: Action = Action.REORDER


@dataclass(frozen=True, slots=True)
class Resume:
    id: str | None
    action: Action = Action.RESUME


@dataclass(frozen=True, slots=True)
class UpdateConfig:
    id: str | None
    settings: SettingsPatch
    action: Action = Action.UPDATE_CONFIG


@dataclass(frozen=True, slots=True)
class UploadRequest:
    id: str | None
    paths: tuple[Path, ...]
    again: bool  # send samples the project holds already
    action: Action = Action.UPLOAD


Command = Segment | Stop | Dequeue | Reorder | Resume | UpdateConfig | UploadRequest


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _load(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD:
        raise ConfigError(f"payload: larger than {MAX_PAYLOAD} bytes")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("payload: not UTF-8 text") from exc
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"payload: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"payload: must be a JSON object, not {type(data).__name__}")
    return data


def peek_action(payload: bytes) -> tuple[str | None, str | None]:
    """(action, id) of a payload that failed to parse, as far as they can be read: from
    its JSON, else from its text (a `segment` the parser cannot read is still a unit of
    work the dashboard waits on)."""
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        action, cid = _RAW_ACTION_RE.search(payload), _RAW_ID_RE.search(payload)
        return (
            action[1].decode() if action else None,
            cid[1].decode() if cid else None,
        )
    action = data.get("action") if isinstance(data.get("action"), str) else None
    try:
        return action, parse_id(data.get("id"))
    except ConfigError:
        return action, None


def parse_settings(value: Any, field: str = "settings") -> SettingsPatch:
    """The `settings` object of a command (missing or null: all defaults)."""
    if value is None:
        return SettingsPatch()
    if not isinstance(value, dict):
        raise ConfigError(f"{field}: must be a JSON object, not {type(value).__name__}")
    out: dict[str, Any] = {}
    for key in ("force", "recursive", "ecotaxa", "keep", "remove_previous_mask", "live"):
        if value.get(key) is not None:
            out[key] = bool_value(value[key], f"{field}.{key}")
    if value.get("process_id") is not None:
        out["process_id"] = process_id_value(value["process_id"], f"{field}.process_id")
    if value.get("worker_count") is not None:
        workers, note = workers_value(value["worker_count"], f"{field}.worker_count")
        out["workers"], out["notes"] = workers, (note,) if note else ()
    if value.get("process_min_ESD") is not None:
        out["min_esd_um"] = min_esd_value(value["process_min_ESD"], f"{field}.process_min_ESD")
    if value.get("compat") is not None:
        out["compat"] = rules.compat(value["compat"], f"{field}.compat")
    out |= qc_values(value, field)
    return SettingsPatch(**out)


def parse_command(payload: bytes, data_root: Path | None = None) -> Command:
    """One Command, or ConfigError naming the field. With `data_root`, paths are checked."""
    data = _load(payload)
    action_value = data.get("action")
    if action_value is None:
        raise ConfigError("action: missing")
    if not isinstance(action_value, str):
        raise ConfigError("action: must be a string")
    try:
        action = Action(action_value)
    except ValueError as exc:
        known = ", ".join(a.value for a in Action)
        raise ConfigError(f"action: unknown {action_value[:40]!r} (one of {known})") from exc
    cid = parse_id(data.get("id"))
    if action in (Action.SEGMENT, Action.ENQUEUE):
        paths = parse_paths(data.get("path"), data_root)
        settings = parse_settings(data.get("settings"))
        legacy = action is Action.SEGMENT
        start = legacy or bool_value(data.get("start_queue", False), "start_queue")
        return Segment(cid, paths, settings, start, legacy)
    if action is Action.STOP:
        scope = data.get("scope", Scope.CURRENT.value)
        if not isinstance(scope, str) or scope not in {s.value for s in Scope}:
            raise ConfigError(f"scope: must be one of {', '.join(s.value for s in Scope)}")
        return Stop(cid, Scope(scope), legacy="scope" not in data)
    if action is Action.DEQUEUE:
        item = parse_id(data.get("item", data.get("id")), "item")
        if item is None:
            raise ConfigError("item: missing (the id of the queued item to remove)")
        return Dequeue(cid, item)
    if action is Action.REORDER:
        return Reorder(cid, item_ids(data.get("order"), "order"))
    if action is Action.RESUME:
        return Resume(cid)
    if action is Action.UPLOAD:
        paths = parse_paths(data.get("path"), data_root)
        return UploadRequest(cid, paths, bool_value(data.get("again", False), "again"))
    key = "config" if "config" in data else "settings"
    if data.get(key) is None:
        raise ConfigError("config: missing (an object of settings)")
    return UpdateConfig(cid, parse_settings(data[key], key))
