"""`segmenter replay`: play an existing acquisition into a new folder as the imager would,
with its MQTT events when --broker is given (segmenter/live/replay.py does the work).

Wired into `segmenter.cli` with `add_replay_command(sub)` and `HANDLERS`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from segmenter.cli.args import broker, non_negative_int, positive_float, positive_int
from segmenter.live.replay import ENDS, FrameWritten, Publish, ReplayResult, plan, run

if TYPE_CHECKING:  # paho is imported only when --broker is given
    from segmenter.service.mqtt import MqttTransport

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
EXIT_OK, EXIT_INTERRUPTED = 0, 130

EPILOG = """\
examples:
  segmenter replay ../shared/baseline/recalc/img/2026-05-02/S_31/A_31 /tmp/data --rate 1
  segmenter replay SRC /tmp/data --as live/S_1/A_1 --broker localhost:1883 --rate 3
  segmenter replay SRC /tmp/data --broker localhost --stop-after 5 --end silent

The new folder is DATA_ROOT/img/REL: REL is --as, else SRC's path below its img/ folder
(else the imager's object_date/sample_id/acq_id from its metadata); an existing folder
is refused. Files keep SRC's names. Frame k (from 0) is written at start + k/RATE: in
place, fsynced, then its integrity.check line, then on status/imager "Image i/N saved to
NAME" and the progress event, at the imager's QoS 0. With --stop-after K the replay ends
after K frames, when frame K+1 was due, with --end interrupted (the default),
not-captured ("Image K+1/N WAS NOT CAPTURED! STOPPING THE PROCESS!") or silent (nothing
more: a crashed imager). Ctrl-C publishes Interrupted. Broker credentials and TLS come
from MQTT_USERNAME, MQTT_PASSWORD(_FILE), MQTT_TLS, MQTT_CA, MQTT_CERT, MQTT_KEY, as for
`segmenter serve`.

exit status: 0 replayed, 1 cannot (broker unreachable, unwritable), 2 bad usage, 130 Ctrl-C
"""


def add_replay_command(sub: SubParsers) -> None:
    p = sub.add_parser(
        "replay",
        help="play an acquisition into a new folder as the imager does (tests live mode)",
        description="Write SRC's metadata.json and frames into a new acquisition folder\n"
        "under DATA_ROOT at the imager's pace, with its integrity.check lines and, with\n"
        "--broker, its status/imager messages.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", type=Path, metavar="SRC", help="acquisition folder to play")
    p.add_argument("data_root", type=Path, metavar="DATA_ROOT", help="data root to play into")
    p.add_argument("--as", dest="rel", type=Path, metavar="REL", help="path below img/")
    p.add_argument(
        "--rate", type=positive_float, default=1.0, metavar="FPS",
        help="frames per second (default: 1, the instrument's ~60 per minute)",
    )  # fmt: skip
    p.add_argument("--frames", type=positive_int, metavar="N", help="only SRC's first N frames")
    p.add_argument(
        "--broker", type=broker, metavar="HOST[:PORT]",
        help="publish the imager's messages there (default: files only)",
    )  # fmt: skip
    p.add_argument(
        "--qos", type=int, choices=(0, 1), default=0,
        help="QoS of the messages (default: 0, the imager's)",
    )  # fmt: skip
    p.add_argument(
        "--stop-after", type=non_negative_int, metavar="K",
        help="end after K frames (see --end)",
    )  # fmt: skip
    p.add_argument("--end", choices=ENDS, help="how the replay ends (default: done)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def _line(event: FrameWritten) -> None:
    late = f"  {event.late_s * 1000:.0f} ms late" if event.late_s >= 0.05 else ""
    width = len(str(event.total))
    print(f"{event.current:>{width}}/{event.total} {event.path.name}{late}", file=sys.stderr)


def _summary(result: ReplayResult) -> str:
    return (
        f"replayed {result.written} of {result.total} frames into {result.target} in "
        f"{result.seconds:.1f} s at {result.rate:g} frames/s (at most "
        f"{result.max_late_s * 1000:.0f} ms behind schedule); end: {result.end}"
    )


def _publisher(args: argparse.Namespace) -> tuple[MqttTransport | None, Publish | None]:
    if not args.broker:
        return None, None
    from segmenter.cli.client import connect
    from segmenter.service.broker import BrokerSettings

    transport = connect(BrokerSettings.from_env(os.environ, args.broker), "replay", timeout=10.0)

    def publish(topic: str, payload: bytes) -> None:
        transport.publish(topic, payload, qos=args.qos)

    return transport, publish


def cmd_replay(args: argparse.Namespace) -> int:
    the_plan = plan(
        args.source,
        args.data_root,
        rate=args.rate,
        rel=args.rel,
        frames=args.frames,
        stop_after=args.stop_after,
        end=args.end,
    )
    transport, publish = _publisher(args)
    try:
        result = run(the_plan, publish, on_frame=_line)
    finally:
        if transport is not None:
            transport.close(dead=False)  # delivers what is queued first
    print(json.dumps(result.as_dict()) if args.json else _summary(result))
    return EXIT_INTERRUPTED if result.end == "stopped" else EXIT_OK


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"replay": cmd_replay}
