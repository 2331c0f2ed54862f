"""A command run in a pseudo-terminal of a given size, its output replayed on a VT100
screen (pyte), as a user at that terminal would see it."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
from collections.abc import Sequence
from dataclasses import dataclass

import pyte

CLI = [sys.executable, "-m", "segmenter"]


@dataclass
class Screen:
    raw: str  # everything written, escape sequences included
    lines: list[str]  # the screen's lines once it ended, trailing blanks removed
    wrapped: int  # writes that went past the last column onto the next line
    code: int


def run_in_terminal(
    args: Sequence[str], *, columns: int, rows: int = 200, interrupt_at: str | None = None
) -> Screen:
    """Run `segmenter ARGS` with stdout and stderr on a pty of `columns` x `rows`; a
    Ctrl-C (SIGINT) once the output matches the regular expression `interrupt_at`."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = os.environ | {"COLUMNS": str(columns), "LINES": str(rows), "TERM": "xterm"}
    proc = subprocess.Popen(
        [*CLI, *args], stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env,
        close_fds=True,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
        if interrupt_at and re.search(interrupt_at, b"".join(chunks).decode("utf-8", "replace")):
            proc.send_signal(signal.SIGINT)
            interrupt_at = None
    code = proc.wait(timeout=600)
    os.close(leader)
    raw = b"".join(chunks).decode("utf-8", "replace")
    screen = WrapCountingScreen(columns, rows)
    pyte.Stream(screen).feed(raw.replace("\n", "\r\n") if "\r\n" not in raw else raw)
    lines = [line.rstrip() for line in screen.display]
    while lines and not lines[-1]:
        lines.pop()
    return Screen(raw, lines, screen.wrapped, code)


class WrapCountingScreen(pyte.Screen):
    """A screen that counts the characters drawn past its last column (a wrap)."""

    def __init__(self, columns: int, lines: int) -> None:
        super().__init__(columns, lines)
        self.wrapped = 0

    def draw(self, data: str) -> None:
        for char in data:
            if self.cursor.x >= self.columns:
                self.wrapped += 1
            super().draw(char)
