"""The root of the one error hierarchy, and the errors the kernel raises. Every message
says what went wrong and what to do. `streamer.errors` and `segmenter.errors` add theirs."""

from __future__ import annotations


class SegmenterError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(SegmenterError):
    """A setting or command field is invalid."""


class FrameError(SegmenterError):
    """One frame cannot be segmented (unreadable, truncated, wrong size)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"frame {name}: {reason}")
        self.name = name
        self.reason = reason

    def __reduce__(self) -> tuple[type[FrameError], tuple[str, str]]:
        # raised in worker processes: must unpickle in the parent (the default would
        # call FrameError(message) and break the pool)
        return (FrameError, (self.name, self.reason))
