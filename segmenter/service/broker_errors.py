"""What a failed connection to the broker means, said once with what to change.

paho reports a wrong password as the CONNACK reason `Not authorized` followed by an
`Unspecified error` disconnect, and a plain connection to a TLS listener only as that
disconnect: these turn them into one sentence a user can act on.
"""

from __future__ import annotations

AUTH_REFUSALS = ("Not authorized", "Bad user name or password")


def refusal(reason: str, username: str | None) -> str:
    """The broker's CONNACK refusal `reason`, with what to change."""
    if reason in AUTH_REFUSALS:
        who = f"user {username!r}" if username else "no user name"
        return (
            f"the broker refused {who} ({reason}): check MQTT_USERNAME and MQTT_PASSWORD "
            "(or MQTT_PASSWORD_FILE) against the broker's password file"
        )
    return f"the broker refused the connection: {reason}"


def closed_unanswered(port: int, tls: bool) -> str:
    """The broker closed the connection before it answered ours."""
    if tls:
        return "the broker closed the connection before answering; see the broker's log"
    return (
        "the broker closed the connection before answering: if port "
        f"{port} is a TLS listener, set MQTT_TLS=1 (and MQTT_CA)"
    )


def tls_failed(reason: str, port: int) -> str:
    """A TLS handshake that failed (`reason`, from the ssl module)."""
    return f"{reason}; if port {port} is not a TLS listener, unset MQTT_TLS"
