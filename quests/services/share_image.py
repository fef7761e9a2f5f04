"""The share card as a PNG (1200 x 630, the size link previews use), drawn with Pillow.

PNG rather than SVG: the sites and chat apps that unfurl links (Open Graph `og:image`) do
not show SVG images. The font is the one Pillow ships, so no system font is needed; a callsign
(any alphabet) is written in DejaVu Sans where the system has it, for its wider coverage."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from quests.services.share_card import ShareCard

WIDTH, HEIGHT = 1200, 630
BACKGROUND = (7, 11, 26)
PANEL = (18, 27, 58)
LINE = (43, 58, 107)
TEXT = (238, 242, 255)
MUTED = (180, 191, 230)
ACCENT = (242, 184, 75)
RIGHT = (110, 231, 160)
WRONG = (255, 154, 154)
INK = (8, 20, 14)


# Debian's fonts-dejavu-core; elsewhere the callsign falls back to Pillow's own font.
WIDE_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@cache
def _font(size: int, *, wide: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if wide and WIDE_FONT.exists():
        return ImageFont.truetype(str(WIDE_FONT), size=size)
    return ImageFont.load_default(size=size)


def _mark(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], right: bool) -> None:
    """A tick or a cross inside the square: right and wrong differ by shape, not colour alone."""
    x0, y0, x1, y1 = box
    size = x1 - x0
    pad = size // 4
    if right:
        points = [(x0 + pad, y0 + size // 2), (x0 + size * 5 // 12, y1 - pad), (x1 - pad, y0 + pad)]
        draw.line(points, fill=INK, width=size // 9, joint="curve")
    else:
        draw.line([(x0 + pad, y0 + pad), (x1 - pad, y1 - pad)], fill=INK, width=size // 9)
        draw.line([(x0 + pad, y1 - pad), (x1 - pad, y0 + pad)], fill=INK, width=size // 9)


def share_png(card: ShareCard) -> bytes:
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((40, 40, WIDTH - 40, HEIGHT - 40), radius=36, fill=PANEL, outline=LINE, width=3)
    draw.ellipse((90, 92, 130, 132), fill=ACCENT)
    draw.text((150, 86), "CosmosQuest daily", font=_font(44), fill=TEXT)
    draw.text((90, 160), f"{card.day.day} {card.day:%B %Y} · {card.quest_title}", font=_font(34), fill=MUTED)
    size, gap, top = 150, 36, 240
    for i, right in enumerate(card.marks):
        x0 = 90 + i * (size + gap)
        box = (x0, top, x0 + size, top + size)
        draw.rounded_rectangle(box, radius=22, fill=RIGHT if right else WRONG)
        _mark(draw, box, right)
    score_x = 90 + len(card.marks) * (size + gap) + 30
    draw.text((score_x, top + 10), f"{card.correct}/{len(card.marks)}", font=_font(96), fill=TEXT)
    draw.text((score_x, top + 120), f"in {card.time}", font=_font(40), fill=MUTED)
    streak = f"{card.streak}-day streak" if card.streak > 1 else "First day of a streak"
    draw.text((90, 440), f"Pilot {card.callsign} · {streak}", font=_font(34, wide=True), fill=TEXT)
    draw.text((90, 500), "One mission a day for every pilot. Can you beat it?", font=_font(32), fill=ACCENT)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
