"""The figures of `summary_<acq_id>.json`, from what the journal holds. Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from streamer.journal import CommittedFrame
from streamer.report.nbss import Spectrum

VOLUME_KEY = "acq_imaged_volume"  # mL, for all of the acquisition's frames


def imaged_volume_ml(metadata: Mapping[str, object]) -> float | None:
    """metadata.json's imaged volume when it is a positive number, else None."""
    value = metadata.get(VOLUME_KEY)
    if isinstance(value, bool) or value in (None, ""):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def segmented_volume_ml(metadata: Mapping[str, object], frames: int, good: int) -> float | None:
    """The imaged volume of the frames that were segmented (failed frames saw none)."""
    volume = imaged_volume_ml(metadata)
    return None if volume is None or frames == 0 else volume * good / frames


def figures(
    acq_id: str,
    total_frames: int,
    *,
    frames: Sequence[CommittedFrame],
    esds: Sequence[float],
    unit: str,
    metadata: Mapping[str, object],
    spectrum: Spectrum,
    seconds: float | None,
) -> dict[str, Any]:
    """The summary: counts, concentration, ESD quartiles, NBSS fit, flat recalculations."""
    failed = [{"name": f.name, "reason": f.failed or ""} for f in frames if f.failed is not None]
    good = len(frames) - len(failed)
    volume = segmented_volume_ml(metadata, total_frames, good)
    objects = len(esds)
    quartiles = [float(q) for q in np.percentile(esds, [25, 50, 75])] if esds else None
    notes = []
    if volume is None:
        notes.append(f"metadata.json has no positive {VOLUME_KEY}: no concentration")
    if unit == "px":
        notes.append("metadata.json has no process_pixel: sizes in pixels")
    return {
        "acq_id": acq_id,
        "frames": total_frames,
        "frames_committed": len(frames),
        "failed_frames": failed,
        "objects": objects,
        "imaged_volume_ml": imaged_volume_ml(metadata),
        "segmented_volume_ml": volume,
        "objects_per_ml": None if volume is None else objects / volume,
        "esd_unit": unit,
        "esd_quartiles": quartiles,
        "nbss_slope": spectrum.slope,
        "nbss_intercept": spectrum.intercept,
        "nbss_fit_classes": list(spectrum.fit_range) if spectrum.fit_range else None,
        "nbss_unit": "per mL" if volume else "per acquisition (no imaged volume)",
        "flat_recalculations": max(0, len({f.flat_from for f in frames}) - 1),
        "seconds": seconds,
        "notes": notes,
    }
