"""What the live preview and the flow-cell map cost (part `preview`).

Per previewed frame: `worker.preview.render` on the dataset's corrected frames, as a
worker runs it (one OpenCV thread), with the frame's kernel time beside it for scale.
Per flat: the flow cell's map and figures (`engine.flowcell`) in the parent. Per run: the
same acquisition segmented without and with previews (the service's default interval)
in turn, the best of each kept, the previews made counted; the difference is within the
run-to-run noise unless the previews cost something the per-frame figure does not show.
"""

from __future__ import annotations

import time

import cv2

from benchmark.common import Json, median, rounded
from benchmark.inputs import Dataset
from segmenter import rules
from segmenter.engine import Progress, Segmenter
from segmenter.engine.flowcell import dark_pixels, shrunk
from segmenter.settings import RunSettings
from worker.correct import U8
from worker.decode import read_frame
from worker.kernel import segment_frame
from worker.params import Params
from worker.preview import PreviewRequest, render

FRAMES = 4  # frames timed per repeat


def measure_preview(ds: Dataset, flat: U8, *, params: Params, repeats: int, workers: int) -> Json:
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # as in a worker process
    kernel: list[float] = []
    preview: list[float] = []
    sizes: list[int] = []
    try:
        for _ in range(repeats):
            for path in ds.frames[:FRAMES]:
                frame = read_frame(path)
                started = time.perf_counter()
                seg, _ = segment_frame(frame, flat, params=params)
                kernel.append(time.perf_counter() - started)
                boxes = [
                    (int(f["bx"]), int(f["by"]), int(f["bw"]), int(f["bh"])) for f in seg.features
                ]
                started = time.perf_counter()
                jpeg = render(frame, boxes, request=PreviewRequest(0))
                preview.append(time.perf_counter() - started)
                sizes.append(len(jpeg))
        started = time.perf_counter()
        dark_pixels(shrunk(flat))  # the flat as the pool has it
        flow_cell = time.perf_counter() - started
    finally:
        cv2.setNumThreads(threads)
    return {
        "frames": min(FRAMES, len(ds.frames)),
        "kernel_s": rounded(median(kernel)),
        "preview_s": rounded(median(preview)),
        "preview_share": rounded(median(preview) / median(kernel), 4),
        "preview_bytes_max": max(sizes),
        "flow_cell_per_flat_s": rounded(flow_cell),
        "run": measure_preview_run(ds, workers=workers),
    }


def measure_preview_run(ds: Dataset, *, workers: int, rounds: int = 2) -> Json:
    """The acquisition with previews every rules.PREVIEW_S seconds and without, in turn
    (`rounds` of each, the fastest kept: the machine's other work moves either)."""
    out: Json = {"every_s": rules.PREVIEW_S, "workers": workers, "rounds": rounds}
    shown: list[int] = []

    def count(event: Progress) -> None:
        if event.preview is not None:
            shown.append(event.preview.index)

    times: dict[str, list[float]] = {"without_s": [], "with_s": []}
    with Segmenter(workers) as seg:
        for _ in range(rounds):
            for name, every in (("without_s", 0.0), ("with_s", rules.PREVIEW_S)):
                shown.clear()
                settings = RunSettings(preview_s=every, force=True, report=False)
                started = time.perf_counter()
                (summary,) = seg.run(
                    [ds.folder], settings, data_root=ds.data_root, on_progress=count
                )
                times[name].append(time.perf_counter() - started)
                if every:
                    out["previews"] = len(shown)
    out |= {name: rounded(min(values)) for name, values in times.items()}
    out["frames"] = summary.frames
    return out


def preview_lines(entry: Json | None) -> list[str]:
    """The table's lines of part `preview`."""
    if not entry:
        return []
    run = entry["run"]
    return [
        f"Preview: {entry['preview_s'] * 1e3:.1f} ms per previewed frame "
        f"({entry['preview_share']:.1%} of its {entry['kernel_s'] * 1e3:.0f} ms kernel), "
        f"at most {entry['preview_bytes_max'] / 1e3:.0f} kB; flow cell map "
        f"{entry['flow_cell_per_flat_s'] * 1e3:.0f} ms per flat",
        f"  per run: {run['frames']} frames, {run['workers']} workers, "
        f"{run['previews']} previews (every {run['every_s']:g} s): "
        f"{run['with_s']:.2f} s with, {run['without_s']:.2f} s without (best of {run['rounds']})",
    ]
