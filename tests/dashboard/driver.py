"""The PlanktoScope dashboard's own code (../shared/dashboard-harness: its Node-RED flows
and Vue templates, run verbatim) driving `segmenter serve`, for the scenarios of SPEC 4.

`Session` starts a private mosquitto, `segmenter serve` with a real 2-worker pool, and
the harness's Node-RED for one dashboard flavour (D: the current dashboard, with its
queue; F: the older one, without); `h(...)` runs a harness.py verb, `digest()` says what
the dashboard concluded. The harness needs Node-RED and the upstream flows in its home
(`scripts/setup.sh --with-dashboard` runs its build.sh); `missing()` says what is not
there.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.segmenter.service.harness import Broker, free_port

REPO = Path(__file__).resolve().parents[2]
DH = REPO.parent / "shared" / "dashboard-harness"
HOME = Path(
    os.environ.get("DASHBOARD_HARNESS_HOME") or Path.home() / ".cache" / "dashboard-harness"
)
FLOW_VARIABLES = {"D": ("FLOWS_D", "DASHBOARD_GIT"), "F": ("FLOWS_F", "PLANKTOSCOPE_GIT")}


def missing(flavor: str) -> str | None:
    """Why the harness cannot run flavour `flavor` here, or None."""
    if not (DH / "harness.py").is_file():
        return f"no dashboard harness at {DH} (../shared beside the repository)"
    if not (HOME / "node_modules" / "node-red" / "red.js").is_file():
        return f"no Node-RED in {HOME}: run scripts/setup.sh --with-dashboard"
    given = any(os.environ.get(v) for v in FLOW_VARIABLES[flavor])
    if not given and not (HOME / "upstream" / f"flows_{flavor}.json").is_file():
        file_var, git_var = FLOW_VARIABLES[flavor]
        return (
            f"no dashboard flows for flavour {flavor} in {HOME / 'upstream'}: set {git_var} "
            f"(a git directory of the upstream repository) or {file_var} and run "
            "scripts/setup.sh --with-dashboard (see ../shared/dashboard-harness/README.md)"
        )
    return None


def _load_harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dashboard_harness", DH / "harness.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Session:
    """mosquitto + `segmenter serve` + the dashboard's Node-RED, for one flavour."""

    def __init__(
        self, folder: Path, data_root: Path, flavor: str = "D", compat: str = "2026-06"
    ) -> None:
        self.folder, self.data_root, self.flavor = folder, data_root, flavor
        self.compat = compat  # the service's output contract
        self.H = _load_harness()
        self.broker = Broker(folder)
        self.outfile = folder / f"dashboard_{flavor}.jsonl"
        self.http = free_port()
        self.procs: list[subprocess.Popen[bytes]] = []

    def _start(self, command: list[str], log: str, **env: str) -> subprocess.Popen[bytes]:
        with open(self.folder / log, "ab") as out:
            proc = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=out, env=os.environ | env)
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        self.broker.start()
        serve = [sys.executable, "-m", "segmenter", "-v", "serve"]
        serve += ["--broker", self.broker.address, "--data-root", str(self.data_root)]
        self._start([*serve, "--workers", "2", "--compat", self.compat], "serve.log")
        self._start(
            [str(DH / "run_harness.sh"), str(self.broker.port), str(self.outfile)],
            "node-red.log",
            HARNESS_FLAVOR=self.flavor,
            HARNESS_HTTP_PORT=str(self.http),
            HARNESS_RUNDIR=str(self.folder / "run"),
        )
        rc = self.h("wait-ready", "--timeout", "90")
        assert rc == 0, f"the harness did not get ready: {self.log('node-red.log')}"

    def h(self, *argv: object) -> int:
        """One harness.py verb (`harness.py -h` lists them); its output in `last_output`."""
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            rc = self.H.main(["--port", str(self.http), *[str(a) for a in argv]])
        self.last_output = buf.getvalue()
        return int(rc)

    def state(self) -> dict[str, Any]:
        return dict(self.H.state(type("Args", (), {"port": self.http})()))

    def wait(self, predicate: Any, timeout: float, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state()
            if predicate(state):
                return state
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def records(self) -> list[dict[str, Any]]:
        """Every record the harness wrote (kinds: ../shared/dashboard-harness/README.md)."""
        return list(self.H.load(str(self.outfile)))

    def digest(self) -> dict[str, Any]:
        return dict(self.H.digest(self.records(), self.flavor))

    def summary(self) -> str:
        out = self.folder / "summary.txt"
        self.h("summary", self.outfile, "--out", out)
        return out.read_text(encoding="utf-8") if out.exists() else self.last_output

    def log(self, name: str) -> str:
        path = self.folder / name
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.broker.stop()


def results(digest: dict[str, Any]) -> list[str]:
    """Flavour D: the status of every item of the dashboard's queue, in order."""
    return [r.get("status") for r in (digest.get("final_queue") or {}).get("results") or []]


def frames_shown(digest: dict[str, Any]) -> list[tuple[int, int]]:
    """(index, total) of every progress the Details panel drew."""
    return [(d["index"], d["total"]) for d in digest["details"] if d.get("state") == "progress"]
