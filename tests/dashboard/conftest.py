"""The dashboard scenarios reuse the service fixtures (acquisitions, data root)."""

from tests.service.conftest import acq_cache, data_root  # noqa: F401
