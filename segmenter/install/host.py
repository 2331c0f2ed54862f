"""The steps of an install, each printed as it is taken (or, with --dry-run, as it would
be), on a host whose every path sits under `Layout.root` and whose `systemctl` is a
command given (a stand-in in tests)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import TextIO

from segmenter.errors import ConfigError
from segmenter.install.layout import Layout
from streamer.files import atomic_write


class InstallError(ConfigError):
    """A step failed: the message names it and what to do."""


class Host:
    def __init__(
        self, layout: Layout, out: TextIO, *, systemctl: Sequence[str], dry_run: bool
    ) -> None:
        self.layout = layout
        self.out = out
        self.systemctl_command = list(systemctl)
        self.dry_run = dry_run
        self.changed = False
        # owners are set on the instrument itself only (a fake root has no user pi)
        self.set_owners = layout.root == Path("/") and os.geteuid() == 0

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _step(self, text: str) -> bool:
        """Print a step; True when it is to be taken (not a dry run)."""
        self.say(("  would " if self.dry_run else "  ") + text)
        self.changed = True
        return not self.dry_run

    # -- systemctl --------------------------------------------------------------------
    def query(self, verb: str, unit: str) -> str:
        """`systemctl is-enabled|is-active UNIT`'s word (asked even in a dry run: it
        changes nothing); `not-found` when systemctl says nothing."""
        run = subprocess.run(
            [*self.systemctl_command, verb, unit], capture_output=True, text=True, check=False
        )
        words = run.stdout.split()
        return words[0] if words else "not-found"

    def systemctl(self, *args: str) -> None:
        command = [*self.systemctl_command, *args]
        if self._step("$ " + shlex.join(["systemctl", *args])):
            self._run(command)

    def run(self, command: Sequence[str], why: str) -> None:
        if self._step(f"{why}: $ {shlex.join(command)}"):
            self._run(command)

    def _run(self, command: Sequence[str]) -> None:
        try:
            run = subprocess.run(command, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise InstallError(f"cannot run {command[0]}: {exc.strerror}") from exc
        if run.returncode != 0:
            last = (run.stderr.strip() or run.stdout.strip()).splitlines()[-1:] or ["no output"]
            raise InstallError(f"`{shlex.join(command)}` failed ({run.returncode}): {last[0]}")

    # -- files ------------------------------------------------------------------------
    def write(
        self, path: PurePosixPath, text: str, *, mode: int = 0o644, group: str | None = None
    ) -> None:
        """Write `path` unless it already holds `text` with `mode`."""
        target = self.layout.host(path)
        same = target.is_file() and target.read_text() == text
        if same and target.stat().st_mode & 0o777 == mode:
            self.say(f"  {path} is up to date")
            return
        if not self._step(f"write {path} (mode {mode:04o}{', group ' + group if group else ''})"):
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, text.encode(), durable=True)
        os.chmod(target, mode)
        if group and self.set_owners:
            self._chown(target, None, group)

    def link(self, path: PurePosixPath, to: PurePosixPath) -> None:
        target = self.layout.host(path)
        if target.is_symlink() and os.readlink(target) == str(to):
            self.say(f"  {path} -> {to} is in place")
            return
        if target.exists() and not target.is_symlink():
            raise InstallError(f"{path} exists and is not a link: move it away, then run again")
        if self._step(f"link {path} -> {to}"):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            target.symlink_to(to)

    def remove(self, path: PurePosixPath, *, tree: bool = False) -> None:
        target = self.layout.host(path)
        if not (target.exists() or target.is_symlink()):
            return
        if self._step(f"remove {path}"):
            if tree and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()

    def make_folder(self, path: PurePosixPath, *, user: str, group: str) -> None:
        target = self.layout.host(path)
        if target.is_dir():
            return
        if self._step(f"create {path} (owner {user}:{group})"):
            target.mkdir(parents=True)
            if self.set_owners:
                self._chown(target, user, group)

    def _chown(self, path: Path, user: str | None, group: str) -> None:
        try:
            shutil.chown(path, user, group)
        except (LookupError, OSError) as exc:  # no such user or group here
            raise InstallError(f"cannot give {path} to {user or ''}:{group}: {exc}") from exc
