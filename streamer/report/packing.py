"""Shelf packing: rectangles placed left to right in rows, in the order given, until the
next row would go past the height limit. Pure: sizes in, positions out."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Shelves:
    """Rows of rectangles inside `width` x `max_height`, `gap` pixels apart."""

    width: int
    max_height: int
    gap: int = 4
    x: int = 0  # where the next rectangle goes in the current row
    y: int = 0  # top of the current row
    row_height: int = 0
    full: bool = False  # a rectangle did not fit below the last row: nothing more goes in
    placed: list[tuple[int, int, int, int]] = field(default_factory=list)  # x, y, w, h

    def place(self, w: int, h: int) -> tuple[int, int] | None:
        """Top-left corner for a `w` x `h` rectangle, or None when it does not fit (then
        the packing is full: later, smaller ones are not squeezed in, so the mosaic stays
        largest first). A rectangle wider than the mosaic never fits."""
        if self.full or w > self.width or h > self.max_height:
            return None
        if self.x > 0 and self.x + w > self.width:  # a new row
            self.x, self.y, self.row_height = 0, self.y + self.row_height + self.gap, 0
        if self.y + h > self.max_height:
            self.full = True
            return None
        corner = (self.x, self.y)
        self.placed.append((self.x, self.y, w, h))
        self.x += w + self.gap
        self.row_height = max(self.row_height, h)
        return corner

    @property
    def height(self) -> int:
        """The height the placed rectangles use."""
        return max((y + h for _x, y, _w, h in self.placed), default=0)
