"""Synthetic PlanktoScope acquisitions with known answers: a fixed pinkish, unevenly lit
background with static dust (the flat field removes it: never in the truth), per-frame sensor
noise, and new dark translucent organisms in every frame, each with its truth box."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import NormalDist
from typing import Any

import cv2
import numpy as np

from segmenter.errors import ConfigError
from segmenter.live.imager import INTEGRITY_HEADER, integrity_line
from segmenter.rules import MIN_ESD_UM
from segmenter.synth_shapes import SHAPES, Box, Floats, Image, Rng, bbox, disc, render

Frame = tuple[Image, list[Box]]  # BGR uint8 frame, truth boxes

REFERENCE_WIDTH = 4056  # HQ camera: organism sizes are given for it and scaled
BASE_BGR = np.array([212.0, 187.0, 226.0])  # brightest background, as in the real frame
ORGANISM_TINT = np.array([0.66, 1.0, 0.8])  # per-channel darkening relative to green
GRAY = np.array([0.114, 0.587, 0.299])  # BGR2GRAY weights
TRUTH_DARKENING = 0.10  # a truth box covers where gray darkens by more than this
SOLID_DARKENING = 0.15  # the area darker than this must pass the ESD threshold
BORDER = 10  # px kept free along the frame edges
GAP = 8  # px between organism patches


@dataclass(frozen=True, slots=True)
class SynthSpec:
    """What to synthesise. Everything is deterministic from `seed`."""

    frames: int = 12
    objects: int = 8  # mean organisms per frame (Poisson)
    width: int = 1352
    height: int = 1014
    seed: int = 0
    pixel_size_um: float | None = 0.75
    specks: int = 6  # static dust specks on the optics
    noise_sigma: float = 2.5  # sensor noise, grey levels
    start: datetime = datetime(2026, 3, 10, 10, 0, 0, tzinfo=UTC)
    interval_s: float = 1.0
    quality: int = 95
    bursts: tuple[int, ...] = ()  # frames with `burst` more organisms (a flat recalculation)
    burst: int = 30

    def __post_init__(self) -> None:
        checks = [
            (self.frames >= 1, "frames must be >= 1"),
            (min(self.objects, self.specks, self.seed) >= 0, "objects, specks, seed must be >= 0"),
            (min(self.width, self.height) >= 128, "width and height must be >= 128"),
            (self.pixel_size_um is None or self.pixel_size_um > 0, "pixel_size_um must be > 0"),
            (0 <= self.noise_sigma <= 20, "noise_sigma must be within 0..20"),
            (self.start.tzinfo is not None, "start must be timezone-aware (UTC)"),
            (self.interval_s >= 0.001, "interval_s must be >= 0.001"),
            (1 <= self.quality <= 100, "quality must be within 1..100"),
            (all(0 <= b < self.frames for b in self.bursts), "bursts must be frame indices"),
        ]
        for message in [message for ok, message in checks if not ok]:
            raise ConfigError(f"SynthSpec: {message}")
        if 4 * math.sqrt(self.min_area) > min(self.width, self.height) / 2:
            raise ConfigError("SynthSpec: pixel_size_um is too small for this frame size")

    @property
    def min_area(self) -> float:
        """Twice the area of a 20 um disc, in pixels (1 um/px without a pixel size)."""
        px = self.pixel_size_um if self.pixel_size_um is not None else 1.0
        return math.pi * (MIN_ESD_UM / px / 2) ** 2 * 2


def _stamp(image: Image, alpha: Floats, *, tint: Floats, x: int, y: int) -> None:
    h, w = alpha.shape  # darken in place by alpha (0..1) times the per-channel tint
    roi = image[y : y + h, x : x + w]
    roi[...] = np.clip(roi * (1.0 - alpha[..., None] * tint) + 0.5, 0, 255).astype(np.uint8)


def make_background(spec: SynthSpec) -> tuple[Image, list[Box]]:
    """Every frame's illumination (vignetting, gradient, blotches, dust) and the dust boxes."""
    rng = np.random.default_rng([spec.seed, 0xB6])
    h, w, aspect = (spec.height + 7) // 8, (spec.width + 7) // 8, spec.height / spec.width
    u, v = np.linspace(-1.0, 1.0, w)[None, :], np.linspace(-aspect, aspect, h)[:, None]
    cu, cv = rng.uniform(-0.2, 0.2, 2)
    vignette = 1 - rng.uniform(0.10, 0.16) * ((u - cu) ** 2 + (v - cv) ** 2) / (1 + aspect**2)
    theta = rng.uniform(0, 2 * math.pi)
    gradient = 1 + rng.uniform(0.02, 0.04) * (math.cos(theta) * u + math.sin(theta) * v)
    blotch = cv2.resize(rng.normal(0, 0.008, (6, 8)), (w, h), interpolation=cv2.INTER_CUBIC)
    low = (vignette * gradient + blotch).astype(np.float32)
    full = cv2.resize(low, (spec.width, spec.height), interpolation=cv2.INTER_LINEAR)
    color = BASE_BGR + rng.uniform(-4, 4, 3)
    image = cv2.merge([cv2.convertScaleAbs(full, alpha=float(c)) for c in color])
    specks: list[Box] = []
    for _ in range(spec.specks):
        radius = max(2.0, rng.uniform(0.15, 0.5) * math.sqrt(spec.min_area))  # 8-25 um wide
        alpha = render(
            disc,
            rng,
            length=2 * radius,
            darkening=rng.uniform(0.4, 0.7),
            sigma=max(0.7, radius / 3),
        )
        x = int(rng.integers(BORDER, spec.width - BORDER - alpha.shape[1]))
        y = int(rng.integers(BORDER, spec.height - BORDER - alpha.shape[0]))
        _stamp(image, alpha, tint=np.full(3, 0.9, np.float32), x=x, y=y)
        bx, by, bw, bh = bbox(alpha * 0.9 > TRUTH_DARKENING)
        specks.append((x + bx, y + by, bw, bh))
    return image, specks


def make_organism(rng: Rng, spec: SynthSpec) -> tuple[Floats, Floats, Box]:
    """(alpha patch, tint, truth box within the patch); grown until it passes the ESD."""
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    tint = np.clip(ORGANISM_TINT + rng.uniform(-0.1, 0.1, 3), 0.4, 1.0).astype(np.float32)
    gray = float(np.dot(GRAY * BASE_BGR, tint) / np.dot(GRAY, BASE_BGR))
    scale = spec.width / REFERENCE_WIDTH
    darkening, sigma = rng.uniform(0.2, 0.7), max(0.7, rng.uniform(1.0, 3.0) * scale)
    max_len, min_len = min(spec.width, spec.height) * 0.4, math.sqrt(spec.min_area)
    length = min(max_len, max(min_len, math.exp(rng.uniform(3.0, 6.0)) * scale))
    for _ in range(6):
        alpha = render(shape, rng, length=length, darkening=darkening, sigma=sigma)
        area = int(np.count_nonzero(alpha * gray > SOLID_DARKENING))
        if area >= spec.min_area:
            return alpha, tint, bbox(alpha * gray > TRUTH_DARKENING)
        length = min(max_len, length * max(1.15, math.sqrt(spec.min_area / max(area, 1)) * 1.1))
    alpha = render(
        disc, rng, length=min_len * 1.6, darkening=max(darkening, 0.45), sigma=sigma
    )  # always passes
    return alpha, tint, bbox(alpha * gray > TRUTH_DARKENING)


def _place(rng: Rng, spec: SynthSpec, *, taken: list[Box], w: int, h: int) -> Box | None:
    """A free spot for a w x h patch, GAP px from the others and BORDER px from the edges."""
    for _ in range(40):
        x = int(rng.integers(BORDER, spec.width - BORDER - w + 1))
        y = int(rng.integers(BORDER, spec.height - BORDER - h + 1))
        gaps = (max(tx - x - w, x - tx - tw, ty - y - h, y - ty - th) for tx, ty, tw, th in taken)
        if all(gap >= GAP for gap in gaps):
            return x, y, w, h
    return None


def synth_frame(
    spec: SynthSpec, rng: Rng, *, background: Image | None = None, extra: int = 0
) -> Frame:
    """One BGR frame and the truth boxes of its organisms (`extra` more than the mean);
    pure. background: make_background."""
    frame = (background if background is not None else make_background(spec)[0]).copy()
    taken, boxes = list[Box](), list[Box]()
    for _ in range(int(rng.poisson(spec.objects + extra))):
        alpha, tint, (tx, ty, tw, th) = make_organism(rng, spec)
        spot = _place(rng, spec, taken=taken, w=alpha.shape[1], h=alpha.shape[0])
        if spot is not None:
            _stamp(frame, alpha, tint=tint, x=spot[0], y=spot[1])
            taken.append(spot)
            boxes.append((spot[0] + tx, spot[1] + ty, tw, th))
    if spec.noise_sigma > 0:  # Gaussian sensor noise, fast: a random byte through a table
        normal = NormalDist(0.0, spec.noise_sigma)
        table = np.rint([normal.inv_cdf((i + 0.5) / 256) for i in range(256)])
        u = rng.integers(0, 256, frame.shape, dtype=np.uint8)
        cv2.add(frame, cv2.LUT(u, np.clip(table, 0, 255).astype(np.uint8)), dst=frame)
        cv2.subtract(frame, cv2.LUT(u, np.clip(-table, 0, 255).astype(np.uint8)), dst=frame)
    return frame, boxes


def frame_names(spec: SynthSpec) -> list[str]:
    """Imager-style UTC names, ~interval_s apart plus microseconds; name order = time order."""
    rng = np.random.default_rng([spec.seed, 0x7133])
    jitter = rng.integers(0, int(spec.interval_s * 0.9e6) + 1, spec.frames)
    start, step = spec.start.astimezone(UTC), timedelta(seconds=spec.interval_s)
    times = [start + i * step + timedelta(microseconds=int(j)) for i, j in enumerate(jitter)]
    return [f"{t:%Y-%m-%d_%H-%M-%S-%f}.jpg" for t in times]


def write_acquisition(out: Path, spec: SynthSpec) -> Path:
    """Write frames, metadata.json, integrity.check, truth.json under out/img/; return it."""
    px = spec.pixel_size_um if spec.pixel_size_um is not None else 0.75
    frame_ml = spec.width * px * spec.height * px * 300.0 * 1e-12  # 300 um deep flow cell
    start = spec.start.astimezone(UTC)
    meta: dict[str, Any] = {"sample_project": "synthetic", "sample_id": f"synth_s{spec.seed}"}
    meta |= {"sample_operator": "Zoé Lévêque", "sample_ship": "RV Tara", "sample_station": "bench"}
    meta |= {"sample_sampling_gear": "net", "acq_id": f"synth_a{spec.seed}", "acq_celltype": 300}
    meta |= {"acq_instrument": "PlanktoScope v3", "acq_minimum_mesh": 20, "acq_maximum_mesh": 200}
    meta |= {"acq_imaged_volume": round(frame_ml * spec.frames, 6), "object_depth_min": 0}
    meta |= {"acq_nb_frame": spec.frames}  # as the imager writes it
    meta |= {"acq_camera_resolution": f"{spec.width}x{spec.height}", "object_depth_max": 10}
    meta |= {"object_date": f"{start:%Y-%m-%d}", "object_time": f"{start:%H:%M:%S}"}
    meta |= {"object_lat": 43.696, "object_lon": 7.309, "description": "synthetic test data"}
    if spec.pixel_size_um is not None:
        meta["process_pixel"] = spec.pixel_size_um
    folder = out / "img" / str(meta["object_date"]) / str(meta["sample_id"]) / str(meta["acq_id"])
    if folder.exists() and any(folder.iterdir()):
        raise ConfigError(f"{folder} is not empty: remove it or write to another data root")
    folder.mkdir(parents=True, exist_ok=True)
    bg, specks = make_background(spec)
    truth: dict[str, list[list[int]]] = {}
    lines = list(INTEGRITY_HEADER)
    for i, name in enumerate(frame_names(spec)):
        extra = spec.burst if i in spec.bursts else 0
        frame, boxes = synth_frame(
            spec, np.random.default_rng([spec.seed, i]), background=bg, extra=extra
        )
        data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, spec.quality])[1].tobytes()
        (folder / name).write_bytes(data)
        lines.append(integrity_line(name, data))
        truth[name] = [list(b) for b in boxes]
    text = json.dumps(meta, indent=2, ensure_ascii=False)
    (folder / "metadata.json").write_text(text + "\n", encoding="utf-8")
    (folder / "integrity.check").write_text("".join(lines), encoding="utf-8")
    doc = {"frames": truth, "specks": [list(b) for b in specks], "spec": asdict(spec)}
    text = json.dumps(doc, indent=1, default=str)  # the start datetime as text
    (folder / "truth.json").write_text(text + "\n", encoding="utf-8")
    return folder
