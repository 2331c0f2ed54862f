"""The old unit read for what our service must take over (data root, broker, user), and
our unit and settings file written from the repository's systemd/ templates."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from segmenter.install.layout import Layout

DEFAULT_DATA_ROOT = "/home/pi/data"  # the old unit's, and PlanktoScope OS's


@dataclass(frozen=True, slots=True)
class OldService:
    """What the old segmenter ran with: its environment, user and group."""

    data_root: str = DEFAULT_DATA_ROOT
    broker_host: str = "localhost"  # the old segmenter reads MQTT_HOSTNAME; port 1883 always
    user: str = "pi"
    group: str = "pi"


def directives(text: str) -> list[tuple[str, str]]:
    """`Key=value` lines of a unit or environment file, in order (comments skipped)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, _, value = line.partition("=")
            out.append((key.strip(), value.strip()))
    return out


def environment_file(text: str) -> dict[str, str]:
    """An EnvironmentFile's variables (quotes removed as systemd does)."""
    env = {}
    for key, value in directives(text):
        words = shlex.split(value) if value else [""]
        env[key] = words[0] if words else ""
    return env


def read_old_service(layout: Layout, unit_file: Path | None) -> OldService:
    """The old unit's settings, its drop-ins (`<unit>.d/*.conf`) applied in order."""
    if unit_file is None:
        return OldService()
    texts = [unit_file.read_text()]
    drop_ins = unit_file.with_name(unit_file.name + ".d")
    texts += [p.read_text() for p in sorted(drop_ins.glob("*.conf"))]
    env: dict[str, str] = {}
    values: dict[str, str] = {}
    for key, value in (d for text in texts for d in directives(text)):
        if key == "Environment":
            if not value:
                env.clear()  # an empty assignment resets the list
            for word in shlex.split(value):
                name, _, val = word.partition("=")
                env[name] = val
        elif key == "EnvironmentFile":
            path = layout.host(value.lstrip("-"))
            if path.is_file():
                env |= environment_file(path.read_text())
        else:
            values[key] = value
    if "PLANKTOSCOPE_DATA_PATH" in env:
        data_root = env["PLANKTOSCOPE_DATA_PATH"]
    elif "WorkingDirectory" in values:  # main.py's default: ../data beside its folder
        data_root = str(PurePosixPath(values["WorkingDirectory"]).parent / "data")
    else:
        data_root = DEFAULT_DATA_ROOT
    return OldService(
        data_root=data_root,
        broker_host=env.get("MQTT_HOSTNAME", "localhost"),
        user=values.get("User", "pi"),
        group=values.get("Group", values.get("User", "pi")),
    )


def _set(text: str, values: dict[str, str]) -> str:
    """`text` with the value of each uncommented `Key=` line of `values` replaced."""
    lines = []
    for line in text.splitlines():
        key = line.partition("=")[0].strip()
        if "=" in line and not line.lstrip().startswith("#") and key in values:
            line = f"{key}={values[key]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


HEADER = """\
# Written by `segmenter service install` ({version}): `segmenter service upgrade` writes
# it again. Settings (data root, broker, workers) go in {settings}.
"""


def render_unit(template: str, layout: Layout, *, data_root: str, user: str, group: str,
                version: str) -> str:  # fmt: skip
    """Our unit: the template with this install's program, settings file, data root (the
    only folder it may write) and user."""
    exec_start = next(v for k, v in directives(template) if k == "ExecStart")
    args = exec_start.split(maxsplit=1)[1:]
    values = {
        "ExecStart": " ".join([str(layout.program), *args]),
        "EnvironmentFile": str(layout.settings),
        "ReadWritePaths": data_root,
        "User": user,
        "Group": group,
    }
    return HEADER.format(version=version, settings=layout.settings) + _set(template, values)


def render_settings(template: str, old: OldService) -> str:
    """The settings file: the template with the old service's data root and broker."""
    values = {"PLANKTOSCOPE_DATA_PATH": old.data_root, "MQTT_HOSTNAME": old.broker_host}
    return _set(template, values)
