"""`segmenter send`'s tests (test_send.py) reuse the service fixtures (a private mosquitto
per test, the service in-process, synthetic acquisitions made once per session)."""

from tests.segmenter.service.conftest import (  # noqa: F401
    acq_cache,
    broker,
    copy_acq,
    data_root,
    harness,
    recorder,
)
