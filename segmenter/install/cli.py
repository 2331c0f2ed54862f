"""`segmenter service install|status|upgrade|uninstall`. Standard library only (with
`streamer.files` and the error classes): on a fresh instrument it runs from the clone as
`sudo python3 -m segmenter service install`, before the venv with numpy exists."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from segmenter.errors import SegmenterError
from segmenter.install import actions
from segmenter.install.host import Host
from segmenter.install.layout import SETTINGS, VENV, Layout

DESCRIPTION = """\
Run this segmenter as the PlanktoScope's segmenter service, in place of the
planktoscope-org.segmenter unit the instrument ships, and go back.

  sudo python3 -m segmenter service install     from a clone, the first time
  segmenter service status                      which segmenter answers the dashboard
  sudo segmenter service upgrade                after `git pull` in the clone
  sudo segmenter service uninstall              the old segmenter back, as it was

install: a venv in /opt/segmenter/venv with this package, `segmenter` on the PATH
(/usr/local/bin), the old unit stopped and disabled, ours (segmenter.service) installed
and started with the old unit's data root and broker (settings in
/etc/segmenter/segmenter.env). Every command may be run again; --dry-run prints the
steps without taking them.
"""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="print each step, change nothing")
    p.add_argument(
        "--root",
        type=Path,
        default=Path("/"),
        help="prefix of every path written or read (default: /; a folder for tests or images)",
    )
    p.add_argument(
        "--systemctl",
        default="systemctl",
        metavar="COMMAND",
        help="the systemctl command to run (default: systemctl)",
    )
    p.add_argument(
        "--venv",
        type=PurePosixPath,
        default=VENV,
        help=f"where the venv goes (default: {VENV})",
    )


def build_parser(prog: str = "segmenter service") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    helps = {
        "install": "install and start ours, stop and disable the old segmenter",
        "status": "which segmenter answers the dashboard (exit 0: this one alone)",
        "upgrade": "reinstall from the clone, keeping the queue, journals and settings",
        "uninstall": "remove ours, restore the old segmenter as it was at install",
    }
    for name, text in helps.items():
        p = sub.add_parser(name, help=text, description=text)
        _common(p)
        if name in ("install", "upgrade"):
            p.add_argument(
                "--source",
                type=Path,
                help="the checkout to install (default: the one recorded at install, else "
                "the one this command runs from)",
            )
            p.add_argument(
                "--python",
                default=sys.executable if name == "install" else "python3",
                help="the interpreter that makes the venv, >= 3.11 (default: this one)",
            )
            p.add_argument(
                "--pip-arg",
                dest="pip_args",
                action="append",
                default=[],
                metavar="ARG",
                help="extra argument for pip install, repeatable (e.g. --pip-arg=--no-index "
                "--pip-arg=--find-links=/media/usb/wheels) (default: none)",
            )
        if name == "uninstall":
            p.add_argument("--purge", action="store_true", help=f"also remove {SETTINGS}")
    return parser


def main(argv: Sequence[str], prog: str = "segmenter service") -> int:
    args = build_parser(prog).parse_args(argv)
    layout = Layout(root=args.root, venv=args.venv)
    changes = args.action != "status" and not args.dry_run and args.root == Path("/")
    if changes and os.geteuid() != 0:
        print(f"{prog}: error: {args.action} changes the system: run it with sudo "
              "(or --dry-run to see the steps)", file=sys.stderr)  # fmt: skip
        return 2
    host = Host(layout, sys.stdout, systemctl=shlex.split(args.systemctl), dry_run=args.dry_run)
    options = actions.Options(
        source=getattr(args, "source", None),
        python=getattr(args, "python", "python3"),
        pip_args=tuple(getattr(args, "pip_args", ())),
        purge=getattr(args, "purge", False),
    )
    try:
        if args.dry_run:
            host.say("dry run: the steps are printed, none is taken")
        if args.action == "status":
            return actions.status(host)
        return {"install": actions.install, "upgrade": actions.upgrade,
                "uninstall": actions.uninstall}[args.action](host, options)  # fmt: skip
    except (SegmenterError, OSError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
