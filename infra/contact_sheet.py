"""A contact sheet: every image of a run on one PNG, each with a caption under it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from processors.contact_tiles import CAPTION, INK, PAPER, TILE, draw_tile, grid

MARGIN = 6


@dataclass(frozen=True, slots=True)
class Tile:
    """One cell: the image (None if the request produced none) and its caption."""

    image: Image.Image | None
    caption: str


def write_contact_sheet(tiles: Sequence[Tile], path: Path, *, columns: int = 10) -> Path:
    """Lay ``tiles`` out in rows of ``columns`` and save the sheet as PNG at ``path``."""
    columns, rows = grid(len(tiles), columns)
    cell_w, cell_h = TILE + MARGIN, TILE + CAPTION + MARGIN
    sheet = Image.new("RGB", (MARGIN + columns * cell_w, MARGIN + rows * cell_h), PAPER)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for index, tile in enumerate(tiles):
        x = MARGIN + (index % columns) * cell_w
        y = MARGIN + (index // columns) * cell_h
        draw_tile(sheet, tile.image, x, y)
        draw.text((x, y + TILE + 1), tile.caption[:16], fill=INK, font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, format="PNG")
    return path
