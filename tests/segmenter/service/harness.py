"""Test helpers for the service: a private mosquitto, a recording client, the dashboard's
reading rules, and the service run in-process against a real broker."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from segmenter.engine import Progress, ProgressCallback, Segmenter
from segmenter.service.broker import BrokerSettings
from segmenter.service.mqtt import MqttTransport
from segmenter.service.service import Service
from segmenter.service.status import RESERVED
from segmenter.service.uploads import ServiceUploads
from segmenter.settings import RunSettings

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
NAME_RE = re.compile(r"image ([\w\-\_\.]+),", re.ASCII)  # the dashboard's regexes
COUNT_RE = re.compile(r"image (\d+)\/(\d+)")
TERMINAL = ("done", "interrupted", "error", "exception", "dead")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """A mosquitto of our own on a free loopback port; stop() and start() keep the port."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.conf = folder / "mosquitto.conf"
        # max_queued_messages 0: the broker keeps every message for a slow test client
        # (its default, 1000, drops the rest of a burst before the recorder reads it)
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 0\n"
        )
        self.log = folder / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def settings(self) -> BrokerSettings:
        return BrokerSettings("127.0.0.1", self.port)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class NotifyListener:
    """A systemd notify socket that a thread keeps reading, as systemd does."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.received: list[bytes] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.1)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                self.received.append(self._sock.recv(4096))
            except TimeoutError:
                continue
            except OSError:
                return

    def wait_for(self, message: bytes, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while message not in self.received:
            assert time.monotonic() < deadline, f"no {message!r}; got {self.received}"
            time.sleep(0.01)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        self._sock.close()

    def __enter__(self) -> NotifyListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Received:
    topic: str
    data: Any
    retained: bool
    at: float = field(default_factory=time.monotonic)
    raw: bytes = b""  # the payload as it came


class Recorder:
    """Subscribes to `topic` (status/segmenter/#) and keeps every message; also sends
    commands. `on_message` sees each message on arrival, in paho's thread."""

    def __init__(
        self,
        broker: Broker,
        topic: str = "status/segmenter/#",
        on_message: Callable[[Received], None] | None = None,
    ) -> None:
        self.messages: list[Received] = []
        self._hook = on_message
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"rec-{time.time_ns()}")
        client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        client.on_subscribe = lambda *_: self._subscribed.set()
        client.on_message = self._on_message
        client.reconnect_delay_set(1, 2)
        client.connect_async("127.0.0.1", broker.port, 10)
        client.loop_start()
        self.client = client
        assert self._subscribed.wait(10), "the recorder could not subscribe"

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        payload = bytes(msg.payload)
        received = Received(msg.topic, json.loads(payload), bool(msg.retain), raw=payload)
        if self._hook is not None:
            self._hook(received)
        with self._cond:
            self.messages.append(received)
            self._cond.notify_all()

    def send(self, command: dict[str, Any] | bytes) -> None:
        payload = command if isinstance(command, bytes) else json.dumps(command).encode()
        self.client.publish("segmenter/segment", payload, qos=1).wait_for_publish(5)

    def statuses(self) -> list[str]:
        with self._cond:
            return [m.data["status"] for m in self.messages if m.topic == "status/segmenter"]

    def on(self, topic: str) -> list[Any]:
        with self._cond:
            return [m.data for m in self.messages if m.topic == topic and not m.retained]

    def wait(self, predicate: Callable[[Recorder], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                assert left > 0, f"timed out; statuses so far: {self.statuses()}"
                self._cond.wait(min(left, 0.2))

    def wait_status(self, text: str, count: int = 1, timeout: float = 20.0) -> None:
        self.wait(lambda r: r.statuses().count(text) >= count, timeout)

    def item(self, item_id: str) -> dict[str, Any]:
        """The latest state of an item from status/segmenter/queue."""
        with self._cond:
            for m in reversed(self.messages):
                if m.topic == "status/segmenter/queue":
                    for item in m.data["items"]:
                        if item["id"] == item_id:
                            return dict(item)
        raise AssertionError(f"item {item_id} never appeared on the queue topic")

    def state(self, item_id: str) -> str | None:
        """An item's latest state on the queue topic, None before it appears there."""
        try:
            return str(self.item(item_id)["state"])
        except AssertionError:
            return None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def check_dashboard(statuses: list[str]) -> None:
    """The dashboard's reading of one unit of work: exactly one terminal status, last."""
    lowered = [s.lower() for s in statuses]
    assert lowered, "no status"
    for text in lowered[:-1]:
        assert not any(w in text for w in RESERVED), f"reserved word before the end: {text!r}"
        assert "busy" not in text
    assert any(w in lowered[-1] for w in TERMINAL), f"no terminal status: {statuses[-1]!r}"
    for text in statuses:
        if "image" in text.lower():
            assert NAME_RE.search(text), text
            count = COUNT_RE.search(text)
            assert count and 1 <= int(count[1]) <= int(count[2]), text


class SlowSegmenter(Segmenter):
    """The real engine, with a pause after each committed frame (stops land mid-run), and
    an optional gate: a run waits for it before the engine begins (`entered` is set).
    The service runs an item's acquisitions one by one through `run_acquisition`."""

    delay = 0.0

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        self.use_pool_after_delay = False

    def run_acquisition(  # type: ignore[override]
        self,
        folder: Path,
        settings: RunSettings,
        *,
        on_progress: ProgressCallback,
        **kwargs: Any,
    ) -> Any:
        def slow(event: Progress) -> None:
            on_progress(event)
            if event.phase == "frame":
                time.sleep(self.delay)
                if self.use_pool_after_delay:  # as a frame submitted after the pause would
                    self.pool.submit(int).result()

        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30), "the test never opened the gate"
        return super().run_acquisition(folder, settings, on_progress=slow, **kwargs)


class Harness:
    """The service in this process, connected to a test broker."""

    def __init__(
        self,
        broker: Broker,
        data_root: Path,
        delay: float = 0.0,
        workers: int = 1,
        idle_timeout: float = 60.0,
        keepalive: int = 20,
        *,
        live: bool = True,
        uploads: Callable[[MqttTransport], ServiceUploads] | None = None,
        preview_s: float = 0.0,
    ) -> None:
        """`uploads`: the service's EcoTaxa uploads made on its transport (as `serve`)."""
        self.engine = SlowSegmenter(workers)  # 1: in this process; 2: a real process pool
        self.engine.delay = delay
        settings = replace(broker.settings, keepalive=keepalive)
        self.transport = MqttTransport(settings, f"svc-{time.time_ns()}")
        defaults = RunSettings(preview_s=preview_s)
        self.service = Service(
            data_root, self.engine, publisher=self.transport, defaults=defaults, live=live,
            idle_timeout=idle_timeout, uploads=uploads(self.transport) if uploads else None,
        )  # fmt: skip
        self.service.attach(self.transport)
        self.service.start()
        self.transport.start()
        assert self.transport.subscribed.wait(10)

    def close(self) -> None:
        self.service.shutdown(30)
        self.transport.close(dead=True)
        self.engine.close()


def iter_frames(root: Path, folder: Path) -> Iterator[Path]:
    rel = folder.relative_to(root / "img")
    yield from sorted((root / "objects" / rel / ".segmenter" / "frames").glob("*.jsonl"))


def two_copies(source: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """The acquisition `source` copied under two data roots: (root, reference root, the
    acquisition's path below either)."""
    rel = source.relative_to(source.parents[3])
    root, reference_root = tmp_path / "data", tmp_path / "reference"
    for target in (root, reference_root):
        shutil.copytree(source.parents[3], target)
    return root, reference_root, rel


def assert_archive_as_uninterrupted(root: Path, reference_root: Path, rel: Path) -> None:
    """The archive under `root` equals an uninterrupted run's on the reference copy."""
    from tests.conftest import archive_content

    with Segmenter(2) as engine:
        (summary,) = engine.run([reference_root / rel], RunSettings(), data_root=reference_root)
    assert summary.archive is not None
    archive = root / "export" / "ecotaxa" / Path(summary.archive).name
    assert archive_content(archive) == archive_content(Path(summary.archive))
