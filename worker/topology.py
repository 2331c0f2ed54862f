"""skimage's integer region properties, exactly, with OpenCV on the region's own crop.

`area_filled`, `image_filled`, `euler_number` and the pixel histogram behind `perimeter`
are counts: any exact way of counting gives skimage's values, and these take a few
OpenCV calls on the crop padded by one pixel instead of scipy.ndimage's iterated
binary dilation and convolutions (~2.5 ms an object). The perimeter's last step is
the weighted sum of an equal histogram, summed in a fixed order (below).

- skimage fills holes with an 8-connected structure: a hole is a background component,
  8-connected, that does not reach the outside.
- `euler_number` (connectivity 2) is the 8-connected components of the region less its
  4-connected holes; a region is one 8-connected component (the labelling's), so it is
  1 less its holes.
- `perimeter(image, 4)`: border = image minus its cross erosion (outside is 0), convolved
  with [[10, 2, 10], [2, 1, 2], [10, 2, 10]] (outside is 0), histogram of the crop.
  skimage ends with the dot product `histogram @ weights`, which goes to OpenBLAS, whose
  CPU-specific kernels round differently (with FMA, as on an AVX2 machine, it differs
  from the old program's outputs in the last bit on a third of the baseline's objects).
  The rounded products summed as numpy sums them, `np.sum(histogram * weights)`, give
  the baseline's values on every one of its 547 objects, on any CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Mask = npt.NDArray[np.bool_]

_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)
_PERIMETER_KERNEL = np.array([[10, 2, 10], [2, 1, 2], [10, 2, 10]], np.float32)
_PERIMETER_WEIGHTS = np.zeros(50, dtype=np.float64)  # skimage's, built as it builds them
_PERIMETER_WEIGHTS[[5, 7, 15, 17, 25, 27]] = 1
_PERIMETER_WEIGHTS[[21, 33]] = math.sqrt(2)
_PERIMETER_WEIGHTS[[13, 23]] = (1 + math.sqrt(2)) / 2


@dataclass(frozen=True, slots=True)
class Topology:
    filled: Mask  # skimage's image_filled
    area_filled: int
    euler_number: int
    perimeter: float


def _padded(image: Mask) -> npt.NDArray[np.uint8]:
    padded = cv2.copyMakeBorder(image.view(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    return np.asarray(padded, np.uint8)


def _components(
    binary: npt.NDArray[np.uint8], connectivity: int
) -> tuple[int, npt.NDArray[np.int32]]:
    n, labels = cv2.connectedComponents(binary, connectivity=connectivity, ltype=cv2.CV_32S)
    return int(n), np.asarray(labels, np.int32)


def perimeter_histogram(padded: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """skimage's `np.bincount(perimeter_image.ravel(), minlength=50)` for the crop
    inside the one-pixel zero border of `padded` (0/1 values)."""
    eroded = cv2.erode(padded, _CROSS, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    border = cv2.subtract(padded, eroded)
    codes = cv2.filter2D(border, -1, _PERIMETER_KERNEL, borderType=cv2.BORDER_CONSTANT)
    return np.bincount(codes[1:-1, 1:-1].ravel(), minlength=50)


def perimeter(image: Mask) -> float:
    """skimage.measure.perimeter(image, 4), summed as the old program's outputs were."""
    return weighted_perimeter(perimeter_histogram(_padded(image)))


def weighted_perimeter(histogram: npt.NDArray[np.int64]) -> float:
    """The histogram's weighted sum: rounded products, numpy's summation (module doc)."""
    return float(np.sum(histogram * _PERIMETER_WEIGHTS))


def topology(image: Mask) -> Topology:
    """Filled image, filled area, Euler number and perimeter of a region's crop: one
    8-connected component, as the labelling gives it."""
    padded = _padded(image)
    background = np.asarray(1 - padded, np.uint8)
    _, outside8 = _components(background, 8)
    filled = outside8[1:-1, 1:-1] != outside8[0, 0]
    holes4 = _components(background, 4)[0] - 2  # less the region's label 0 and the outside
    hist = perimeter_histogram(padded)
    return Topology(filled, int(np.count_nonzero(filled)), 1 - holes4, weighted_perimeter(hist))
