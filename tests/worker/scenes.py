"""Synthetic inputs for the kernel's tests: small scenes, their flat and random masks.
Apart from the test modules and without pytest: the arm64 leg's digest
(tests/golden/cpu_digest.py) imports them under emulation, where every import costs
seconds."""

from __future__ import annotations

import cv2
import numpy as np

from worker.correct import median_into


def scene(rng: np.random.Generator, h: int = 240, w: int = 320, n: int = 9) -> np.ndarray:
    """Uneven background, noise, a static speck, dark blobs (some at the edges, some ringed)."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = 200 - 40 * ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / (w * w / 4)
    frame = np.stack([base * 0.9, base * 0.75, base], axis=-1)
    frame += rng.normal(0, 2.5, frame.shape)
    frame[50:54, 60:64] *= 0.3  # dust: static, removed by the flat
    for _ in range(n):
        cy, cx = rng.integers(-5, h + 5), rng.integers(-5, w + 5)
        ry, rx = rng.integers(3, 18), rng.integers(3, 25)
        blob = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        ring = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 0.3
        frame[blob] *= rng.uniform(0.3, 0.7)
        if rng.random() < 0.4:
            frame[ring] /= 0.5
    out: np.ndarray = np.clip(frame, 0, 255).astype(np.uint8)
    return out


def fast_flat(frames: list[np.ndarray]) -> np.ndarray:
    out = np.empty_like(frames[0])
    median_into(np.stack(frames), out)
    return out


def random_mask(rng: np.random.Generator) -> np.ndarray:
    h, w = (int(v) for v in rng.integers(1, 90, 2))
    mask = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(1, 6))):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        kind = rng.integers(0, 4)
        if kind == 0:  # ellipses, half of them with an inner hole
            axes = (int(rng.integers(0, 30)), int(rng.integers(0, 30)))
            cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
            if rng.random() < 0.5:
                inner = (axes[0] // 2, axes[1] // 2)
                cv2.ellipse(mask, centre, inner, float(rng.uniform(0, 180)), 0, 360, 0, -1)
        elif kind == 1:
            end = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(mask, centre, end, 1, int(rng.integers(1, 3)))
        elif kind == 2:  # speckle: diagonal contacts, one-pixel holes
            mask |= (rng.random(mask.shape) < rng.uniform(0.05, 0.6)).astype(np.uint8)
        else:  # punched holes
            mask ^= (rng.random(mask.shape) < 0.1).astype(np.uint8)
    return mask
