"""Where the install puts things, all under one root prefix (`/` on the instrument, a
temporary folder in tests), and the record it keeps of what it found and did."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

OLD_UNIT = "planktoscope-org.segmenter.service"
UNIT = "segmenter.service"
# where systemd looks for a unit file, first match wins (systemd.unit(5))
UNIT_DIRS = ("/etc/systemd/system", "/usr/local/lib/systemd/system", "/lib/systemd/system",
             "/usr/lib/systemd/system")  # fmt: skip
ROOT = Path("/")
VENV = PurePosixPath("/opt/segmenter/venv")
UNIT_FILE = PurePosixPath("/etc/systemd/system") / UNIT
SETTINGS = PurePosixPath("/etc/segmenter/segmenter.env")
LINK = PurePosixPath("/usr/local/bin/segmenter")
RECORD = PurePosixPath("/var/lib/segmenter/install.json")  # what install found and did


@dataclass(frozen=True, slots=True)
class Layout:
    """The paths as the instrument sees them (`venv`, `unit`...) and, through `host()`,
    where they are written under `root`."""

    root: Path = ROOT
    venv: PurePosixPath = VENV
    unit: PurePosixPath = UNIT_FILE
    settings: PurePosixPath = SETTINGS
    link: PurePosixPath = LINK
    record: PurePosixPath = RECORD

    def host(self, path: PurePosixPath | str) -> Path:
        """`path` (absolute, as the instrument sees it) under the root prefix."""
        return self.root / PurePosixPath(path).relative_to("/")

    @property
    def program(self) -> PurePosixPath:
        return self.venv / "bin" / "segmenter"

    def old_unit_file(self) -> Path | None:
        """The old segmenter's unit file, where systemd would find it, or None."""
        for folder in UNIT_DIRS:
            path = self.host(PurePosixPath(folder) / OLD_UNIT)
            if path.is_file():
                return path
        return None


@dataclass(slots=True)
class Record:
    """What install found and did, read back by upgrade and uninstall: the old unit's
    state before we touched it (`systemctl is-enabled` / `is-active` words), and the
    source the venv was installed from."""

    source: str
    version: str
    old_enabled: str = "not-found"
    old_active: str = "inactive"
    old_unit_file: str | None = None
    history: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, layout: Layout) -> Record | None:
        path = layout.host(layout.record)
        if not path.exists():
            return None
        data: dict[str, Any] = json.loads(path.read_text())
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def text(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"
