"""worker.moments: exact sums, and each float correctly rounded.

The sums against a plain count over the pixels' coordinates and against skimage's
float central moments; the eigenvalues and atan2 against independent 60-digit
references (`decimal`: a square root, and Euler's series for the arctangent), which
round to the same float unless the value lies within 1e-55 of a rounding boundary."""

from __future__ import annotations

import math
import random
from decimal import Decimal, localcontext

import numpy as np
from skimage.measure import moments_central

from tests.worker.scenes import random_mask
from worker.moments import Moments, atan2, eigenvalues, moments

DIGITS = 60


def test_sums_are_the_pixels_coordinates_and_skimages_central_moments() -> None:
    rng = np.random.default_rng(4)
    for _ in range(40):
        image = random_mask(rng) > 0
        if not image.any():
            continue
        rows, cols = (v.tolist() for v in np.nonzero(image))
        n, sr, sc = len(rows), sum(rows), sum(cols)
        m = moments(image)
        assert (m.n, m.sum_r, m.sum_c) == (n, sr, sc)
        assert m.a == n * sum(r * r for r in rows) - sr * sr
        assert m.c == n * sum(c * c for c in cols) - sc * sc
        assert m.b == n * sum(r * c for r, c in zip(rows, cols, strict=True)) - sr * sc
        mu = moments_central(image.astype(np.uint8), (sr / n, sc / n), order=2)  # type: ignore[no-untyped-call]
        scale = max(1.0, float(mu[2, 0] + mu[0, 2]))
        for exact, theirs in ((m.a, mu[2, 0]), (m.b, mu[1, 1]), (m.c, mu[0, 2])):
            assert abs(exact / n - float(theirs)) <= 1e-12 * scale


def reference_eigenvalues(m: Moments) -> tuple[float, float]:
    with localcontext() as ctx:
        ctx.prec = DIGITS
        s, root = Decimal(m.a + m.c), Decimal((m.a - m.c) ** 2 + 4 * m.b * m.b).sqrt()
        den = Decimal(m.n * m.n)
        if s == 0:
            return 0.0, 0.0
        det = Decimal(m.a * m.c - m.b * m.b)
        return float((s + root) / (2 * den)), float(2 * det / (den * (s + root)))


def test_eigenvalues_are_correctly_rounded() -> None:
    rnd = random.Random(8)
    for k in range(3000):
        n = rnd.randint(1, 10 ** rnd.randint(1, 7))
        a, c = rnd.randint(0, 10 ** rnd.randint(1, 28)), rnd.randint(0, 10 ** rnd.randint(1, 28))
        bound = math.isqrt(a * c)
        b = rnd.choice([0, bound, -bound, rnd.randint(-bound, bound)])
        if k % 10 == 0:  # equal diagonal, or a perfect square under the root
            a = c
        m = Moments(n, 0, 0, a, b, c)
        assert eigenvalues(m) == reference_eigenvalues(m), m


def _atan_decimal(t: Decimal) -> Decimal:
    """Euler's series: atan t = sum 2^2k k!^2 / (2k+1)! t^(2k+1) / (1 + t^2)^(k+1)."""
    q = t * t / (1 + t * t)
    term = t / (1 + t * t)
    total, k = term, 0
    while abs(term) > Decimal(10) ** -(DIGITS + 5):
        k += 1
        term = term * q * (2 * k) / (2 * k + 1)
        total += term
    return total


def reference_atan2(y: int, x: int) -> float:
    with localcontext() as ctx:
        ctx.prec = DIGITS + 10
        pi = 4 * _atan_decimal(Decimal(1))
        if abs(y) <= abs(x):
            core = _atan_decimal(Decimal(abs(y)) / Decimal(abs(x)))
        else:
            core = pi / 2 - _atan_decimal(Decimal(abs(x)) / Decimal(abs(y)))
        if x < 0:
            core = pi - core
        return float(core if y >= 0 else -core)


def test_atan2_is_correctly_rounded() -> None:
    rnd = random.Random(9)
    pairs = [(0, 5), (0, -5), (3, 0), (-3, 0), (1, 1), (-1, -1), (7, -7)]
    for _ in range(1500):
        y = rnd.randint(-(10 ** rnd.randint(0, 30)), 10 ** rnd.randint(0, 30))
        x = rnd.randint(-(10 ** rnd.randint(0, 30)), 10 ** rnd.randint(0, 30))
        if (x, y) != (0, 0):
            pairs.append((y, x))
    for y, x in pairs:
        ours = atan2(y, x)
        assert ours == reference_atan2(y, x), (y, x)
        assert abs(ours - math.atan2(y, x)) <= math.ulp(ours), (y, x)  # libm: within an ulp
