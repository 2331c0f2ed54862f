"""The organisms' shapes of a synthetic acquisition (segmenter.synth): cells, aggregates,
chains, copepods, fibres, drawn on a square canvas and softened into an alpha patch."""

from __future__ import annotations

import cmath
import math
from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

Box = tuple[int, int, int, int]  # x, y, w, h in frame pixels
Image = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.float32]
Rng = np.random.Generator
Points = npt.NDArray[np.int32]
Shape = Callable[[Image, Rng, float, int], None]


def bbox(mask: npt.NDArray[np.bool_]) -> Box:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return (0, 0, 0, 0)
    return (int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))


def _outline(
    c: float, rng: Rng, *, size: float, ratio: float, rough: float, angle: float
) -> Points:
    """A closed, irregular ellipse-like outline around (c, c), long axis at `angle`."""
    k = 24
    t = np.linspace(0, 2 * math.pi, k, endpoint=False)
    wobble = 1 + np.convolve(np.tile(rng.normal(0, rough, k), 3), np.ones(3) / 3, "same")[k:-k]
    x, y = np.cos(t) * size / 2 * wobble, np.sin(t) * size / 2 * ratio * wobble
    ca, sa = math.cos(angle), math.sin(angle)
    return np.round(np.stack([c + x * ca - y * sa, c + x * sa + y * ca], axis=1)).astype(np.int32)


def _cell(canvas: Image, rng: Rng, length: float, value: int) -> None:
    """A translucent cell: lighter interior, darker wall."""
    ratio, angle = rng.uniform(0.45, 0.95), rng.uniform(0, math.pi)
    pts = _outline(canvas.shape[0] / 2, rng, size=length, ratio=ratio, rough=0.04, angle=angle)
    cv2.fillPoly(canvas, [pts], int(value * rng.uniform(0.45, 0.75)))
    cv2.polylines(canvas, [pts], True, value, max(2, round(length / 12)))


def _blob(canvas: Image, rng: Rng, length: float, value: int) -> None:
    """An irregular aggregate with lighter patches or holes inside."""
    c, ratio, angle = canvas.shape[0] / 2, rng.uniform(0.6, 1.0), rng.uniform(0, math.pi)
    cv2.fillPoly(
        canvas, [_outline(c, rng, size=length, ratio=ratio, rough=0.18, angle=angle)], value
    )
    for _ in range(int(rng.integers(1, 4))):
        hx, hy = c + rng.uniform(-0.18, 0.18, 2) * length
        radius, light = round(length * rng.uniform(0.05, 0.12)), int(value * rng.uniform(0.1, 0.5))
        cv2.circle(canvas, (round(hx), round(hy)), radius, light, -1)


def _chain(canvas: Image, rng: Rng, length: float, value: int) -> None:
    """A gently bent chain of cells (diatoms)."""
    c, n = canvas.shape[0] / 2 * (1 + 1j), int(rng.integers(3, 8))
    u, bend = cmath.exp(1j * rng.uniform(0, math.pi)), rng.uniform(-0.25, 0.25) * length
    radius = max(2, round(length / (2 * n) * 1.15))
    for t in np.linspace(-0.5, 0.5, n) * (1 - 1 / n):
        centre = _pt(c + (t * length + 1j * bend * (0.25 - t * t)) * u)
        cv2.circle(canvas, centre, radius, int(value * 0.75), -1)
        cv2.circle(canvas, centre, radius, value, max(1, radius // 3))


def _copepod(canvas: Image, rng: Rng, length: float, value: int) -> None:
    """A body with a tail and two thin antennae."""
    c, theta = canvas.shape[0] / 2, rng.uniform(0, 2 * math.pi)
    u, thin = cmath.exp(1j * theta), max(1, round(length / 90))
    cv2.fillPoly(
        canvas, [_outline(c, rng, size=length * 0.5, ratio=0.42, rough=0.03, angle=theta)], value
    )
    cv2.line(canvas, _pt(c * (1 + 1j)), _pt(c * (1 + 1j) - u * length / 2), value, 2 * thin)
    head = c * (1 + 1j) + u * length * 0.22
    for side in (-1.0, 1.0):  # antennae sweep back from the head
        tip = head + cmath.exp(1j * (theta + side * rng.uniform(1.7, 2.4))) * length * 0.3
        cv2.line(canvas, _pt(head), _pt(tip), int(value * 0.8), thin)


def _pt(z: complex) -> tuple[int, int]:
    return (round(z.real), round(z.imag))


def _fibre(canvas: Image, rng: Rng, length: float, value: int) -> None:
    """A smoothly curving fibre or filament."""
    heading = rng.uniform(0, 2 * math.pi) + np.cumsum(rng.normal(0, 0.35, 12))
    steps = np.stack([np.cos(heading), np.sin(heading)], axis=1) * length / 12
    pts = np.vstack([[0.0, 0.0], np.cumsum(steps, axis=0)])
    pts += canvas.shape[0] / 2 - (pts.min(axis=0) + pts.max(axis=0)) / 2
    width = max(3, round(length / 30))
    cv2.polylines(canvas, [np.round(pts).astype(np.int32)], False, value, width)


def disc(canvas: Image, rng: Rng, length: float, value: int) -> None:
    cv2.circle(canvas, (canvas.shape[0] // 2,) * 2, round(length / 2), value, -1)


SHAPES: tuple[Shape, ...] = (_cell, _blob, _chain, _copepod, _fibre)  # canvas value = 255 * dark


def render(shape: Shape, rng: Rng, *, length: float, darkening: float, sigma: float) -> Floats:
    """Draw a shape on a square canvas, soften it, crop to where it darkens at all."""
    pad = int(3 * sigma) + 4
    canvas = np.zeros((int(length * 1.2) + 2 * pad,) * 2, np.uint8)
    shape(canvas, rng, length, round(255 * darkening))
    alpha = cv2.GaussianBlur(canvas.astype(np.float32) * np.float32(1 / 255), (0, 0), sigma)
    x, y, w, h = bbox(alpha > 0.004)
    return np.ascontiguousarray(alpha[y : y + h, x : x + w], dtype=np.float32)
