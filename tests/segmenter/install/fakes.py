"""Stand-ins for the instrument's programs, so that `segmenter service` runs against a
fake root: a `systemctl` that logs each call and keeps unit states in a JSON file (it
answers is-enabled/is-active as systemctl does: the word on stdout, exit 0 only for
enabled/active), and a `python3` whose `-m venv` and `-m pip install` make the venv's
`bin/python` and `bin/segmenter` (real venvs and pip need the network and minutes).
Everything else is the real code: files written under the root, commands run."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

SYSTEMCTL = """\
import json, sys
from pathlib import Path
state_file, log = Path(STATE), Path(LOG)
state = json.loads(state_file.read_text())
args = sys.argv[1:]
with log.open("a") as f:
    f.write(" ".join(args) + "\\n")
verb, unit = args[0], (args[1] if len(args) > 1 else "")
unit = unit if unit.endswith(".service") or not unit else unit + ".service"
known = state.get(unit)
if verb == "is-enabled":
    if known is None:
        sys.exit(1)
    print(known["enabled"]); sys.exit(0 if known["enabled"] == "enabled" else 1)
if verb == "is-active":
    word = known["active"] if known else "inactive"
    print(word); sys.exit(0 if word == "active" else 3)
if verb == "daemon-reload":
    sys.exit(0)
if known is None:
    known = state[unit] = {"enabled": "disabled", "active": "inactive"}
if verb in ("enable", "disable"):
    known["enabled"] = verb + "d"
elif verb in ("start", "restart"):
    known["active"] = "active"
elif verb == "stop":
    known["active"] = "inactive"
else:
    print("fake systemctl: unknown verb", verb, file=sys.stderr); sys.exit(1)
state_file.write_text(json.dumps(state))
"""

PYTHON = """\
import sys
from pathlib import Path
with open(LOG, "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
if FAIL and "pip" in sys.argv:
    print("ERROR: Could not find a version that satisfies the requirement", file=sys.stderr)
    sys.exit(1)
if sys.argv[1:3] == ["-m", "venv"]:
    bin = Path(sys.argv[3]) / "bin"
    bin.mkdir(parents=True)
    (bin / "python").write_text(Path(__file__).read_text())
    (bin / "python").chmod(0o755)
elif sys.argv[1:3] == ["-m", "pip"]:
    source = Path(sys.argv[-1])  # a copy of the checkout, without its .git and .venv
    assert (source / "pyproject.toml").is_file() and not (source / ".venv").exists()
    program = Path(__file__).parent / "segmenter"
    program.write_text("#!/bin/sh\\necho segmenter $*\\n")
    program.chmod(0o755)
"""


def _script(path: Path, body: str, **values: object) -> Path:
    header = "".join(f"{k} = {v!r}\n" for k, v in values.items())
    path.write_text(f"#!{sys.executable}\n{header}{body}")
    path.chmod(0o755)
    return path


@dataclass
class FakeHost:
    root: Path
    tools: Path

    @classmethod
    def make(cls, tmp: Path, units: dict[str, tuple[str, str]], fail_pip: bool = False) -> FakeHost:
        root, tools = tmp / "root", tmp / "tools"
        root.mkdir(parents=True)
        tools.mkdir(parents=True)
        state = {u: {"enabled": e, "active": a} for u, (e, a) in units.items()}
        (tools / "state.json").write_text(json.dumps(state))
        log = str(tools / "systemctl.log")
        _script(tools / "systemctl", SYSTEMCTL, STATE=str(tools / "state.json"), LOG=log)
        _script(tools / "python3", PYTHON, LOG=str(tools / "python.log"), FAIL=fail_pip)
        return cls(root, tools)

    def args(self) -> list[str]:
        return ["--root", str(self.root), "--systemctl", str(self.tools / "systemctl")]

    def install_args(self, source: Path) -> list[str]:
        return [*self.args(), "--python", str(self.tools / "python3"), "--source", str(source)]

    def calls(self, changes_only: bool = True) -> list[str]:
        """systemctl's arguments, call by call (without the is-* questions)."""
        log = self.tools / "systemctl.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return [c for c in lines if not (changes_only and c.startswith("is-"))]

    def pythons(self) -> list[str]:
        log = self.tools / "python.log"
        return log.read_text().splitlines() if log.exists() else []

    def state(self, unit: str) -> tuple[str, str]:
        known = json.loads((self.tools / "state.json").read_text()).get(unit)
        return (known["enabled"], known["active"]) if known else ("not-found", "inactive")

    def clear_log(self) -> None:
        for name in ("systemctl.log", "python.log"):
            (self.tools / name).unlink(missing_ok=True)
