"""The mosaic: an acquisition's crops packed in rows, largest first (or one of each size
class in turn: `select`), each above a scale bar in micrometres (pixels when the pixel
size is unknown) and its object id. OpenCV and numpy only."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from streamer.report.nbss import size_class
from streamer.report.packing import Shelves

Image = npt.NDArray[np.uint8]

WIDTH, MAX_HEIGHT = 1600, 2400  # px: the mosaic's size limit
MAX_TILE = 500  # px: a crop larger than this is shown scaled down (its bar says so)
GAP = 6
FONT, FONT_SCALE, TEXT = cv2.FONT_HERSHEY_PLAIN, 0.9, (40, 40, 40)
BAR_STRIP = 16  # px below each crop: the bar and its label
ID_STRIP = 20  # px below the bar: the object id, to find it in EcoTaxa (text 14 + 4 below)
ORDERS = {"largest": "largest first", "by-size": "one of each size class in turn"}
HEADER = 28
BACKGROUND = 255


@dataclass(frozen=True, slots=True)
class Mosaic:
    image: Image
    shown: int  # crops in the mosaic


def nice_length(limit: float) -> float:
    """The largest 1, 2 or 5 x 10^k not above `limit` (> 0)."""
    power = 10 ** math.floor(math.log10(limit))
    return float(max(f * power for f in (1, 2, 5) if f * power <= limit * (1 + 1e-9)))


def _label(value: float, unit: str) -> str:
    return f"{value:g} {unit}"


def _text_width(text: str) -> int:
    (w, _h), _base = cv2.getTextSize(text, FONT, FONT_SCALE, 1)
    return int(w)


def select(sized: Sequence[tuple[float, str]], order: str) -> list[str]:
    """The crops' names (of (ESD, name) pairs) in mosaic order: `largest` first, or
    `by-size`: the largest of each ESD class (the size spectrum's), from the largest
    class to the smallest, then the second of each, and so on, so that the many small
    objects are seen too."""
    largest = sorted(sized, key=lambda s: -s[0])
    if order == "largest":
        return [name for _esd, name in largest]
    if order != "by-size":
        raise ValueError(f"mosaic order {order!r}: one of {', '.join(ORDERS)}")
    classes: dict[int, list[str]] = defaultdict(list)
    for esd, name in largest:
        classes[size_class(esd) if esd > 0 else -(10**6)].append(name)
    columns = [classes[k] for k in sorted(classes, reverse=True)]
    return [c[i] for i in range(max(map(len, columns), default=0)) for c in columns if i < len(c)]


def tile(crop: Image, pixel_um: float | None, object_id: str = "") -> Image:
    """The crop (scaled to fit MAX_TILE) above its scale bar and its `object_id`."""
    h, w = crop.shape[:2]
    scale = min(1.0, MAX_TILE / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        crop = np.asarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA), np.uint8)
        h, w = crop.shape[:2]
    unit = "um" if pixel_um is not None else "px"
    per_px = (pixel_um or 1.0) / scale  # um (or source px) per shown pixel
    length = nice_length(max(w * 0.5, 4) * per_px)
    bar = max(1, round(length / per_px))
    label = _label(length, unit)
    width = max(w, bar + 4 + _text_width(label))
    out = np.full((h + BAR_STRIP, width, 3), BACKGROUND, np.uint8)
    out[:h, :w] = crop if crop.ndim == 3 else crop[:, :, None]
    y = h + BAR_STRIP // 2
    cv2.rectangle(out, (0, y - 1), (bar - 1, y + 1), (0, 0, 0), -1)
    cv2.putText(out, label, (bar + 4, h + BAR_STRIP - 3), FONT, FONT_SCALE, TEXT, 1, cv2.LINE_AA)
    if not object_id:
        return out
    width = max(width, _text_width(object_id))
    labelled = np.full((out.shape[0] + ID_STRIP, width, 3), BACKGROUND, np.uint8)
    labelled[: out.shape[0], : out.shape[1]] = out
    cv2.putText(labelled, object_id, (0, out.shape[0] + 15), FONT, FONT_SCALE, TEXT, 1,
                cv2.LINE_AA)  # fmt: skip
    return labelled


def render(
    crops: Iterable[tuple[Image, float | None, str]],
    title: str,
    *,
    total: int,
    width: int = WIDTH,
    max_height: int = MAX_HEIGHT,
    order: str = "largest",
) -> Mosaic:
    """Pack the crops (in `order`, with their um per pixel and object id) until the
    mosaic is full; `title` and how many of `total` are shown go in a header line."""
    shelves = Shelves(width, max_height - HEADER, GAP)
    tiles: list[tuple[Image, tuple[int, int]]] = []
    for crop, pixel_um, object_id in crops:
        image = tile(crop, pixel_um, object_id)
        corner = shelves.place(min(image.shape[1], width), image.shape[0])
        if corner is None:
            break
        tiles.append((image[:, :width], corner))
    canvas = np.full((HEADER + max(shelves.height, 40), width, 3), BACKGROUND, np.uint8)
    for image, (x, y) in tiles:
        h, w = image.shape[:2]
        canvas[HEADER + y : HEADER + y + h, x : x + w] = image
    shown = len(tiles)
    words = f"{title}: {shown} of {total} objects, {ORDERS[order]}" if total else f"{title}: none"
    cv2.putText(canvas, words, (4, HEADER - 9), FONT, 1.2, TEXT, 1, cv2.LINE_AA)
    return Mosaic(canvas, shown)


def encode_jpeg(image: Image, quality: int = 90) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("OpenCV could not encode the mosaic")
    return bytes(data)
