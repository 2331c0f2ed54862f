"""The frozen, validated parameters of the per-frame pipeline (SPEC section 2).

The mask steps read their kernels from `Params` and the EcoTaxa `process_*` step columns
are generated from it, so what is recorded cannot drift from what ran. The object
columns per output contract are `streamer.contract`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from worker.errors import ConfigError


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
