"""`segmenter upload`: send acquisitions' archives to an EcoTaxa project and import them,
one line per acquisition saying what EcoTaxa did. The password never comes from a flag
(it would show in `ps`): ECOTAXA_PASSWORD or --password-file."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from segmenter.cli.args import non_negative_float, require_existing
from segmenter.cli.segment import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, on_signals
from segmenter.errors import ConfigError
from segmenter.upload.config import project_number, server_settings

UPLOAD_EPILOG = """\
environment: ECOTAXA_URL, ECOTAXA_USER, ECOTAXA_PROJECT stand for the flags;
ECOTAXA_PASSWORD (or --password-file FILE / ECOTAXA_PASSWORD_FILE, its first line) is the
password.

For each acquisition's archive (export/ecotaxa/ecotaxa_<acq_id>.zip): log in, look the
acquisition up in the project (there already: skipped, unless --again), upload, import,
follow EcoTaxa's job to its end. When the network or EcoTaxa is down it waits and tries again
(doubling the wait) for --retry-for seconds; what is left stays pending in
DATA/.segmenter/uploads.json and the next run goes on from there, never importing an
acquisition twice. `segmenter ls` shows each acquisition's upload state.

exit status: 0 every acquisition imported (or skipped), 1 one failed or is still
pending (or the login was refused), 2 bad usage, 130 stopped
"""


def add_upload_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "upload",
        help="upload acquisitions' archives to EcoTaxa and import them",
        epilog=UPLOAD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # `--password X` must not pass for --password-file
    )
    p.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="segmented acquisition folders, or folders above them (a data root: all)",
    )
    p.add_argument("--data-root", type=Path, help="folder holding img/ (default: found from PATH)")
    p.add_argument(
        "--url",
        default=os.environ.get("ECOTAXA_URL"),
        help="EcoTaxa's API root, e.g. https://ecotaxa.obs-vlfr.fr/api ($ECOTAXA_URL)",
    )
    p.add_argument(
        "--user",
        default=os.environ.get("ECOTAXA_USER"),
        help="EcoTaxa user, its e-mail ($ECOTAXA_USER)",
    )
    p.add_argument(
        "--project",
        default=os.environ.get("ECOTAXA_PROJECT"),
        help="the EcoTaxa project's number ($ECOTAXA_PROJECT)",
    )
    p.add_argument("--password-file", type=Path, help="a file whose first line is the password")
    p.add_argument(
        "--again",
        action="store_true",
        help="send acquisitions the project holds already (only objects not there are added)",
    )
    p.add_argument(
        "--retry-for",
        type=non_negative_float,
        default=600.0,
        metavar="SECONDS",
        help="how long to wait for an unreachable EcoTaxa before leaving it pending (default: 600)",
    )
    p.add_argument("--dry-run", action="store_true", help="say what would be sent, send nothing")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


class _Line:
    """The progress line: rewritten in place on a terminal, one line each otherwise."""

    def __init__(self, quiet: bool) -> None:
        self.tty = sys.stderr.isatty()
        self.quiet = quiet
        self.shown = False

    def __call__(self, upload: Any, text: str) -> None:
        if self.quiet:
            return
        line = f"{upload.acquisition}: {text}"
        if self.tty:
            print(f"\r\x1b[K{line[:150]}", end="", file=sys.stderr, flush=True)
            self.shown = True
        else:
            print(line, file=sys.stderr, flush=True)

    def clear(self) -> None:
        if self.shown:
            print("\r\x1b[K", end="", file=sys.stderr, flush=True)
            self.shown = False


def outcome_line(upload: Any, seconds: float, started: float) -> str:
    """The one line saying what EcoTaxa did with an acquisition (`started`: time.time()
    when this run took it up: a record older than that was imported by an earlier run)."""
    where = f"project {upload.project}"
    if upload.state == "imported":
        note = f" ({upload.reason})" if upload.reason else ""
        if upload.updated < started:
            note += " (imported earlier: --again sends it anyway)"
        return (
            f"imported: {upload.acquisition}: {upload.objects} objects into {where} "
            f"(job {upload.job_id}, {seconds:.1f} s){note}"
        )
    if upload.state in ("failed", "skipped"):
        return f"{upload.state}: {upload.acquisition}: {upload.reason}"
    return (
        f"pending: {upload.acquisition}: not finished ({upload.state}; {upload.reason}); "
        "`segmenter upload` again goes on from there"
    )


def cmd_upload(args: argparse.Namespace) -> int:
    from segmenter.upload.targets import find_targets

    require_existing(args.paths)
    if not args.url:
        raise ConfigError("give --url (EcoTaxa's API root) or set ECOTAXA_URL")
    if not args.user:
        raise ConfigError("give --user or set ECOTAXA_USER")
    project = project_number(args.project)
    found, errors = find_targets(args.paths, args.data_root)
    for error in errors:
        print(f"segmenter: error: {error}", file=sys.stderr)
    if args.dry_run:
        return _dry_run(args, project, found=found, errors=errors)
    try:
        from segmenter.upload.book import UploadBook
        from segmenter.upload.run import LoginRefused, Policy, Uploader
    except ImportError as exc:
        raise ConfigError(
            f"segmenter upload needs {exc.name}: pip install 'planktoscope-segmenter[upload]'"
        ) from exc
    server = server_settings(
        os.environ,
        url=args.url,
        user=args.user,
        project=str(project),
        password_file=args.password_file,
    )
    policy = Policy(again=args.again, retry_for=args.retry_for)
    stop = threading.Event()
    line = _Line(quiet=args.json)
    results: list[dict[str, Any]] = [{"error": e} for e in errors]
    ok = not errors

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    with on_signals(on_signal):
        for root, targets in found.items():
            uploader = Uploader(server, UploadBook(root), policy, report=line, stop=stop)
            try:
                for target in targets:
                    if stop.is_set():
                        break
                    started, clock = time.monotonic(), time.time()
                    upload = uploader.send(target)
                    seconds = time.monotonic() - started
                    line.clear()
                    print(outcome_line(upload, seconds, clock), file=sys.stderr)
                    results.append({**upload.to_json(), "seconds": round(seconds, 2)})
                    ok = ok and upload.state in ("imported", "skipped")
            except LoginRefused as exc:
                line.clear()
                raise ConfigError(str(exc)) from exc
            finally:
                uploader.close()
    if args.json:
        print(json.dumps({"ok": ok, "uploads": results}, indent=2, ensure_ascii=False))
    if stop.is_set():
        return EXIT_INTERRUPTED
    return EXIT_OK if ok else EXIT_FAILED


def _dry_run(
    args: argparse.Namespace, project: int, *, found: dict[Path, list[Any]], errors: list[str]
) -> int:
    from segmenter.upload.run import remote_path

    plan: list[dict[str, Any]] = [{"error": e} for e in errors]
    for targets in found.values():
        for t in targets:
            remote = remote_path(t)
            size = t.archive.stat().st_size
            print(
                f"would send: {t.acquisition}: {t.archive} ({size / 1e6:.2f} MB) to "
                f"{args.url}/user_files/ as {remote}, then import {remote.removesuffix('.zip')} "
                f"into project {project} as {args.user}"
                + ("" if args.again else f" (skipped if {t.acq_id} of {t.sample_id} is there)"),
                file=sys.stderr,
            )
            plan.append(
                {
                    "acquisition": t.acquisition,
                    "archive": str(t.archive),
                    "bytes": size,
                    "sample_id": t.sample_id,
                    "acq_id": t.acq_id,
                    "objects": t.objects,
                    "path": remote,
                }
            )
    if args.json:
        print(json.dumps({"ok": not errors, "dry_run": True, "uploads": plan}, indent=2))
    return EXIT_FAILED if errors else EXIT_OK


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"upload": cmd_upload}
