"""Broker settings from flags and environment; credentials and TLS against a real broker."""

from __future__ import annotations

import getpass
import logging
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from segmenter.errors import ConfigError
from segmenter.service.broker import BrokerSettings, parse_broker
from segmenter.service.mqtt import MqttTransport
from tests.segmenter.service.harness import MOSQUITTO, free_port


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pi.local", ("pi.local", None)),
        ("pi.local:1884", ("pi.local", 1884)),
        ("[::1]:8883", ("::1", 8883)),
        ("::1", ("::1", None)),
    ],
)
def test_parse_broker(text: str, expected: tuple[str, int | None]) -> None:
    assert parse_broker(text) == expected


@pytest.mark.parametrize("text", [":1883", "host:port", "host:0", "host:70000"])
def test_parse_broker_refuses(text: str) -> None:
    with pytest.raises(ConfigError, match="broker"):
        parse_broker(text)


def test_settings_from_environment_and_flag(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    env = {
        "MQTT_HOSTNAME": "broker.lan",
        "MQTT_PORT": "8883",
        "MQTT_USERNAME": "seg",
        "MQTT_PASSWORD_FILE": str(secret),
        "MQTT_CA": str(ca),
    }
    settings = BrokerSettings.from_env(env)
    assert settings == BrokerSettings("broker.lan", 8883, "seg", "s3cret", True, str(ca))
    assert BrokerSettings.from_env(env, "other:1999").host == "other"
    assert BrokerSettings.from_env(env, "other").port == 8883
    assert BrokerSettings.from_env({"MQTT_TLS": "1"}).tls


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"MQTT_PORT": "x"}, "MQTT_PORT"),
        ({"MQTT_CA": "/nonexistent/ca.crt"}, "MQTT_CA"),
        ({"MQTT_PASSWORD_FILE": "/nonexistent/password"}, "MQTT_PASSWORD_FILE"),
    ],
)
def test_bad_environment_is_named(env: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        BrokerSettings.from_env(env)


def test_a_certificate_needs_its_key(tmp_path: Path) -> None:
    cert = tmp_path / "c.crt"
    cert.write_text("x")
    with pytest.raises(ConfigError, match="MQTT_KEY"):
        BrokerSettings.from_env({"MQTT_CERT": str(cert)})


def _broker(tmp_path: Path, lines: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    conf = tmp_path / "secure.conf"
    # `user`: mosquitto started as root would switch to user mosquitto, who cannot read
    # the files under pytest's private tmp_path
    head = [f"listener {port} 127.0.0.1", "persistence false", f"user {getpass.getuser()}"]
    conf.write_text("\n".join([*head, *lines]) + "\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    return proc, port


def _connects(settings: BrokerSettings, timeout: float = 5.0) -> bool:
    transport = MqttTransport(settings, f"t-{time.time_ns()}", will=False)
    transport.start()
    try:
        return transport.wait_connected(timeout)
    finally:
        transport.close(dead=False)


def _secure_broker(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    """A mosquitto asking for user `seg`, password `pw`, over TLS: (process, port, CA)."""
    if not Path(MOSQUITTO).exists() or not shutil.which("openssl"):
        pytest.skip("mosquitto or openssl is not installed")
    passwords = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "seg", "pw"], check=True)
    ca_key, ca, key, csr, cert = (
        tmp_path / n for n in ("ca.key", "ca.crt", "s.key", "s.csr", "s.crt")
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca), "-subj", "/CN=test-ca")
    run("req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    ext = tmp_path / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    run(
        "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext),
    )  # fmt: skip
    proc, port = _broker(
        tmp_path,
        [
            "allow_anonymous false",
            f"password_file {passwords}",
            f"cafile {ca}",
            f"certfile {cert}",
            f"keyfile {key}",
        ],
    )
    return proc, port, ca


@pytest.mark.mqtt
def test_username_password_and_tls(tmp_path: Path) -> None:
    proc, port, ca = _secure_broker(tmp_path)
    try:
        good = BrokerSettings("127.0.0.1", port, "seg", "pw", True, str(ca))
        assert _connects(good)
        assert not _connects(BrokerSettings("127.0.0.1", port, "seg", "wrong", True, str(ca)), 1)
        assert not _connects(BrokerSettings("127.0.0.1", port, "seg", "pw"), 1)  # no TLS
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.mark.mqtt
@pytest.mark.parametrize(
    ("tls", "password", "fix"),
    [(True, "wrong", "MQTT_PASSWORD"), (False, "pw", "MQTT_TLS")],
    ids=["wrong password", "plain to a TLS port"],
)
def test_a_broker_refusal_is_said_once_with_its_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, tls: bool, password: str, fix: str
) -> None:
    """A wrong password, or a plain connection to a TLS listener: one warning that says
    what is wrong and how to fix it, then quiet retries (was: `Not authorized` once, then
    `lost the MQTT broker ... (Unspecified error)` at every retry; a plain connection to
    a TLS port said only `Unspecified error`)."""
    proc, port, ca = _secure_broker(tmp_path)
    settings = BrokerSettings("127.0.0.1", port, "seg", password, tls, str(ca) if tls else None)
    transport = MqttTransport(settings, f"t-{time.time_ns()}", will=False)
    try:
        with caplog.at_level(logging.INFO, "segmenter.service.mqtt"):
            transport.start()
            time.sleep(4.5)  # retries after 1, 2 s...
            assert not transport.connected.is_set()
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1, warnings
        assert fix in warnings[0], warnings[0]
    finally:
        transport.close(dead=False)
        proc.terminate()
        proc.wait(5)


def test_transport_close_without_a_broker_returns(tmp_path: Path) -> None:
    transport = MqttTransport(BrokerSettings("127.0.0.1", free_port()), "nobody")
    transport.start()
    done = threading.Event()

    def close() -> None:
        transport.close()
        done.set()

    threading.Thread(target=close, daemon=True).start()
    assert done.wait(10)
