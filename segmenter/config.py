"""Frozen, validated settings.

`Params` is what the image pipeline reads (SPEC section 2); the EcoTaxa `process_*`
columns are generated from it, so what is recorded cannot drift from what ran.
`RunSettings` is what one run of one or more acquisitions does around the pipeline.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from segmenter.errors import ConfigError

#: Object feature names, in the column order of SPEC section 2.5.
FEATURE_NAMES: tuple[str, ...] = (
    "label",
    "width",
    "height",
    "bx",
    "by",
    "circ.",
    "area_exc",
    "area",
    "%area",
    "major",
    "minor",
    "y",
    "x",
    "convex_area",
    "perim.",
    "elongation",
    "perimareaexc",
    "perimmajor",
    "circex",
    "angle",
    "bounding_box_area",
    "eccentricity",
    "equivalent_diameter",
    "euler_number",
    "extent",
    "local_centroid_col",
    "local_centroid_row",
    "solidity",
    "blur_laplacian",
    "MeanHue",
    "MeanSaturation",
    "MeanValue",
    "StdHue",
    "StdSaturation",
    "StdValue",
)

#: Features that are whole numbers (written without a decimal point).
INTEGER_FEATURES: frozenset[str] = frozenset(
    {
        "label",
        "width",
        "height",
        "bx",
        "by",
        "area_exc",
        "area",
        "convex_area",
        "bounding_box_area",
        "euler_number",
    }
)


def default_workers() -> int:
    """Cores minus one (the parent commits and writes), at least 1: 3 on a Pi 5."""
    return max(1, (os.cpu_count() or 2) - 1)


@dataclass(frozen=True, slots=True)
class Params:
    """Parameters of the per-frame pipeline and of the flat field (SPEC section 2)."""

    flat_frames: int = 9
    recalculate_flat: bool = True
    recalculate_margin: int = 20
    clip_max: float = 1.04
    remove_previous_mask: bool = False
    erode_size: int = 2
    dilate_size: int = 8
    close_size: int = 8
    erode2_size: int = 8
    min_esd_um: float = 20.0
    pixel_size_um: float | None = None
    crop_padding: int = 10
    jpeg_quality: int = 75

    def __post_init__(self) -> None:
        if self.flat_frames < 1 or self.flat_frames % 2 == 0:
            raise ConfigError(f"flat_frames must be a positive odd number, got {self.flat_frames}")
        if self.recalculate_margin < 0:
            raise ConfigError("recalculate_margin must be >= 0")
        if not 0 < self.clip_max <= 10:
            raise ConfigError(f"clip_max must be in (0, 10], got {self.clip_max}")
        for name in ("erode_size", "dilate_size", "close_size", "erode2_size"):
            if not 1 <= getattr(self, name) <= 64:
                raise ConfigError(f"{name} must be between 1 and 64")
        if not math.isfinite(self.min_esd_um) or self.min_esd_um < 0:
            raise ConfigError(f"min ESD must be a number >= 0, got {self.min_esd_um}")
        if self.pixel_size_um is not None and not (
            math.isfinite(self.pixel_size_um) and self.pixel_size_um > 0
        ):
            raise ConfigError(f"process_pixel must be a number > 0, got {self.pixel_size_um}")
        if not 0 <= self.crop_padding <= 1000:
            raise ConfigError("crop_padding must be between 0 and 1000")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError("jpeg_quality must be between 1 and 100")

    @property
    def min_esd_px(self) -> float:
        """The ESD threshold in pixels: micrometres converted, or taken as pixels."""
        if self.pixel_size_um is None:
            return self.min_esd_um
        return self.min_esd_um / self.pixel_size_um

    @property
    def morphology_reach(self) -> int:
        """How far (px) the mask steps can move an edge; windows need this margin."""
        return self.erode_size + self.dilate_size + 2 * self.close_size + self.erode2_size

    def step_columns(self) -> dict[str, str]:
        """The baseline's `process_1st..7th_operation` columns (SPEC 2.7), names, order and
        texts as existing EcoTaxa projects and the dashboard's audit page know them,
        generated from these values."""

        def step(kind: str, **parameters: Any) -> str:
            return repr({"type": kind, "parameters": parameters})

        previous = "remove_previous_mask" if self.remove_previous_mask else "no_op"
        return {
            "process_1st_operation": step("remove_background", type="flat"),
            "process_2nd_operation": step("simple_threshold", algorithm="THRESH_TRIANGLE"),
            "process_3rd_operation": step(previous),
            "process_4th_operation": step(
                "erode", kernel_size=self.erode_size, kernel_shape="rectangle"
            ),
            "process_5th_operation": step(
                "dilate", kernel_size=self.dilate_size, kernel_shape="ellipse"
            ),
            "process_6th_operation": step(
                "close", kernel_size=self.close_size, kernel_shape="ellipse"
            ),
            "process_7th_operation": step(
                "erode", kernel_size=self.erode2_size, kernel_shape="ellipse"
            ),
        }

    def extra_columns(self) -> dict[str, str | float | int]:
        """What this project records beyond the baseline: the minimum ESD applied (the
        column real metadata also carries, whose value this replaces) and its unit."""
        return {
            "process_software": "planktoscope-segmenter",
            "process_min_ESD": self.min_esd_um,
            "process_min_esd_unit": "um" if self.pixel_size_um is not None else "px",
            "process_min_esd_px": round(self.min_esd_px, 6),
        }


@dataclass(frozen=True, slots=True)
class RunSettings:
    """What a run does around the pipeline (CLI flags, MQTT `settings`)."""

    force: bool = False
    recursive: bool = True
    ecotaxa: bool = True
    keep: bool = False
    process_id: str | None = None
    workers: int = 0  # 0: default_workers()
    min_esd_um: float = 20.0
    remove_previous_mask: bool = False

    def __post_init__(self) -> None:
        if self.workers < 0 or self.workers > 256:
            raise ConfigError(f"worker count must be between 1 and 256, got {self.workers}")
        if not math.isfinite(self.min_esd_um) or self.min_esd_um < 0:
            raise ConfigError(f"min ESD must be a number >= 0, got {self.min_esd_um}")
        if self.process_id is not None and (
            len(self.process_id) > 64 or any(c in self.process_id for c in "\t\r\n/\\")
        ):
            raise ConfigError("process_id must be at most 64 characters, no tabs, newlines or /")

    @property
    def worker_count(self) -> int:
        return self.workers or default_workers()

    def params(self, pixel_size_um: float | None) -> Params:
        return Params(
            min_esd_um=self.min_esd_um,
            pixel_size_um=pixel_size_um,
            remove_previous_mask=self.remove_previous_mask,
        )
