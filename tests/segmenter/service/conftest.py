"""Fixtures: a private mosquitto per test, synthetic acquisitions (made once, copied),
the service in-process, and a recording client."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from segmenter.synth import SynthSpec, write_acquisition
from tests.segmenter.service.harness import MOSQUITTO, Broker, Harness, Recorder

CopyAcq = Callable[..., Path]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed")
    folder = tmp_path / "broker"
    folder.mkdir()
    b = Broker(folder)
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def acq_cache(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """An acquisition per (frames, width, height, seed), synthesised once per session."""
    made: dict[tuple[int, int, int, int], Path] = {}

    def get(frames: int, width: int, height: int, seed: int) -> Path:
        key = (frames, width, height, seed)
        if key not in made:
            root = tmp_path_factory.mktemp(f"acq{frames}_{seed}")
            made[key] = write_acquisition(
                root, SynthSpec(frames=frames, objects=6, width=width, height=height, seed=seed)
            )
        return made[key]

    return get


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "img").mkdir(parents=True)
    return root


@pytest.fixture
def copy_acq(acq_cache: Callable[..., Path], data_root: Path) -> CopyAcq:
    """copy_acq(frames=6, seed=1) -> a fresh acquisition folder under `data_root`."""

    def copy(frames: int = 6, seed: int = 1, width: int = 640, height: int = 480) -> Path:
        source = acq_cache(frames, width, height, seed)
        rel = source.relative_to(source.parents[3])
        target = data_root / rel
        shutil.copytree(source, target)
        return target

    return copy


@pytest.fixture
def recorder(broker: Broker) -> Iterator[Recorder]:
    rec = Recorder(broker)
    yield rec
    rec.close()


@pytest.fixture
def harness(broker: Broker, data_root: Path) -> Iterator[Callable[..., Harness]]:
    """harness(delay=0.0, workers=1, ...) starts the service in-process (workers=2: with a real
    process pool, as in production); it is shut down after the test."""
    started: list[Harness] = []

    def start(
        delay: float = 0.0,
        workers: int = 1,
        idle_timeout: float = 60.0,
        keepalive: int = 20,
        preview_s: float = 0.0,
    ) -> Harness:
        h = Harness(broker, data_root, delay, workers, idle_timeout, keepalive, preview_s=preview_s)
        started.append(h)
        return h

    yield start
    for h in started:
        h.close()
