"""The fault suite reuses the service fixtures (private mosquitto, in-process service)."""

from tests.segmenter.service.conftest import (  # noqa: F401
    acq_cache,
    broker,
    copy_acq,
    data_root,
    harness,
    recorder,
)
