"""Where the MQTT broker is and how to log in: `--broker`, then the environment
(MQTT_HOSTNAME, MQTT_PORT, credentials, TLS files), checked before any connection.
Without paho: the CLI parses `--broker` with it alone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from segmenter.errors import ConfigError

DEFAULT_PORT = 1883


def parse_broker(text: str) -> tuple[str, int | None]:
    """`HOST`, `HOST:PORT` or `[IPv6]:PORT`."""
    text = text.strip()
    host, port = text, None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not host:
        raise ConfigError(f"broker: {text!r} has no host name")
    if port is None:
        return host, None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"broker: port {port!r} must be a number between 1 and 65535")
    return host, int(port)


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    host: str = "localhost"
    port: int = DEFAULT_PORT
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    keepalive: int = 20

    @classmethod
    def from_env(cls, env: Mapping[str, str], broker: str | None = None) -> BrokerSettings:
        """`--broker` first, then MQTT_HOSTNAME/MQTT_PORT, credentials and TLS from env."""
        host = env.get("MQTT_HOSTNAME") or "localhost"
        port_text = env.get("MQTT_PORT") or str(DEFAULT_PORT)
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(f"MQTT_PORT: {port_text!r} must be a number between 1 and 65535")
        port = int(port_text)
        if broker:
            host, given = parse_broker(broker)
            port = given or port
        password = env.get("MQTT_PASSWORD") or None
        if env.get("MQTT_PASSWORD_FILE"):
            password = _read_secret(env["MQTT_PASSWORD_FILE"])
        ca, cert, key = (env.get(k) or None for k in ("MQTT_CA", "MQTT_CERT", "MQTT_KEY"))
        for name, path in (("MQTT_CA", ca), ("MQTT_CERT", cert), ("MQTT_KEY", key)):
            if path and not Path(path).is_file():
                raise ConfigError(f"{name}: {path} is not a readable file")
        if (cert is None) != (key is None):
            raise ConfigError("MQTT_CERT and MQTT_KEY go together: set both or neither")
        tls = env.get("MQTT_TLS", "").lower() in ("1", "true", "yes") or ca is not None
        return cls(host, port, env.get("MQTT_USERNAME") or None, password, tls, ca, cert, key)


def _read_secret(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"MQTT_PASSWORD_FILE: cannot read {path}: {exc.strerror}") from exc
