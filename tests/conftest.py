"""Shared fixtures: synthetic acquisitions under a fresh data root, archive comparison."""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from segmenter.engine import shared_memory as shm
from segmenter.engine.fault_switch import allow_test_faults
from segmenter.synth import SynthSpec, write_acquisition
from streamer.ecotaxa import read_tsv

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"  # ../shared beside the checkout
REALDATA = SHARED / "realdata"
REAL_FRAME = REALDATA / "planktoscope_raw" / "planktoscope_hq_4056x3040_main.jpeg"
# Columns that differ between two runs of the same data by design.
RUN_COLUMNS = {"process_datetime", "process_uuid", "process_id"}

# Features whose last bits the old method (skimage) takes from the CPU: the perimeter's
# final dot product (OpenBLAS) and everything made from it, and the second moments
# (OpenBLAS's einsum, LAPACK's eigenvalues, libm's atan2: major and minor axes,
# orientation, eccentricity). The engine computes them the same way on every CPU (the
# perimeter summed in a fixed order, equal to the baseline's on every object; the
# moments correctly rounded from exact integers, worker.moments): skimage's, and the
# baseline's moments, may be an ulp or a few off them.
PERIMETER_FEATURES = frozenset({"perim.", "circ.", "circex", "perimareaexc", "perimmajor"})
MOMENT_FEATURES = frozenset({"major", "minor", "elongation", "eccentricity", "angle", "perimmajor"})
CPU_ROUNDED = PERIMETER_FEATURES | MOMENT_FEATURES


def same_value(ours: float, old: float, loose: bool = False) -> bool:
    """Equal (NaN for the old program's inf or NaN), or within 1e-12 when `loose`."""
    if not math.isfinite(old):
        return math.isnan(ours)
    return ours == old or (loose and abs(ours - old) <= 1e-12 * abs(old))


MakeAcq = Callable[..., tuple[Path, Path]]
pytest_plugins = ["pytester", "tests.ci_skips"]  # ci_skips: under CI=true a skip fails


def pytest_configure(config: pytest.Config) -> None:
    allow_test_faults()  # SEGMENTER_TEST_FAULTS works in this process, and only here


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's (not installed in the arm64 leg)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """--dist loadscope keeping some modules on one process (tests/xdist_scopes.py)."""
    if config.getvalue("dist") != "loadscope":
        return None
    from tests.xdist_scopes import SharedScopes

    return SharedScopes(config, log)


def require(path: Path) -> None:
    """Skip when `path` (under ../shared) is missing (under CI=true, tests.ci_skips makes
    that skip a failure)."""
    if not path.exists():
        pytest.skip(f"{path} is missing: put the shared folder beside the checkout")


@pytest.fixture
def make_acq(tmp_path: Path) -> MakeAcq:
    """make_acq(**SynthSpec fields) -> (data root, acquisition folder)."""

    def make(root: Path | None = None, **spec: object) -> tuple[Path, Path]:
        root = root or tmp_path / "data"
        fields = {"frames": 8, "objects": 6, "width": 640, "height": 480, "seed": 3} | spec
        return root, write_acquisition(root, SynthSpec(**fields))  # type: ignore[arg-type]

    return make


def archive_content(zip_path: Path) -> tuple[list[dict[str, str]], dict[str, bytes]]:
    """TSV rows without the per-run columns, and every member's bytes but the TSV."""
    with zipfile.ZipFile(zip_path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    tsv_names = [n for n in members if n.endswith(".tsv")]
    assert len(tsv_names) == 1
    tmp = zip_path.with_suffix(".check.tsv")
    tmp.write_bytes(members.pop(tsv_names[0]))
    try:
        _names, _types, rows = read_tsv(tmp)
    finally:
        tmp.unlink()
    return [{k: v for k, v in r.items() if k not in RUN_COLUMNS} for r in rows], members


def tsv_rows(data: bytes) -> list[str]:
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig").read().splitlines()


@pytest.fixture(autouse=True)
def no_shared_memory_left() -> object:
    """Every test must leave /dev/shm without segments this process created (a benchmark
    or a service running beside the tests has its own)."""
    before = set(shm.mine())
    yield
    left = set(shm.mine()) - before
    assert not left, f"shared memory left behind: {sorted(left)}"
