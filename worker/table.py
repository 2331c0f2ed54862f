"""The flat correction's exact table.

The table, indexed by `flat << 8 | value`, holds the exact float64 result of
`clip(v / f, 0, clip_max) / clip_max * 255` truncated to uint8: the literal float64
method bit for bit. The correction reads it for every pixel (`worker.correct`), so it is
exact on every CPU by construction: an integer gather, no arithmetic per pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]


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


@dataclass(frozen=True, slots=True)
class Correction:
    """What the correction needs for one clip_max: the exact table (`flat << 8 | value`)."""

    lut: U8


@lru_cache(maxsize=4)
def correction(clip_max: float) -> Correction:
    return Correction(correction_lut(clip_max))
