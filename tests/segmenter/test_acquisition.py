"""Reading real PlanktoScope metadata as the old program did."""

from __future__ import annotations

from pathlib import Path

from segmenter.acquisition import ecotaxa_metadata


def test_camera_resolution_given_as_a_list_becomes_text() -> None:
    """Its export turned a non-text `acq_camera_resolution` into `WxH`."""
    meta = ecotaxa_metadata(
        {"acq_id": "a", "sample_id": "s", "acq_camera_resolution": [4056, 3040]}, Path("x/a")
    )
    assert meta["acq_camera_resolution"] == "4056x3040"


def test_ids_given_as_numbers_are_text_and_other_keys_dropped() -> None:
    meta = ecotaxa_metadata({"acq_id": 3, "sample_id": 12, "description": "x"}, Path("x/3"))
    assert meta == {"acq_id": "3", "sample_id": "12"}
