"""The look the contact sheets share (the demo's in ``infra`` and a shadow evaluation's):
the tile and caption sizes, the colours, and how one tile is drawn. It lives in a role that
``infra`` may import, since the roles may not import ``infra``."""

from __future__ import annotations

import math

from PIL import Image, ImageDraw

TILE = 96
CAPTION = 14
PAPER = (255, 255, 255)
INK = (40, 40, 40)
MISSING = (230, 200, 200)


def grid(cells: int, columns: int) -> tuple[int, int]:
    """Columns and rows for ``cells`` cells in rows of at most ``columns`` (at least 1x1)."""
    columns = max(1, min(columns, cells))
    return columns, max(1, math.ceil(cells / columns))


def draw_tile(sheet: Image.Image, image: Image.Image | None, x: int, y: int) -> None:
    """``image`` scaled to a ``TILE`` square at ``(x, y)``, or a blank one where it is None."""
    if image is None:
        ImageDraw.Draw(sheet).rectangle((x, y, x + TILE - 1, y + TILE - 1), fill=MISSING)
    else:
        sheet.paste(image.convert("RGB").resize((TILE, TILE)), (x, y))
