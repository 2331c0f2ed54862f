"""The flat correction's exact table, and the same as one float32 multiply per pixel.

The table, indexed by `flat << 8 | value`, holds the exact float64 result of
`clip(v / f, 0, clip_max) / clip_max * 255` truncated to uint8: the literal float64
method bit for bit.

For each flat value `f` a float32 factor `r[f]` is chosen so that
`uint8(min(float32(v) * r[f], 255))` (the cast truncates) is the table's `T[f, v]` for
every frame value `v`: it is searched among the float32 neighbours of `255 / (clip_max *
f)` and checked against the table on all 65,536 (flat, value) pairs, here, with the same
numpy operations the correction runs. The few flat values where no factor gives the
whole row (the table's float64 roundings put some exact quotients on either side of an
integer; 3 of 256 at clip_max 1.04) are flagged, and their pixels take the table.

Exact on every CPU: float32 `*` is one IEEE rounding, `minimum` and the casts of values
in [0, 255] are exact, and the check that decides which flat values take the table runs
on the machine that corrects (docs/exactness.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]
ULPS = 24  # float32 steps searched either side of the quotient
TOP = np.float32(255)


@lru_cache(maxsize=4)
def correction_lut(clip_max: float) -> U8:
    """Table indexed by `flat << 8 | value`: the float64 baseline result for each pair."""
    values = np.arange(256, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = values[None, :] / values[:, None]  # row: flat value, column: frame value
        ratio = np.nan_to_num(ratio, nan=0.0, posinf=np.inf)
        ratio = np.clip(ratio, 0, clip_max)
        ratio = (ratio - 0) / (clip_max - 0)
        table = (ratio * 255 + 0).astype(np.uint8)
    table.setflags(write=False)
    return table.reshape(-1)


def apply_factors(values: U8, factors: F32) -> U8:
    """The float path on arrays of values and their factors, as the correction runs it."""
    x = np.empty(values.shape, np.float32)
    np.copyto(x, values, casting="unsafe")
    np.multiply(x, factors, out=x)
    np.minimum(x, TOP, out=x)
    out = np.empty(values.shape, np.uint8)
    np.copyto(out, x, casting="unsafe")
    return out


@dataclass(frozen=True, slots=True)
class Correction:
    """What the correction needs for one clip_max: the exact table (`flat << 8 | value`),
    the float32 factor of each flat value, and which flat values take the table (1)."""

    lut: U8
    factors: F32
    use_table: U8

    @property
    def table_values(self) -> int:
        return int(np.count_nonzero(self.use_table))


def _candidates(clip_max: float) -> F32:
    """(2 * ULPS + 1, 256) float32 factors around 255 / (clip_max * f); f = 0 takes 256
    (v * 256 >= 255 for v >= 1 and 0 for v = 0: the table's inf and 0 / 0)."""
    flats = np.arange(256, dtype=np.float64)
    with np.errstate(divide="ignore"):
        base = (255.0 / (clip_max * flats)).astype(np.float32)
    base[0] = 256
    rows = [base]
    up, down = base.copy(), base.copy()
    for _ in range(ULPS):
        up = np.nextafter(up, np.float32(np.inf))
        down = np.nextafter(down, np.float32(0))
        rows += [up, down]
    return np.stack(rows)


@lru_cache(maxsize=4)
def correction(clip_max: float) -> Correction:
    table = correction_lut(clip_max).reshape(256, 256)
    candidates = _candidates(clip_max)
    values = np.broadcast_to(np.arange(256, dtype=np.uint8), (len(candidates), 256, 256))
    got = apply_factors(np.ascontiguousarray(values), np.repeat(candidates[:, :, None], 256, 2))
    wrong = np.count_nonzero(got != table[None], axis=2)  # (candidate, flat)
    best = np.argmin(wrong, axis=0)  # the first candidate (the quotient) wins ties
    factors = candidates[best, np.arange(256)].astype(np.float32)
    use_table = (wrong[best, np.arange(256)] > 0).astype(np.uint8)
    for arr in (factors, use_table):
        arr.setflags(write=False)
    return Correction(correction_lut(clip_max), factors, use_table)
