"""MQTT end to end against a running `segmenter serve` (SPEC section 4).

For each round: publish a `segment` command (force) and time the statuses on
`status/segmenter`: command -> `Started`, command -> `Done`. Then publish another
`segment`, wait until frames are being segmented, wait a random moment, send
`{"action": "stop"}` and time stop -> `Interrupted`. The acquisition must lie under the
service's data root (run the benchmark with `--workdir` set to it, or `--mqtt-path`).
"""

from __future__ import annotations

import importlib.util
import json
import queue
import random
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from benchmark.common import Json, median, percentile

COMMAND_TOPIC = "segmenter/segment"
STATUS_TOPIC = "status/segmenter"
FAILURE_WORDS = ("error", "exception", "dead")


def service_available() -> bool:
    """Whether this checkout has the MQTT service (segmenter.service) at all."""
    try:
        return importlib.util.find_spec("segmenter.service") is not None
    except ImportError:
        return False


class StatusClient:
    """A paho-mqtt 2 client that queues (time, status) of non-retained status messages."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.timeout = timeout
        self.statuses: queue.Queue[tuple[float, str]] = queue.Queue()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="")
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.connect(host, port, keepalive=30)
        self.client.subscribe(STATUS_TOPIC, qos=1)
        self.client.loop_start()
        if not self._subscribed.wait(timeout):
            self.close()
            raise TimeoutError(f"no subscription acknowledgement from {host}:{port}")

    def _on_subscribe(self, *_args: Any) -> None:
        self._subscribed.set()

    def _on_message(self, _client: Any, _userdata: Any, msg: Any) -> None:
        now = time.perf_counter()
        if msg.retain:
            return
        try:
            status = json.loads(msg.payload.decode("utf-8"))["status"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return
        self.statuses.put((now, str(status)))

    def send(self, command: Json) -> float:
        """Publish a command; returns the time just before publishing."""
        while not self.statuses.empty():  # drop what came before this command
            self.statuses.get_nowait()
        sent = time.perf_counter()
        self.client.publish(COMMAND_TOPIC, json.dumps(command), qos=1).wait_for_publish(5.0)
        return sent

    def wait_for(self, wanted: str, prefix: bool = False) -> float:
        """Time of the first status equal to (or starting with) `wanted`."""
        deadline = time.perf_counter() + self.timeout
        while (left := deadline - time.perf_counter()) > 0:
            try:
                when, status = self.statuses.get(timeout=left)
            except queue.Empty:
                break
            if status == wanted or (prefix and status.startswith(wanted)):
                return when
            if status == "Done":
                raise RuntimeError(
                    f"the job ended (Done) before {wanted}: use a longer acquisition"
                )
            if any(w in status.lower() for w in FAILURE_WORDS):
                raise RuntimeError(f"the service answered {status!r} while waiting for {wanted}")
        raise TimeoutError(f"no {wanted!r} status within {self.timeout:g} s")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _segment(path: Path, workers: int) -> Json:
    settings: dict[str, Any] = {"force": True, "recursive": True, "ecotaxa": True, "keep": False}
    if workers:
        settings["worker_count"] = workers
    return {"action": "segment", "path": [str(path)], "settings": settings}


def mqtt_round(client: StatusClient, path: Path, *, workers: int, delay: float) -> Json:
    """One full segment (Started, Done) and one stopped segment (Interrupted)."""
    sent = client.send(_segment(path, workers))
    started = client.wait_for("Started")
    done = client.wait_for("Done")
    client.send(_segment(path, workers))
    client.wait_for("Segmenting image", prefix=True)
    time.sleep(delay)
    stop = client.send({"action": "stop"})
    interrupted = client.wait_for("Interrupted")
    return {
        "to_started_s": started - sent,
        "to_done_s": done - sent,
        "stop_to_interrupted_s": interrupted - stop,
    }


def measure_mqtt(
    host: str,
    port: int,
    *,
    path: Path,
    rounds: int,
    workers: int = 0,
    timeout: float = 600.0,
    seed: int = 0,
    require_service: bool = True,
    max_delay: float = 1.0,
) -> Json:
    """Median/percentile figures over `rounds` rounds, or a `skipped`/`error` reason."""
    base: Json = {"broker": f"{host}:{port}", "path": str(path), "rounds": rounds}
    if require_service and not service_available():
        return base | {"skipped": "segmenter.service is not in this checkout"}
    rng = random.Random(seed)
    try:
        client = StatusClient(host, port, timeout)
    except (OSError, TimeoutError) as exc:
        return base | {"error": f"cannot reach the broker: {exc}"}
    try:
        results = [
            mqtt_round(client, path, workers=workers, delay=rng.uniform(0, max_delay))
            for _ in range(rounds)
        ]
    except (RuntimeError, TimeoutError) as exc:
        return base | {"error": str(exc)}
    finally:
        client.close()
    stops = [r["stop_to_interrupted_s"] for r in results]
    return base | {
        "to_started_s": median([r["to_started_s"] for r in results]),
        "to_done_s": median([r["to_done_s"] for r in results]),
        "stop_to_interrupted_p50_s": percentile(stops, 50),
        "stop_to_interrupted_p95_s": percentile(stops, 95),
        "stop_to_interrupted_max_s": max(stops),
        "results": results,
    }
