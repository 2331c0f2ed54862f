"""What the figures were measured on: CPU, cores, memory, Python and library versions."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

import cv2
import numpy as np

import segmenter
from benchmark.common import Json


def cpu_model(cpuinfo: str | None = None) -> str:
    """CPU model from /proc/cpuinfo ('model name' on x86, 'Model' on a Raspberry Pi)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    found: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip():
            found.setdefault(key.strip().lower(), value.strip())
    for key in ("model name", "model", "hardware", "cpu model", "processor"):
        if key in found and not found[key].isdigit():
            return found[key]
    return platform.processor() or platform.machine() or "unknown"


def meminfo_bytes(key: str = "MemTotal") -> int:
    """A /proc/meminfo figure in bytes (0 when unknown)."""
    try:
        text = Path("/proc/meminfo").read_text(encoding="utf-8")
    except OSError:
        return 0
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == key:
            parts = value.split()
            return int(parts[0]) * 1024 if parts and parts[0].isdigit() else 0
    return 0


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> Json:
    """Every field the JSON report's `machine` object documents."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count() or 1,
        "usable_cores": usable,
        "memory_bytes": meminfo_bytes("MemTotal"),
        "memory_available_bytes": meminfo_bytes("MemAvailable"),
        "arch": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "scikit_image": _version("scikit-image"),
        "paho_mqtt": _version("paho-mqtt"),
        "segmenter": segmenter.__version__,
        "load_average": list(os.getloadavg()),
    }
