"""The command-line client: publish one command with an id and follow what it started.

It listens on `status/segmenter/#` (reply, queue, progress and the legacy status), waits
for the service's reply to its own command id, then, for a `segment`, follows its own
item until it is done (exit 0), failed (1) or interrupted (130).
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from segmenter.cli.bar import Bars, counts, label
from segmenter.errors import SegmenterError
from segmenter.service.broker import BrokerSettings
from segmenter.service.mqtt import MqttTransport, client_id
from segmenter.service.status import (
    COMMAND_TOPIC,
    PROGRESS_TOPIC,
    QUEUE_TOPIC,
    REPLY_TOPIC,
    STATUS_TOPIC,
)

EXIT_OK, EXIT_FAILED, EXIT_REFUSED, EXIT_INTERRUPTED = 0, 1, 2, 130


class ClientError(SegmenterError):
    """The broker or the service cannot be reached; the message says which."""


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    data: Any
    retained: bool


def connect(
    settings: BrokerSettings,
    role: str,
    *,
    timeout: float,
    subscriptions: tuple[str, ...] = (),
    on_message: Callable[[str, bytes, bool], None] | None = None,
) -> MqttTransport:
    """A started transport without a Last Will (a client's end is no service's death),
    connected within `timeout`, else ClientError saying why."""
    transport = MqttTransport(
        settings,
        client_id(role),
        will=False,
        subscriptions=subscriptions,
        on_message=on_message,
    )
    # a client does not retry: its failure is the one line of the ClientError below,
    # not a "retrying" warning from the transport first
    mqtt_log = logging.getLogger("segmenter.service.mqtt")
    quiet = _BelowWarning()
    mqtt_log.addFilter(quiet)
    try:
        transport.start()
        if not transport.wait_connected_or_failed(timeout):
            transport.close(dead=False)
            why = transport.last_error or f"no answer within {timeout:g} s"
            raise ClientError(f"cannot reach the MQTT broker at {transport.address}: {why}")
    finally:
        mqtt_log.removeFilter(quiet)
    return transport


class _BelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


class Client:
    """A connection that records every status message in a thread-safe queue."""

    def __init__(self, settings: BrokerSettings, connect_timeout: float = 10.0) -> None:
        self.settings = settings
        self.messages: queue.Queue[Message] = queue.Queue()
        self.transport = connect(
            settings,
            "client",
            timeout=connect_timeout,
            subscriptions=("status/segmenter/#",),
            on_message=self._record,
        )
        if not self.transport.subscribed.wait(connect_timeout):
            self.close()
            raise ClientError("the broker did not confirm the subscription")

    def _record(self, topic: str, payload: bytes, retained: bool) -> None:
        try:
            data = json.loads(payload)
        except ValueError:
            data = {"invalid": payload.decode("utf-8", "replace")}
        self.messages.put(Message(topic, data, retained))

    def send(self, command: dict[str, Any]) -> None:
        payload = json.dumps(command).encode("utf-8")
        self.transport.client.publish(COMMAND_TOPIC, payload, qos=1).wait_for_publish(10)

    def next(self, deadline: float | None) -> Message | None:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self.transport.close(dead=False)


def new_id() -> str:
    return "cli-" + uuid.uuid4().hex[:10]


def _show(bars: Bars, progress: dict[str, Any]) -> None:
    """Draw a retained status/segmenter/progress message."""
    acquisition = str(progress.get("acquisition") or "")
    desc = label(acquisition) if acquisition else "waiting"
    postfix = counts(int(progress.get("objects", 0)), int(progress.get("failed_frames", 0)))
    frames = int(progress.get("frames", 0))
    bars.show(acquisition, desc, done=int(progress.get("frame", 0)), total=frames, postfix=postfix)


class Follower:
    """Follows one command (and its item) through the message stream."""

    def __init__(self, client: Client, as_json: bool, *, out: TextIO, err: TextIO) -> None:
        self.client, self.as_json, self.out, self.err = client, as_json, out, err
        self.bar = err.isatty() and not as_json
        self.bars = Bars(err)

    def emit(self, message: Message) -> None:
        if self.as_json:
            line = {"topic": message.topic, "payload": message.data}
            self.out.write(json.dumps(line, ensure_ascii=False) + "\n")
            self.out.flush()

    def reply(self, command_id: str, timeout: float) -> dict[str, Any]:
        """Wait for the service's answer to `command_id`."""
        deadline = time.monotonic() + timeout
        while (message := self.client.next(deadline)) is not None:
            self.emit(message)
            data = message.data
            if (
                message.topic == REPLY_TOPIC
                and isinstance(data, dict)
                and data.get("id") == command_id
            ):
                return data
        raise ClientError(
            f"no segmenter service answered within {timeout:g} s on "
            f"{self.client.settings.host}:{self.client.settings.port}"
        )

    def item(self, item_id: str) -> int:
        """Follow `item_id` until it ends; the exit code says how."""
        while (message := self.client.next(None)) is not None:
            self.emit(message)
            data = message.data if isinstance(message.data, dict) else {}
            if message.topic == PROGRESS_TOPIC and data.get("item") == item_id and self.bar:
                _show(self.bars, data)
            elif message.topic == QUEUE_TOPIC:
                code = self._item_state(data, item_id)
                if code is not None:
                    return code
            elif message.topic == STATUS_TOPIC and data.get("status") == "Dead":
                self._say("the service stopped; the item resumes when it starts again")
                return EXIT_FAILED
        return EXIT_FAILED

    def _item_state(self, data: dict[str, Any], item_id: str) -> int | None:
        for item in data.get("items", []):
            if item.get("id") != item_id:
                continue
            state = item.get("state")
            codes = {"done": EXIT_OK, "failed": EXIT_FAILED, "interrupted": EXIT_INTERRUPTED}
            if state in codes:
                detail = f": {item['message']}" if item.get("message") else ""
                archives = ", ".join(item.get("archives", []))
                where = f" -> {archives}" if archives else ""
                self._say(
                    f"{state}: item {item_id}, {item.get('frames_done', 0)} frames, "
                    f"{item.get('objects', 0)} objects{where}{detail}"
                )
                return codes[state]
        return None

    def _say(self, text: str) -> None:
        self.bars.close()
        self.err.write(text + "\n")
        self.err.flush()


def send(
    settings: BrokerSettings,
    command: dict[str, Any],
    *,
    follow: bool,
    as_json: bool = False,
    timeout: float = 10.0,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Publish `command` (an id is added) and report; follow its item when asked. `out`
    and `err`: sys.stdout and sys.stderr as they are at the call (not at import)."""
    out, err = out or sys.stdout, err or sys.stderr
    command = {**command, "id": command.get("id") or new_id()}
    client = Client(settings, timeout)
    try:
        follower = Follower(client, as_json, out=out, err=err)
        client.send(command)
        answer = follower.reply(command["id"], timeout)
        if not answer.get("ok"):
            err.write(f"segmenter: {answer.get('message')}\n")
            return EXIT_REFUSED
        if not as_json:
            err.write(f"{command['action']}: {answer.get('message')}\n")
        item = answer.get("item")
        if not follow or not item:
            return EXIT_OK
        return follower.item(str(item))
    finally:
        client.close()


def retained(settings: BrokerSettings, topics: tuple[str, ...], timeout: float) -> dict[str, Any]:
    """The retained messages of `topics` (those present within `timeout`)."""
    client = Client(settings, timeout)
    found: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + min(timeout, 2.0)
        while set(found) != set(topics) and (message := client.next(deadline)) is not None:
            if message.topic in topics and message.retained:
                found[message.topic] = message.data
    finally:
        client.close()
    return found
