"""A stale shared-memory segment another user owns (a killed `sudo segmenter segment`
leaves one the service's user cannot remove) neither stops the sweep nor collides with
the names this process gives its own segments (issue 21 point 5). Reproduced for real:
root leaves the segments, the sweep runs in a process that became user `nobody`."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from segmenter.engine import shared_memory as shm

ENV = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}

AS_NOBODY = """
import logging, os, subprocess, sys
from multiprocessing import resource_tracker
from pathlib import Path
from segmenter.engine import shared_memory as shm

logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
resource_tracker.ensure_running()  # as root: its program is not nobody's to run
child = subprocess.Popen(["true"]); child.wait()
stale = [f"{shm.PREFIX}{child.pid}_0", f"{shm.PREFIX}{os.getpid()}_0"]  # dead pid, reused pid
for name in stale:
    (shm.SHM_DIR / name).write_bytes(bytes(4096))
print(" ".join(stale), flush=True)
os.setgid(int(sys.argv[1])); os.setuid(int(sys.argv[2]))
shm.sweep_stale()
shm.sweep_stale()  # a second start: nothing more logged
with shm.shared_block((16,), "uint8") as block:
    print(block.ref.name, flush=True)
"""


def test_a_stale_segment_of_another_user_does_not_block_the_start() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to leave a segment another user cannot remove")
    nobody = pwd.getpwnam("nobody")
    proc = subprocess.run(
        [sys.executable, "-c", AS_NOBODY, str(nobody.pw_gid), str(nobody.pw_uid)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = proc.stdout.split("\n")
    stale = lines[0].split()
    try:
        assert proc.returncode == 0, proc.stderr
        assert lines[1].startswith(shm.PREFIX) and lines[1] not in stale
        warnings = [line for line in proc.stderr.splitlines() if line.startswith("WARNING")]
        # only the test's own names: other runs on this machine may have left theirs
        warnings = [w for w in warnings if any(name in w for name in stale)]
        assert len(warnings) == 1, proc.stderr
        assert "cannot remove" in warnings[0] and stale[0] in warnings[0]
    finally:
        for name in stale:
            (shm.SHM_DIR / name).unlink(missing_ok=True)
