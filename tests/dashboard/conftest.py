"""The dashboard scenarios reuse the service fixtures (acquisitions, data root)."""

from tests.segmenter.service.conftest import acq_cache, data_root  # noqa: F401
