"""What one benchmark run measures: frozen, validated, with `--quick` defaults."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PARTS = (
    *("stages", "baseline", "throughput", "flat", "process", "memory", "stop", "mqtt"),
    "preview",
)
FULL_SIZE = (4056, 3040)
QUICK_SIZE = (2028, 1520)


@dataclass(frozen=True, slots=True)
class BenchSettings:
    quick: bool = False
    acquisition: Path | None = None
    frames: int | None = None  # per synthetic density (16); all of a given acquisition
    objects: tuple[float, ...] = (6.0, 30.0)
    size: tuple[int, int] = FULL_SIZE
    max_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    repeats: int = 3
    baseline_frames: int = 3
    throughput_frames: int = 400  # 0: the dataset's own frames
    throughput_repeats: int = 1
    memory_frames: tuple[int, int] = (50, 400)
    memory_workers: int = 0  # 0: max_workers
    inflight_frames: int = 3
    stops: int = 10
    stop_frames: int = 40
    stop_max_delay: float = 2.0
    broker: str | None = None
    service_data_root: Path | None = None
    mqtt_rounds: int = 3
    mqtt_timeout: float = 600.0
    workdir: Path | None = None
    seed: int = 0
    skip: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        positive = {
            "frames": self.synth_frames,
            "max_workers": self.max_workers,
            "repeats": self.repeats,
            "baseline_frames": self.baseline_frames,
            "throughput_repeats": self.throughput_repeats,
            "inflight_frames": self.inflight_frames,
            "stops": self.stops,
            "stop_frames": self.stop_frames,
            "mqtt_rounds": self.mqtt_rounds,
        }
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if self.throughput_frames < 0:
            raise ValueError("throughput frames must be 0 (the dataset's) or more")
        if not self.objects or any(k < 0 for k in self.objects):
            raise ValueError("objects must be one or more numbers >= 0")
        if min(self.size) < 128:
            raise ValueError("frames must be at least 128x128")
        short, long = self.memory_frames
        if not 1 <= short < long:
            raise ValueError("memory frames must be SHORT LONG with 1 <= SHORT < LONG")
        if self.memory_workers < 0 or self.stop_max_delay < 0 or self.mqtt_timeout <= 0:
            raise ValueError("memory workers, stop delay and MQTT timeout must be positive")
        unknown = set(self.skip) - set(PARTS)
        if unknown:
            raise ValueError(f"unknown part(s) to skip: {', '.join(sorted(unknown))}")

    @property
    def synth_frames(self) -> int:
        return self.frames or 16

    @property
    def worker_counts(self) -> list[int]:
        """1 (the inline path) up to max_workers."""
        return list(range(1, self.max_workers + 1))

    @property
    def memory_worker_count(self) -> int:
        return self.memory_workers or self.max_workers

    def runs(self, part: str) -> bool:
        return part not in self.skip

    def describe_input(self) -> str:
        if self.acquisition is not None:
            return f"acquisition {self.acquisition}"
        densities = ", ".join(f"{k:g}" for k in self.objects)
        return (
            f"synthetic {self.size[0]}x{self.size[1]} JPEG, {self.synth_frames} frames per density "
            f"({densities} objects/frame), seed {self.seed}"
        )

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("acquisition", "service_data_root", "workdir"):
            out[key] = None if out[key] is None else str(out[key])
        out["worker_counts"] = self.worker_counts
        out["memory_workers"] = self.memory_worker_count
        out["input"] = self.describe_input()
        return out


QUICK: dict[str, Any] = {
    "frames": 6,
    "size": QUICK_SIZE,
    "repeats": 2,
    "baseline_frames": 2,
    "throughput_frames": 0,
    "throughput_repeats": 2,
    "memory_frames": (12, 48),
    "inflight_frames": 2,
    "stops": 5,
    "stop_frames": 24,
    "stop_max_delay": 0.8,
    "mqtt_rounds": 1,
}
