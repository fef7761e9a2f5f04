"""Charts drawn server-side as inline SVG: no chart library, no CDN, nothing to load.

Every label that came from the database is escaped; numbers are formatted here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

OUTCOME_SERIES = (
    ("successes", "Success", "cq-ok"),
    ("rate_limited", "429", "cq-429"),
    ("errors", "Error", "cq-err"),
    ("pending", "In flight", "cq-pending"),
)


def _fmt(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    if value < 10 and value != int(value):  # the middle tick of a 0-5 axis is 2.5, not "2"
        return f"{value:.1f}"
    return f"{value:.0f}"


def _nice_max(value: float) -> float:
    """Round an axis maximum up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1
    power = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _tick_step(buckets: int, plot_width: float) -> int:
    """Label every n-th bucket so that time labels ("HH:MM") stay about 56 units apart."""
    return max(1, math.ceil(buckets / max(2, int(plot_width // 56))))


def _svg(width: int, height: int, label: str, body: list[str], css: str = "") -> SafeString:
    return mark_safe(
        f'<svg class="cq-chart {css}" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMidYMid meet"><title>{escape(label)}</title>'
        + "".join(body)
        + "</svg>"
    )


@dataclass(frozen=True)
class Bucket:
    start: datetime
    values: dict[str, float]


def stacked_bars(buckets: list[Bucket], *, label: str, width: int = 520, height: int = 180, axis: bool = True) -> SafeString:
    """Bars per time bucket, stacked by outcome (OUTCOME_SERIES)."""
    # Room for the axis labels, also at the larger size phones give them (dashboard.css).
    left, bottom, top, right = (40, 24, 8, 16) if axis else (1, 1, 1, 1)
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((sum(b.values.get(k, 0) for k, _, _ in OUTCOME_SERIES) for b in buckets), default=0)
    ymax = _nice_max(peak)
    body = []
    if axis:
        for frac in (0, 0.5, 1):
            y = top + plot_h * (1 - frac)
            body.append(f'<line class="cq-grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
            body.append(f'<text class="cq-axis" x="{left - 4}" y="{y + 3:.1f}" text-anchor="end">{_fmt(ymax * frac)}</text>')
    n = max(1, len(buckets))
    slot = plot_w / n
    bar = max(1.0, slot * 0.78)
    every = _tick_step(n, plot_w)
    for i, b in enumerate(buckets):
        x = left + i * slot + (slot - bar) / 2
        y = top + plot_h
        tip = [f"{b.start:%H:%M} UTC"]
        for key, name, css in OUTCOME_SERIES:
            v = b.values.get(key, 0)
            if not v:
                continue
            h = plot_h * v / ymax
            y -= h
            body.append(f'<rect class="{css}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}"/>')
            tip.append(f"{name}: {v:,.0f}")
        body.append(
            f'<rect class="cq-hit" x="{left + i * slot:.1f}" y="{top}" width="{slot:.1f}" height="{plot_h}">'
            f"<title>{escape(', '.join(tip))}</title></rect>"
        )
        if axis and i % every == 0:
            body.append(f'<text class="cq-axis" x="{x + bar / 2:.1f}" y="{height - 6}" text-anchor="middle">{b.start:%H:%M}</text>')
    return _svg(width, height, label, body)


def lines(
    buckets: list[Bucket], series: list[tuple[str, str, str]], *, label: str, unit: str = "ms", width: int = 520, height: int = 180
) -> SafeString:
    """One polyline per series over time buckets; gaps where a bucket has no value."""
    left, bottom, top, right = 58, 24, 8, 16
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((b.values.get(k) or 0 for b in buckets for k, _, _ in series), default=0)
    ymax = _nice_max(peak)
    n = max(1, len(buckets))
    slot = plot_w / n
    body = []
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        body.append(f'<line class="cq-grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        body.append(f'<text class="cq-axis" x="{left - 4}" y="{y + 3:.1f}" text-anchor="end">{_fmt(ymax * frac)} {unit}</text>')
    for key, name, css in series:
        segments, current = [], []
        for i, b in enumerate(buckets):
            v = b.values.get(key)
            if v is None:
                if current:
                    segments.append(current)
                current = []
                continue
            x = left + i * slot + slot / 2
            y = top + plot_h * (1 - v / ymax)
            current.append((x, y, v, b.start))
        if current:
            segments.append(current)
        for seg in segments:
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in seg)
            body.append(f'<polyline class="{css}" fill="none" points="{points}"/>')
            for x, y, v, start in seg:
                body.append(
                    f'<circle class="{css}" cx="{x:.1f}" cy="{y:.1f}" r="2.5">'
                    f"<title>{escape(name)} {start:%H:%M} UTC: {v:,.0f} {unit}</title></circle>"
                )
    every = _tick_step(n, plot_w)
    for i, b in enumerate(buckets):
        if i % every == 0:
            body.append(f'<text class="cq-axis" x="{left + i * slot + slot / 2:.1f}" y="{height - 6}" text-anchor="middle">{b.start:%H:%M}</text>')
    return _svg(width, height, label, body)
