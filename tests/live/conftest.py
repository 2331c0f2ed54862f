"""The live tests reuse the service fixtures (a private mosquitto per test)."""

from tests.service.conftest import broker  # noqa: F401
