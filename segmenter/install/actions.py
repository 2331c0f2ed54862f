"""install, upgrade, uninstall and status: idempotent sequences of Host steps. The old
unit is only stopped and disabled (its file is never edited), its state recorded before
the first change, so that uninstall puts it back as it was."""

from __future__ import annotations

import shutil
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from segmenter.install.host import Host, InstallError
from segmenter.install.layout import OLD_UNIT, UNIT, Record
from segmenter.install.units import (
    DEFAULT_DATA_ROOT,
    environment_file,
    read_old_service,
    render_settings,
    render_unit,
)

NOT_COPIED = (
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    "demo-data",
)
OLD, OURS = OLD_UNIT.removesuffix(".service"), UNIT.removesuffix(".service")
CHECK = f"""\
check it:
  segmenter service status          which segmenter answers the dashboard
  journalctl -u {OURS} -f        the service's log
  segmenter send queue              its queue, over MQTT
go back to the old segmenter: sudo segmenter service uninstall"""


@dataclass(frozen=True, slots=True)
class Source:
    """A checkout of this project: what pip installs, and the unit templates."""

    path: Path

    @classmethod
    def find(cls, explicit: Path | None, record: Record | None) -> Source:
        if explicit is not None:
            if not (explicit / "systemd" / UNIT).is_file():
                raise InstallError(f"{explicit} is not a checkout of this project (no systemd/)")
            return cls(explicit.resolve())
        here = Path(__file__).resolve().parents[2]
        for candidate in ([Path(record.source)] if record else []) + [here]:
            if (candidate / "systemd" / UNIT).is_file():
                return cls(candidate)
        raise InstallError("no checkout of this project to install from: pass --source DIR")

    @property
    def version(self) -> str:
        data = tomllib.loads((self.path / "pyproject.toml").read_text())
        return str(data["project"]["version"])

    def template(self, name: str) -> str:
        return (self.path / "systemd" / name).read_text()


@dataclass(frozen=True, slots=True)
class Options:
    source: Path | None = None
    python: str = "python3"  # makes the venv
    pip_args: tuple[str, ...] = ()
    purge: bool = False  # uninstall: the settings file too


def _pip(host: Host, source: Source, options: Options) -> None:
    """pip install from a copy of the clone: a build as root in the clone itself would
    leave root-owned build/ and egg-info folders there, which its owner cannot update."""
    python = host.layout.host(host.layout.venv / "bin" / "python")
    command = [str(python), "-m", "pip", "install", "--upgrade", *options.pip_args]
    with tempfile.TemporaryDirectory(prefix="segmenter-install-") as tmp:
        copy = Path(tmp) / "source"
        if not host.dry_run:
            shutil.copytree(source.path, copy, ignore=shutil.ignore_patterns(*NOT_COPIED))
        why = f"install {source.path} into the venv (from a copy; minutes on a Pi)"
        host.run([*command, str(copy)], why)


def _settings_text(host: Host, source: Source) -> str:
    """The settings file: the one there (kept), else written from the old unit's values."""
    layout = host.layout
    path = layout.host(layout.settings)
    if path.is_file():
        host.say(f"  {layout.settings} kept (your settings)")
        return path.read_text()
    old = read_old_service(layout, layout.old_unit_file())
    text = render_settings(source.template("segmenter.env"), old)
    host.write(layout.settings, text, mode=0o640, group=old.group)
    return text


def _write_unit(host: Host, source: Source, settings: str) -> bool:
    """Our unit (data root from the settings file) and that data root; True if changed."""
    layout = host.layout
    data_root = environment_file(settings).get("PLANKTOSCOPE_DATA_PATH", DEFAULT_DATA_ROOT)
    old = read_old_service(layout, layout.old_unit_file())
    unit = render_unit(source.template(UNIT), layout, data_root=data_root, user=old.user,
                       group=old.group, version=source.version)  # fmt: skip
    host.make_folder(PurePosixPath(data_root), user=old.user, group=old.group)
    before, host.changed = host.changed, False
    host.write(layout.unit, unit)
    changed, host.changed = host.changed, before or host.changed
    return changed


def install(host: Host, options: Options) -> int:
    layout = host.layout
    record = Record.load(layout)
    source = Source.find(options.source, record)
    host.say(f"installing planktoscope-segmenter {source.version} from {source.path}")
    if record is None:  # the old unit as it was before we changed anything
        old_file = layout.old_unit_file()
        record = Record(str(source.path), source.version, host.query("is-enabled", OLD_UNIT),
                        host.query("is-active", OLD_UNIT),
                        str(old_file.relative_to(layout.root)) if old_file else None)  # fmt: skip
    record.history.append(f"install {source.version}")
    if not host.dry_run:
        layout.host(layout.record).parent.mkdir(parents=True, exist_ok=True)
        layout.host(layout.record).write_text(record.text())
    old = read_old_service(layout, layout.old_unit_file())
    host.say(
        f"  the old segmenter {OLD}: {record.old_enabled}, {record.old_active} (data root "
        f"{old.data_root}, broker {old.broker_host}:1883)"
    )
    if not layout.host(layout.venv / "bin" / "python").exists():
        host.run([options.python, "-m", "venv", str(layout.host(layout.venv))], "create the venv")
    if not layout.host(layout.program).exists():
        _pip(host, source, options)
    else:
        host.say(f"  {layout.program} is installed (`segmenter service upgrade` reinstalls)")
    host.link(layout.link, layout.program)
    changed = _write_unit(host, source, _settings_text(host, source))
    _stop_old(host)
    if changed:
        host.systemctl("daemon-reload")
    if host.query("is-enabled", UNIT) != "enabled":
        host.systemctl("enable", UNIT)
    if host.query("is-active", UNIT) != "active":
        host.systemctl("start", UNIT)
    elif changed:
        host.systemctl("restart", UNIT)
    host.say(("dry run: nothing was changed" if host.dry_run else "installed") + "\n" + CHECK)
    return 0


def _stop_old(host: Host) -> None:
    active = host.query("is-active", OLD_UNIT) == "active"
    enabled = host.query("is-enabled", OLD_UNIT) == "enabled"
    if active:
        host.systemctl("stop", OLD_UNIT)
    if enabled:
        host.systemctl("disable", OLD_UNIT)
    if active or enabled:
        verb = "would be" if host.dry_run else "is"
        host.say(f"  the old segmenter ({OLD}) {verb} stopped and disabled: both would "
                 "answer the dashboard; `segmenter service uninstall` restores it")  # fmt: skip


def upgrade(host: Host, options: Options) -> int:
    layout = host.layout
    record = Record.load(layout)
    if record is None:
        raise InstallError("not installed here: run `sudo segmenter service install` first")
    source = Source.find(options.source, record)
    host.say(f"upgrading {record.version} to {source.version} from {source.path}")
    was_active = host.query("is-active", UNIT) == "active"
    if was_active:  # the running item stops like a `stop`: committed frames kept, resumed
        host.systemctl("stop", UNIT)
    try:
        _pip(host, source, options)
    except InstallError:
        if was_active:
            host.systemctl("start", UNIT)  # the previous version, as it was
        raise
    settings = layout.host(layout.settings)
    text = settings.read_text() if settings.is_file() else _settings_text(host, source)
    if _write_unit(host, source, text):
        host.systemctl("daemon-reload")
    _stop_old(host)  # an image update may have enabled it again
    if was_active or host.query("is-enabled", UNIT) == "enabled":
        host.systemctl("start", UNIT)
    record.source, record.version = str(source.path), source.version
    record.history.append(f"upgrade {source.version}")
    if not host.dry_run:
        layout.host(layout.record).write_text(record.text())
    host.say(f"upgraded: {layout.settings}, the queue and the journals under the data root "
             f"are kept\n{CHECK}")  # fmt: skip
    return 0


def uninstall(host: Host, options: Options) -> int:
    layout = host.layout
    record = Record.load(layout)
    if record is None and not layout.host(layout.unit).exists():
        host.say("not installed here: nothing to do")
        return 0
    host.say(f"uninstalling: {OURS} removed, {OLD} restored as it was")
    if host.query("is-active", UNIT) == "active":
        host.systemctl("stop", UNIT)
    if host.query("is-enabled", UNIT) == "enabled":
        host.systemctl("disable", UNIT)
    if layout.host(layout.unit).exists():
        host.remove(layout.unit)
        host.systemctl("daemon-reload")
    link = layout.host(layout.link)
    if link.is_symlink() and link.readlink() == Path(layout.program):
        host.remove(layout.link)
    host.remove(layout.venv, tree=True)
    if options.purge:
        host.remove(layout.settings)
    elif layout.host(layout.settings).exists():
        host.say(f"  {layout.settings} kept (--purge removes it)")
    if record is not None:
        if record.old_enabled == "enabled" and host.query("is-enabled", OLD_UNIT) != "enabled":
            host.systemctl("enable", OLD_UNIT)
        if record.old_active == "active" and host.query("is-active", OLD_UNIT) != "active":
            host.systemctl("start", OLD_UNIT)
        host.say(f"  {OLD} is back as it was: {record.old_enabled}, {record.old_active}")
        host.remove(layout.record)
    host.say("dry run: nothing was changed" if host.dry_run else "uninstalled")
    return 0


def status(host: Host) -> int:
    """Which segmenter answers the dashboard: 0 when ours alone, 1 otherwise."""
    layout = host.layout
    record = Record.load(layout)
    ours = (host.query("is-active", UNIT), host.query("is-enabled", UNIT))
    theirs = (host.query("is-active", OLD_UNIT), host.query("is-enabled", OLD_UNIT))
    where = f"{record.version} from {record.source}" if record else "not installed by us"
    host.say(f"{OURS} (this segmenter): {ours[0]}, {ours[1]}; {where}")
    before = f" (before install: {record.old_enabled}, {record.old_active})" if record else ""
    host.say(f"{OLD} (the PlanktoScope's): {theirs[0]}, {theirs[1]}{before}")
    settings = layout.host(layout.settings)
    if settings.is_file():
        env = environment_file(settings.read_text())
        host.say(
            f"data root {env.get('PLANKTOSCOPE_DATA_PATH', DEFAULT_DATA_ROOT)}, broker "
            f"{env.get('MQTT_HOSTNAME', 'localhost')}:{env.get('MQTT_PORT', '1883')} "
            f"({layout.settings})"
        )
    answering = [name for name, state in ((OURS, ours), (OLD, theirs)) if state[0] == "active"]
    if answering == [OURS]:
        host.say(f"the dashboard is answered by this segmenter ({OURS})")
        return 0
    if not answering:
        host.say("nothing answers the dashboard: no segmenter service is running")
    elif answering == [OLD]:
        host.say(f"the dashboard is answered by the old segmenter ({OLD})")
    else:
        host.say("both answer the dashboard (each command runs twice): `sudo systemctl "
                 f"disable --now {OLD}` or `sudo segmenter service install`")  # fmt: skip
    return 1
