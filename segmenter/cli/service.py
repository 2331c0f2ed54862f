"""`segmenter serve` (the MQTT service); with `segmenter send` (its command-line client,
segmenter.cli.send) wired into `segmenter.cli` by `add_service_commands(sub)` and
`HANDLERS`. Settings come from the flags, then the environment (MQTT_HOSTNAME,
MQTT_PORT, MQTT_USERNAME, MQTT_PASSWORD or MQTT_PASSWORD_FILE, MQTT_TLS, MQTT_CA,
MQTT_CERT, MQTT_KEY, PLANKTOSCOPE_DATA_PATH, SEGMENTER_WORKERS, SEGMENTER_COMPAT,
ECOTAXA_*), read when the command starts.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TypeAlias

from segmenter import rules
from segmenter.cli.args import positive_float, preview_s, workers
from segmenter.cli.run_options import add_compat_option
from segmenter.cli.send import add_broker_option, add_send_command, cmd_send
from segmenter.errors import ConfigError, NotFound
from segmenter.settings import RunSettings, default_workers
from streamer import contract

log = logging.getLogger("segmenter.serve")

Handler = Callable[[argparse.Namespace], int]
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _add_serve(sub: SubParsers) -> None:
    p = sub.add_parser(
        "serve",
        help="run the MQTT service the PlanktoScope dashboard drives",
        description="Listen on segmenter/segment, queue and run segmentations, publish "
        "statuses on status/segmenter. SIGTERM or Ctrl-C stops the running item (it "
        "resumes at the next start), publishes Dead and exits 0.",
    )
    add_broker_option(p)
    p.add_argument(
        "--data-root", type=Path, help="folder holding img/ (default: $PLANKTOSCOPE_DATA_PATH)"
    )
    p.add_argument(
        "--workers",
        type=workers,
        help="worker processes (default: $SEGMENTER_WORKERS, else CPU cores - 1, at least 1)",
    )
    p.add_argument(
        "--no-live",
        dest="live",
        action="store_false",
        help="do not follow the imager (by default each acquisition it writes is segmented "
        "while it is imaged; MQTT: update_config with settings.live)",
    )
    p.add_argument(
        "--idle-timeout",
        type=positive_float,
        default=60.0,
        metavar="S",
        help="a live acquisition whose imager goes silent this long is finished with the "
        "frames there (default: 60)",
    )
    add_compat_option(p, default=None)  # None: $SEGMENTER_COMPAT, else the default
    p.add_argument(
        "--preview-every",
        type=preview_s,
        default=rules.PREVIEW_S,
        metavar="S",
        help="publish a downscaled frame with its objects boxed, retained on "
        f"preview/segmenter, at most every S seconds (default: {rules.PREVIEW_S:g}; "
        "0: none); see docs/live.md",
    )
    p.add_argument(
        "--stop-timeout",
        type=float,
        default=25.0,
        help="seconds to wait for the running item to stop at exit (default: 25, below "
        "the unit's TimeoutStopSec)",
    )
    p.add_argument(
        "--upload-after",
        action="store_true",
        default=os.environ.get("ECOTAXA_UPLOAD_AFTER", "").lower() in ("1", "true", "yes"),
        help="upload each archived acquisition to EcoTaxa (also ECOTAXA_UPLOAD_AFTER=1; "
        "needs ECOTAXA_URL, ECOTAXA_USER, ECOTAXA_PROJECT, ECOTAXA_PASSWORD or "
        "ECOTAXA_PASSWORD_FILE; with ECOTAXA_URL set, the MQTT `upload` command works "
        "without it)",
    )


def add_service_commands(sub: SubParsers) -> None:
    """Add `serve` and `send` to the `segmenter` sub-commands."""
    _add_serve(sub)
    add_send_command(sub)


# -- serve ---------------------------------------------------------------------------
def _data_root(explicit: Path | None) -> Path:
    root = explicit or (Path(p) if (p := os.environ.get("PLANKTOSCOPE_DATA_PATH")) else None)
    if root is None:
        raise ConfigError("no data root: pass --data-root DIR or set PLANKTOSCOPE_DATA_PATH")
    if not root.is_dir():
        raise NotFound(f"data root {root} does not exist or is not a folder")
    return root.resolve()


def _default_workers(explicit: int | None) -> int:
    if explicit:
        return explicit
    env = os.environ.get("SEGMENTER_WORKERS", "")
    if env:
        if not env.isdigit():
            raise ConfigError(f"SEGMENTER_WORKERS: {env!r} is not a whole number")
        return rules.workers(int(env), "SEGMENTER_WORKERS")
    return default_workers()


def _default_compat(explicit: str | None) -> str:
    """The service's output contract: --compat, else $SEGMENTER_COMPAT, else the default."""
    if explicit:
        return explicit
    env = os.environ.get("SEGMENTER_COMPAT", "")
    return rules.compat(env, "SEGMENTER_COMPAT") if env else contract.DEFAULT


def _uploads(data_root: Path, publisher: Any, auto: bool) -> Any:
    """The service's EcoTaxa uploads: set up when ECOTAXA_URL is (or --upload-after)."""
    from segmenter.service.uploads import ServiceUploads
    from segmenter.upload.config import server_settings

    configured = auto or bool(os.environ.get("ECOTAXA_URL"))
    server = server_settings(os.environ) if configured else None
    return ServiceUploads(data_root, server, publisher, auto=auto)


def cmd_serve(args: argparse.Namespace) -> int:
    from segmenter.engine import Segmenter
    from segmenter.service.broker import BrokerSettings
    from segmenter.service.mqtt import MqttTransport, client_id
    from segmenter.service.sdnotify import Watchdog, notify
    from segmenter.service.service import Service

    broker = BrokerSettings.from_env(os.environ, args.broker)
    data_root = _data_root(args.data_root)
    workers = _default_workers(args.workers)
    compat = _default_compat(args.compat)
    if logging.getLogger().level > logging.INFO:
        logging.getLogger("segmenter").setLevel(logging.INFO)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with Segmenter(workers) as engine:
        transport = MqttTransport(broker, client_id("service"))
        defaults = RunSettings(compat=compat, preview_s=args.preview_every)
        uploads = _uploads(data_root, transport, args.upload_after)
        service = Service(
            data_root,
            engine,
            publisher=transport,
            defaults=defaults,
            live=args.live,
            idle_timeout=args.idle_timeout,
            uploads=uploads,
        )
        service.attach(transport)
        service.start()
        transport.start()
        watchdog = Watchdog(service.healthy)
        watchdog.start()
        notify("READY=1")
        log.info("serving %s on %s:%d, %d workers", data_root, broker.host, broker.port, workers)
        while not stop.wait(1.0):
            if not service.alive():
                log.error("the worker thread died; exiting so that systemd restarts us")
                return 1
        notify("STOPPING=1")
        if not service.shutdown(args.stop_timeout):
            log.error("the running item did not stop within %g s", args.stop_timeout)
        watchdog.stop()
        transport.close(dead=True)
    return 0


HANDLERS: dict[str, Handler] = {"serve": cmd_serve, "send": cmd_send}
