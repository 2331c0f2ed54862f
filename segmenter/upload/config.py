"""Where to send and as whom: flags first, else the environment (ECOTAXA_URL,
ECOTAXA_USER, ECOTAXA_PROJECT; the password from ECOTAXA_PASSWORD or a password file,
never from a flag: a flag's value shows in `ps`). Each missing piece is one ConfigError."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from segmenter.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Server:
    """An EcoTaxa server, a user of it and the project to import into."""

    url: str
    user: str
    password: str = field(repr=False)  # never in a log line
    project: int


def project_number(text: str | None) -> int:
    if not text:
        raise ConfigError("give --project ID (or set ECOTAXA_PROJECT)")
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"project {text!r}: EcoTaxa's project number is a whole number")
    return value


def read_password(environ: Mapping[str, str], password_file: Path | None) -> str:
    """The first line of `password_file` (or $ECOTAXA_PASSWORD_FILE), else $ECOTAXA_PASSWORD."""
    path = password_file or (Path(p) if (p := environ.get("ECOTAXA_PASSWORD_FILE")) else None)
    if path is not None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read the password file {path}: {exc.strerror}") from exc
        if lines and lines[0]:
            return lines[0]
        raise ConfigError(f"{path} is empty: put the password on its first line")
    password = environ.get("ECOTAXA_PASSWORD")
    if not password:
        raise ConfigError("give the password in ECOTAXA_PASSWORD or --password-file FILE")
    return password


def server_settings(
    environ: Mapping[str, str],
    *,
    url: str | None = None,
    user: str | None = None,
    project: str | None = None,
    password_file: Path | None = None,
) -> Server:
    url = url or environ.get("ECOTAXA_URL")
    user = user or environ.get("ECOTAXA_USER")
    if not url:
        raise ConfigError("give --url (EcoTaxa's API root) or set ECOTAXA_URL")
    if not user:
        raise ConfigError("give --user or set ECOTAXA_USER")
    number = project_number(project or environ.get("ECOTAXA_PROJECT"))
    return Server(url, user, read_password(environ, password_file), number)
