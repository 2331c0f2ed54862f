"""The live tests reuse the service fixtures (a private mosquitto per test, the service
in-process, synthetic acquisitions made once per session)."""

from tests.segmenter.service.conftest import acq_cache, broker, data_root, harness, recorder  # noqa: F401
