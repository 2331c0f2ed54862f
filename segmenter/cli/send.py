"""`segmenter send`: the service's command-line client. It publishes one command with an
id on segmenter/segment and follows the answer (and, for `segment`, the item) on the
service's own topics; the broker comes from --broker, else MQTT_HOSTNAME/MQTT_PORT."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, TypeAlias

from segmenter.cli.args import broker, min_esd, process_id, workers
from segmenter.cli.run_options import add_compat_option
from segmenter.errors import SegmenterError

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_broker_option(p: argparse.ArgumentParser, default: Any = None) -> None:
    p.add_argument(
        "--broker",
        type=broker,
        metavar="HOST[:PORT]",
        default=default,
        help="MQTT broker (default: $MQTT_HOSTNAME:$MQTT_PORT, else localhost:1883)",
    )


def _client_options(p: argparse.ArgumentParser, top: bool) -> None:
    """--broker, --json, --timeout: accepted before and after the sub-command (there,
    with suppressed defaults, so that they do not undo what was given before it)."""

    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    add_broker_option(p, default(None))
    p.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print the message stream as JSON lines on stdout",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=default(10.0),
        help="seconds to wait for the broker and the service's answer (default: 10)",
    )


def add_send_command(sub: SubParsers) -> None:
    p = sub.add_parser(
        "send",
        help="send a command to a running service and follow it",
        description="Publish one command with an id on segmenter/segment and follow its "
        "answer; `segment` follows its item to the end: exit 0 when done, 1 when it "
        "failed, 130 when it was interrupted, 2 when the service refused the command.",
    )
    _client_options(p, True)
    cmds = p.add_subparsers(dest="send_command", required=True, metavar="COMMAND")
    s = cmds.add_parser("segment", help="queue PATH... and follow it to the end")
    s.add_argument("paths", nargs="+", metavar="PATH", help="acquisition folders, or above")
    s.add_argument("--id", help="item id (default: a new one)")
    s.add_argument("--force", action="store_true", default=None, help="segment again (done.txt)")
    s.add_argument(
        "--no-recursive", dest="recursive", action="store_false", default=None, help="PATH only"
    )
    s.add_argument(
        "--no-ecotaxa", dest="ecotaxa", action="store_false", default=None, help="no zip"
    )
    s.add_argument("--keep", action="store_true", default=None, help="debug images in clean/")
    s.add_argument(
        "--remove-previous-mask",
        action="store_true",
        default=None,
        help="ignore what was already dark on the previous frame",
    )
    s.add_argument("--min-esd", type=min_esd, metavar="UM", help="smallest ESD kept")
    s.add_argument("--workers", type=workers, help="worker processes for this item")
    s.add_argument("--process-id", type=process_id, help="id written into process_id")
    add_compat_option(s, default=None)
    s.add_argument("--enqueue", action="store_true", help="queue only (a paused queue stays)")
    s.add_argument("--no-wait", action="store_true", help="return once the item is queued")
    st = cmds.add_parser("stop", help="stop the current item, the queue, or live work")
    st.add_argument(
        "--scope",
        choices=("current", "queue", "all", "live"),
        default="current",
        help="current: this item, then go on; queue: finish this item, then pause; "
        "all: stop this item and drop the queue; live: the live acquisitions (committed "
        "frames kept) (default: current)",
    )
    up = cmds.add_parser("upload", help="upload PATH...'s archives to EcoTaxa (the service's)")
    up.add_argument(
        "paths", nargs="+", metavar="PATH", help="acquisition folders, or folders above them"
    )
    up.add_argument(
        "--again", action="store_true", help="send acquisitions the project holds already"
    )
    cmds.add_parser("queue", help="print the queue")
    cmds.add_parser("status", help="print where the running item is")
    cmds.add_parser("resume", help="run a paused queue again")
    d = cmds.add_parser("dequeue", help="remove a pending item")
    d.add_argument("item", help="the item's id (see `send queue`)")
    r = cmds.add_parser("reorder", help="move pending items to the front, in this order")
    r.add_argument("items", nargs="+", metavar="ITEM", help="item ids, first first")
    for parser in cmds.choices.values():
        _client_options(parser, False)


def _segment_command(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for flag in ("force", "recursive", "ecotaxa", "keep", "remove_previous_mask"):
        if getattr(args, flag) is not None:
            settings[flag] = getattr(args, flag)
    if args.min_esd is not None:
        settings["process_min_ESD"] = args.min_esd
    if args.workers is not None:
        settings["worker_count"] = args.workers
    if args.process_id is not None:
        settings["process_id"] = args.process_id
    if args.compat is not None:
        settings["compat"] = args.compat
    paths = [str(Path(p).resolve()) if Path(p).exists() else p for p in args.paths]
    # `enqueue`, not the dashboard's `segment`: the client follows its item on the
    # service's own topics, and the dashboard's legacy stream never shows it
    command: dict[str, Any] = {"action": "enqueue", "path": paths, "settings": settings}
    if not args.enqueue:
        command["start_queue"] = True  # run the queue even if it was paused
    if args.id:
        command["id"] = args.id
    return command


def _print_queue(data: dict[str, Any]) -> None:
    paused = " (paused)" if data.get("paused") else ""
    print(f"queue{paused}: running {data.get('running') or 'nothing'}")
    for item in data.get("items", []):
        paths = ", ".join(item.get("paths", []))
        counts = f"{item.get('frames_done', 0)} frames, {item.get('objects', 0)} objects"
        print(f"  {item['id']:<16} {item['state']:<12} {counts:<28} {paths}")


def cmd_send(args: argparse.Namespace) -> int:
    import json

    from segmenter.cli.client import retained, send
    from segmenter.service.broker import BrokerSettings
    from segmenter.service.status import PROGRESS_TOPIC, QUEUE_TOPIC

    broker = BrokerSettings.from_env(os.environ, args.broker)
    what = args.send_command
    if what in ("queue", "status"):
        topics = (QUEUE_TOPIC,) if what == "queue" else (QUEUE_TOPIC, PROGRESS_TOPIC)
        found = retained(broker, topics, args.timeout)
        if QUEUE_TOPIC not in found:
            raise SegmenterError(f"no segmenter service state on {broker.host}:{broker.port}")
        if args.json:
            print(json.dumps(found, indent=2, ensure_ascii=False))
        elif what == "queue":
            _print_queue(found[QUEUE_TOPIC])
        else:
            print(json.dumps(found.get(PROGRESS_TOPIC, {}), ensure_ascii=False))
        return 0
    commands: dict[str, dict[str, Any]] = {
        "stop": {"action": "stop", "scope": getattr(args, "scope", "current")},
        "resume": {"action": "resume"},
        "dequeue": {"action": "dequeue", "item": getattr(args, "item", None)},
        "reorder": {"action": "reorder", "order": getattr(args, "items", None)},
        "upload": {
            "action": "upload",
            "path": [str(Path(p).resolve()) for p in getattr(args, "paths", [])],
            "again": getattr(args, "again", False),
        },
    }
    if what == "segment":
        return send(
            broker,
            _segment_command(args),
            follow=not args.no_wait,
            as_json=args.json,
            timeout=args.timeout,
        )
    return send(broker, commands[what], follow=False, as_json=args.json, timeout=args.timeout)
