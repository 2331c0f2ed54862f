"""`python -m tests.golden.cpu_digest`: one digest per output of the per-frame kernel, printed as
JSON with the code paths numpy and OpenCV chose, for tests/golden/test_cross_cpu.py to compare
between processes that run the same code with the libraries' CPU dispatch set
differently (OpenBLAS's kernel, numpy's and OpenCV's SIMD levels, Intel IPP, glibc's
libm variants).

What it covers: every feature of the regions of random masks over random colours (rings,
lines, speckle, crop edges), and whole frames: JPEG-encoded and decoded scenes, their
flat field, correction, gray, threshold, mask steps, regions, features and crop JPEGs, the
frame's QC (worker.qc) and the static check between consecutive frames, with the previous
frame's mask removed and kept. The arm64 leg (scripts/arm64.sh) runs it on both emulated
CPUs in place of the comparisons with the old method and skimage, which x86-64 runs: equal
digests carry those comparisons over to the Pi's CPUs.
"""

from __future__ import annotations

import hashlib
import importlib
import json

import cv2
import numpy as np
from skimage.measure import label, regionprops

from tests.worker.scenes import fast_flat, random_mask, scene
from worker.features import region_features
from worker.kernel import segment_frame
from worker.params import Params
from worker.qc import static_flags


def _add(digests: dict[str, hashlib._Hash], name: str, data: bytes) -> None:
    digests.setdefault(name, hashlib.sha256()).update(data)


def region_digests(digests: dict[str, hashlib._Hash], seed: int = 17, masks: int = 25) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(masks):
        mask = random_mask(rng) > 0
        color = rng.integers(0, 256, (*mask.shape, 3), dtype=np.uint8)
        gray = np.asarray(cv2.cvtColor(color, cv2.COLOR_BGR2GRAY), np.uint8)
        for props in regionprops(label(mask, connectivity=2)):  # type: ignore[no-untyped-call]
            r0, c0, r1, c1 = props.bbox
            box = (slice(r0, r1), slice(c0, c1))
            feats = region_features(props.image, color[box], gray_crop=gray[box], offset=(r0, c0))
            for name, value in feats.items():
                _add(digests, f"region {name}", float(value).hex().encode())


def frame_digests(digests: dict[str, hashlib._Hash], seed: int = 5, frames: int = 12) -> None:
    rng = np.random.default_rng(seed)
    scenes = [scene(rng, 480, 640, n=int(rng.integers(4, 14))) for _ in range(frames)]
    decoded = []
    for image in scenes:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        assert ok
        _add(digests, "frame jpeg", data.tobytes())
        decoded.append(np.asarray(cv2.imdecode(data, cv2.IMREAD_COLOR), np.uint8))
        _add(digests, "frame decoded", decoded[-1].tobytes())
    flat = fast_flat(decoded[:9])
    _add(digests, "frame flat", flat.tobytes())
    for remove_previous in (True, False):  # the two mask paths (the old method's tests')
        segment_frames(digests, decoded, flat, remove_previous=remove_previous)


def segment_frames(
    digests: dict[str, hashlib._Hash],
    decoded: list[np.ndarray],
    flat: np.ndarray,
    *,
    remove_previous: bool,
) -> None:
    kind = "frame" if remove_previous else "frame (previous mask kept)"
    params = Params(min_esd_um=3.0, remove_previous_mask=remove_previous)
    previous = None
    contours: list[list[list[int]]] | None = None
    for frame in decoded:
        seg, previous = segment_frame(frame.copy(), flat, params=params, previous=previous)
        _add(digests, f"{kind} threshold", previous.tobytes())
        assert seg.qc is not None  # the QC (worker.qc), and the static check at commit
        _add(digests, f"{kind} qc", repr(seg.qc.to_json()).encode())
        _add(digests, f"{kind} static", bytes(static_flags(contours, seg.contours)))
        contours = seg.contours
        for feats, crop in zip(seg.features, seg.crops, strict=True):
            _add(digests, f"{kind} crops", crop)
            for name, value in feats.items():
                _add(digests, f"{kind} {name}", float(value).hex().encode())


def digests() -> dict[str, str]:
    out: dict[str, hashlib._Hash] = {}
    region_digests(out)
    frame_digests(out)
    return {name: sha.hexdigest()[:16] for name, sha in sorted(out.items())}


def code_paths() -> dict[str, str]:
    """numpy's target for float64 addition, OpenCV's CPU features (a `?` marks one
    disabled) and whether it uses Intel IPP."""
    targets = importlib.import_module("numpy._core._multiarray_umath").__cpu_targets_info__
    return {
        "numpy": str(targets["add"]["ddd"]["current"]),
        "opencv": str(cv2.getCPUFeaturesLine()),
        "ipp": str(cv2.ipp.useIPP()),
    }


if __name__ == "__main__":
    print(json.dumps({"paths": code_paths(), "digests": digests()}))
