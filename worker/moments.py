"""A region's second moments and what skimage derives from them, the same on every CPU.

skimage sums the central moments with `np.einsum` (OpenBLAS: the CPU's kernel decides
the rounding), takes the inertia tensor's eigenvalues from LAPACK and the orientation
from libm's `atan2` (glibc's differs with FMA and without). Here every quantity comes
from exact integers: the pixel count n and the sums of r, c, r^2, c^2 and r*c give

    A = n * sum(r^2) - sum(r)^2,   C = n * sum(c^2) - sum(c)^2,   B = n * sum(r*c) - sum(r) sum(c)

and skimage's inertia tensor is [[C, -B], [-B, A]] / n^2, so its eigenvalues are
(A + C +- sqrt(D)) / (2 n^2) with D = (A - C)^2 + 4 B^2, the smaller one written
2 (A C - B^2) / (n^2 (A + C + sqrt(D))) (no cancellation), and its orientation
0.5 * atan2(2B, A - C). Each is rounded once, correctly, to the nearest float, from
integer bounds that are tightened until both ends round alike (Python integers: no
float operation, no library). The rest is skimage's formulas in IEEE operations in a
fixed order (`4 * sqrt(l1)`, `1 - l2 / l1`, ...), which round alike everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
import numpy.typing as npt

_BITS = 80  # first working precision (bits after the point); doubled until it decides


@dataclass(frozen=True, slots=True)
class Moments:
    """Exact integer moments of a region: count, sums of r and c, and the scaled central
    second moments A, B, C (n^2 times skimage's mu20 / n, mu11 / n, mu02 / n)."""

    n: int
    sum_r: int
    sum_c: int
    a: int
    b: int
    c: int


def moments(image: npt.NDArray[np.bool_]) -> Moments:
    """The exact sums over a region's boolean crop (numpy integer arithmetic: exact)."""
    h, w = image.shape
    r, c = np.arange(h, dtype=np.int64), np.arange(w, dtype=np.int64)
    per_row = np.count_nonzero(image, axis=1).astype(np.int64)
    per_col = np.count_nonzero(image, axis=0).astype(np.int64)
    row_c = image.view(np.uint8) @ c  # per row, the sum of its pixels' columns
    n, sr, sc = int(per_row.sum()), int(per_row @ r), int(per_col @ c)
    srr, scc, src = int(per_row @ (r * r)), int(per_col @ (c * c)), int(row_c @ r)
    return Moments(n, sr, sc, n * srr - sr * sr, n * src - sr * sc, n * scc - sc * sc)


def _rounded(lo: Fraction, hi: Fraction) -> float | None:
    """The float both bounds round to, or None when they round apart."""
    a, b = float(lo), float(hi)  # Fraction -> float: correctly rounded integer division
    return a if a == b else None


def eigenvalues(m: Moments) -> tuple[float, float]:
    """skimage's `inertia_tensor_eigvals` (larger first), each correctly rounded."""
    s, det, den = m.a + m.c, m.a * m.c - m.b * m.b, m.n * m.n
    d = (m.a - m.c) ** 2 + 4 * m.b * m.b
    if s == 0:
        return 0.0, 0.0
    root = math.isqrt(d)
    if root * root == d:  # sqrt(D) is an integer: both are rationals
        return float(Fraction(s + root, 2 * den)), float(Fraction(2 * det, den * (s + root)))
    bits = _BITS
    while True:
        scale = 1 << bits
        low = math.isqrt(d * scale * scale)  # floor(sqrt(D) * 2^bits), sqrt(D) irrational
        big = _rounded(
            Fraction(s * scale + low, 2 * den * scale),
            Fraction(s * scale + low + 1, 2 * den * scale),
        )
        small = _rounded(
            Fraction(2 * det * scale, den * (s * scale + low + 1)),
            Fraction(2 * det * scale, den * (s * scale + low)),
        )
        if big is not None and small is not None:
            return big, small
        bits *= 2


@lru_cache(maxsize=8)
def _pi_fixed(bits: int) -> int:
    """pi * 2^bits within 8 units (Machin: 16 atan(1/5) - 4 atan(1/239))."""
    guard = bits + 8
    return (16 * _atan_inverse(5, guard) - 4 * _atan_inverse(239, guard)) >> 8


def _atan_inverse(k: int, bits: int) -> int:
    """atan(1 / k) * 2^bits within a few units, by its alternating series."""
    power = (1 << bits) // k
    total, j, k2 = power, 1, k * k
    while power:
        power //= k2
        j += 2
        total += -(power // j) if j % 4 == 3 else power // j
    return total


def _atan_fixed(y: int, x: int, bits: int) -> int:
    """atan(y / x) * 2^bits for 0 <= y <= x, x > 0, within 2^10 units.

    Five halvings, t -> t / (1 + sqrt(1 + t^2)), take t below 2^-5; the series then
    gains 10 bits a term. Each step errs by a unit or two; the result is 32 times the
    last t's arctangent, so the error stays far below 2^10 units."""
    one = 1 << bits
    t = (y << bits) // x
    for _ in range(5):
        t = (t << bits) // (one + math.isqrt((one << bits) + t * t))
    t2 = t * t >> bits
    term, total, j = t, t, 1
    while term:
        term = term * t2 >> bits
        j += 2
        total += -(term // j) if j % 4 == 3 else term // j
    return total << 5


def atan2(y: int, x: int) -> float:
    """Correctly rounded atan2 of two integers, not both 0 (`y == 0` counts as +0)."""
    if y == 0:
        return 0.0 if x > 0 else math.pi
    if x == 0:
        return math.copysign(math.pi / 2, y)
    bits, err = _BITS, 1 << 11
    while True:
        ay, ax = abs(y), abs(x)
        if ay <= ax:
            core = _atan_fixed(ay, ax, bits)
        else:  # pi/2 - atan(x / y)
            core = (_pi_fixed(bits) >> 1) - _atan_fixed(ax, ay, bits)
        if x < 0:
            core = _pi_fixed(bits) - core
        value = _rounded(Fraction(core - err, 1 << bits), Fraction(core + err, 1 << bits))
        if value is not None:
            return value if y > 0 else -value
        bits *= 2
