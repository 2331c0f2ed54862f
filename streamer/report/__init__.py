"""The quick-look report of one acquisition, written beside its archive in export/ecotaxa/:
`mosaic_<acq_id>.jpg` (the crops, largest first, with scale bars), `size_spectrum_<acq_id>.png`
(the NBSS and the ESD histogram; needs matplotlib), `summary_<acq_id>.json` and the QC
table `qc_<acq_id>.tsv` (streamer.qc: focus, background, static objects per frame) and
its figure `qc_plot_<acq_id>.png` (qc_plot.py, matplotlib).

nbss.py      the size spectrum and its fit (pure)
packing.py   shelf packing of rectangles (pure)
mosaic.py    the mosaic image (OpenCV)
spectrum.py  the size-spectrum figure (matplotlib, optional)
summary.py   the summary's figures (pure)
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamer import qc as quality
from streamer.errors import storage_error
from streamer.files import atomic_write, remove_temporaries
from streamer.journal import CommittedFrame, FrameStore
from streamer.layout import REPORT_FILES, Layout
from streamer.report import mosaic, nbss, qc_plot, spectrum, summary

log = logging.getLogger(__name__)

KINDS = tuple(REPORT_FILES)  # the report's files, by kind (streamer.layout)


@dataclass(frozen=True, slots=True)
class Report:
    summary: Path
    mosaic: Path
    size_spectrum: Path | None  # None without matplotlib
    figures: dict[str, Any]


def _crops(
    folder: Path, names: list[str], pixel_um: float | None
) -> Iterator[tuple[mosaic.Image, float | None, str]]:
    for name in names:
        image = cv2.imread(str(folder / name), cv2.IMREAD_COLOR)
        if image is None:
            log.warning("%s: crop %s is unreadable, left out of the mosaic", folder, name)
            continue
        yield np.asarray(image, np.uint8), pixel_um, Path(name).stem  # the object id


def write_report(
    store: FrameStore,
    layout: Layout,
    *,
    metadata: Mapping[str, object],
    pixel_um: float | None,
    total_frames: int,
    seconds: float | None,
    mosaic_order: str = "largest",
    qc: Mapping[str, Any] | None = None,
    flow_cell: Mapping[str, Any] | None = None,
) -> Report:
    """Read the committed frames once and write the report's files (atomically);
    `mosaic_order`: see mosaic.select; `qc`: the QC figures and warnings of the run
    (segmenter.qc), else streamer.qc's figures of the journal; `flow_cell`: the flow
    cell's figures (from the flats, which the journal does not hold), added as given."""
    started = time.monotonic()
    frames: list[CommittedFrame] = []
    sized: list[tuple[float, str]] = []  # (area in px, crop file name)
    counts: list[int] = []  # objects per frame (the frames are kept without them)
    for frame in store.read_frames():
        sized += [(float(o.features["area"]), o.img_file_name) for o in frame.objects]
        counts.append(len(frame.objects))
        frames.append(
            CommittedFrame(frame.index, frame.name, frame.flat_from, (), (), frame.failed, frame.qc)
        )
    unit = "um" if pixel_um is not None else "px"
    esds = [nbss.esd_from_area(area, pixel_um) for area, _name in sized]
    good = sum(1 for f in frames if f.failed is None)
    volume = summary.segmented_volume_ml(metadata, total_frames, good)
    spec = nbss.compute(esds, volume or 1.0)
    figures = summary.figures(
        layout.acq_id,
        total_frames,
        frames=frames,
        esds=esds,
        unit=unit,
        metadata=metadata,
        spectrum=spec,
        seconds=seconds,
    )

    try:
        layout.archive.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(layout.archive.parent, exc) from exc
    for kind in KINDS:  # what a killed report left
        remove_temporaries(layout.archive.parent, f".{kind}_{layout.file_id}.")
    names = mosaic.select([(e, n) for e, (_a, n) in zip(esds, sized, strict=True)], mosaic_order)
    crops = _crops(store.objects_dir, names, pixel_um)
    picture = mosaic.render(crops, layout.acq_id, total=len(sized), order=mosaic_order)
    mosaic_path = layout.report_file("mosaic", ".jpg")
    atomic_write(mosaic_path, mosaic.encode_jpeg(picture.image))
    figures["mosaic_objects"] = picture.shown

    spectrum_path: Path | None = layout.report_file("size_spectrum", ".png")
    if spectrum.have_matplotlib():
        assert spectrum_path is not None
        per = "mL" if volume else "acquisition"
        title = spectrum.Title(
            str(metadata.get("sample_id", "?")), layout.acq_id,
            str(metadata.get("object_date") or metadata.get("acq_local_datetime") or "?"),
            summary.imaged_volume_ml(metadata), len(esds),
        )  # fmt: skip
        png = spectrum.render_png(spec, esds, unit=unit, per=per, title=title)
        atomic_write(spectrum_path, png)
    else:
        log.warning("%s", spectrum.MISSING)
        figures["notes"].append(spectrum.MISSING)
        spectrum_path = None
    figures.update(flow_cell or {})
    figures["qc"] = dict(qc) if qc is not None else quality.figures(frames)
    quality.write_table(layout.report_file("qc", ".tsv"), frames, counts)
    if spectrum.have_matplotlib():  # else noted above, once
        png = qc_plot.render_png(frames, figures["qc"].get("warnings", []), f"QC: {layout.acq_id}")
        atomic_write(layout.report_file("qc_plot", ".png"), png)
    figures["report_seconds"] = round(time.monotonic() - started, 3)
    summary_path = layout.report_file("summary", ".json")
    text = json.dumps(figures, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    atomic_write(summary_path, text.encode("utf-8"))
    return Report(summary_path, mosaic_path, spectrum_path, figures)


def read_summary(layout: Layout) -> dict[str, Any]:
    """The figures of the summary this module wrote for `layout` ({} when there is none,
    or it cannot be read: a report made anew replaces it)."""
    try:
        figures = json.loads(layout.report_file("summary", ".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return figures if isinstance(figures, dict) else {}
