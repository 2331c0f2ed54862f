"""Fixtures of the upload tests: a segmented acquisition (made once, copied per test) and
a running EcoTaxa stand-in."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from segmenter.cli import main
from segmenter.synth import SynthSpec, write_acquisition
from tests.segmenter.service.conftest import broker, recorder  # noqa: F401 (the service tests' fixtures)
from tests.segmenter.upload.ecotaxa_standin import EcoTaxaStandIn, make_standin


@pytest.fixture(scope="module")
def segmented_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("segmented") / "data"
    spec = SynthSpec(frames=6, objects=5, width=640, height=480, seed=3)
    folder = write_acquisition(root, spec)
    assert main(["segment", str(folder), "--workers", "1", "--no-report"]) == 0
    return root


@pytest.fixture
def data_root(segmented_once: Path, tmp_path: Path) -> Path:
    """A fresh copy of a data root holding one segmented acquisition."""
    root = tmp_path / "data"
    shutil.copytree(segmented_once, root)
    return root


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[EcoTaxaStandIn]:
    server = make_standin(tmp_path / "ecotaxa")
    yield server
    server.close()


@pytest.fixture
def login(standin: EcoTaxaStandIn, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The flags naming the stand-in and its project 1; the password in the environment."""
    monkeypatch.setenv("ECOTAXA_PASSWORD", standin.password)
    for name in ("ECOTAXA_URL", "ECOTAXA_USER", "ECOTAXA_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    return ["--url", standin.url, "--user", standin.user, "--project", "1"]
