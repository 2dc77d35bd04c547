"""The side-by-side contact sheet PNG of a shadow evaluation (each pair: baseline left,
candidate right), recorded next to its JSON report."""

from __future__ import annotations

import io
from collections.abc import Mapping

from PIL import Image, ImageDraw, ImageFont

from processors.contact_tiles import CAPTION, INK, PAPER, TILE, draw_tile, grid
from processors.store.evaluation import Pair
from processors.store.evaluation_figures import Evaluation

GAP = 4
MARGIN = 8
HEADER = 18
PAIRS_PER_ROW = 4
FRAME = (190, 190, 190)


def _caption(want: int | None, got: int | None, error: str | None) -> str:
    if error is not None:
        return error[:16]
    if want is None:
        return ""
    return f"read {got}" + (" ok" if got == want else f" (want {want})")


def contact_sheet(evaluation: Evaluation, pairs: Mapping[str, Pair]) -> bytes:
    """The PNG of every pair (``pairs`` by original id): baseline left, candidate right,
    captioned with the digit read back (or the error) and the pair's SSIM."""
    figures = evaluation.comparison.pairs
    columns, rows = grid(len(figures), PAIRS_PER_ROW)
    cell_w, cell_h = 2 * TILE + GAP + MARGIN * 2, TILE + 2 * CAPTION + MARGIN
    size = (MARGIN + columns * cell_w, HEADER + MARGIN + rows * cell_h)
    sheet = Image.new("RGB", size, PAPER)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    title = (
        f"{evaluation.name}: baseline {evaluation.baseline} (left) | candidate "
        f"{evaluation.candidate} (right) | {'PASS' if evaluation.passed else 'FAIL'}"
    )
    draw.text((MARGIN, 4), title, fill=INK, font=font)
    for index, figure in enumerate(figures):
        x = MARGIN + (index % columns) * cell_w
        y = HEADER + MARGIN + (index // columns) * cell_h
        pair = pairs.get(figure.original_id)
        frame = (x - 3, y - 3, x + 2 * TILE + GAP + 2, y + TILE + 2 * CAPTION + 1)
        draw.rectangle(frame, outline=FRAME)  # one frame per pair keeps the pairs apart
        draw_tile(sheet, pair.baseline.image if pair else None, x, y)
        draw_tile(sheet, pair.candidate.image if pair else None, x + TILE + GAP, y)
        want = figure.expected_digit
        left = _caption(want, figure.baseline_digit, figure.baseline_error)
        right = _caption(want, figure.candidate_digit, figure.candidate_error)
        draw.text((x, y + TILE + 1), left, fill=INK, font=font)
        draw.text((x + TILE + GAP, y + TILE + 1), right, fill=INK, font=font)
        similarity = "" if figure.ssim is None else f"ssim {figure.ssim:.2f}"
        draw.text(
            (x, y + TILE + CAPTION), f"{figure.prompt[:12]} {similarity}", font=font, fill=INK
        )
    out = io.BytesIO()
    sheet.save(out, format="PNG")
    return out.getvalue()
