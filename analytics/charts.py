"""Charts drawn on the server as SVG: no JavaScript, no build step, CSP-safe.

Colours come from the stylesheet (classes ``series-0`` .. ``series-5``), so
the charts follow the light and dark themes. Every chart has a title and a
description for screen readers; the console also shows its numbers in a table
and offers them as CSV.
"""

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 480
HEIGHT = 180
LEFT = 44
RIGHT = 8
TOP = 10
BOTTOM = 24
MAX_X_LABELS = 7


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _short(value: float) -> str:
    value = float(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            scaled = value / limit
            return f"{scaled:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:.1f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def chart(*, title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], kind: str = "bars",
          chart_id: str = "chart") -> SafeString:
    """An SVG chart: ``bars`` (the first series) or ``lines`` (every series)."""
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    values = [v for _, points in series for v in points if v is not None]
    top = _nice_max(max(values) if values else 0)
    bottom = min(0, min(values) if values else 0)
    span = (top - bottom) or 1
    n = max(1, len(labels))

    def y(value: float) -> float:
        return TOP + plot_h - (value - bottom) / span * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(_describe(labels, series))}</desc>',
    ]
    for fraction in (0, 0.5, 1):
        value = bottom + span * fraction
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}"/>')
        parts.append(f'<text class="axis" x="{LEFT - 4}" y="{y(value) + 4:.1f}" text-anchor="end">{_short(value)}</text>')
    step = max(1, -(-n // MAX_X_LABELS))
    slot = plot_w / n
    for i, label in enumerate(labels):
        if i % step == 0:
            x = LEFT + slot * (i + 0.5)
            parts.append(f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="middle">{escape(label)}</text>')
    if kind == "bars" and series:
        name, points = series[0]
        bar_w = max(1.0, slot * 0.7)
        for i, value in enumerate(points):
            if not value:
                continue  # a zero is the axis itself
            x = LEFT + slot * i + (slot - bar_w) / 2
            y0, y1 = sorted((y(0), y(value)))
            parts.append(
                f'<rect class="series-0" x="{x:.1f}" y="{y0:.1f}" width="{bar_w:.1f}" height="{max(0.5, y1 - y0):.1f}">'
                f'<title>{escape(labels[i])}: {escape(_short(value))} {escape(name)}</title></rect>'
            )
    else:
        for index, (name, points) in enumerate(series):
            coords = " ".join(f"{LEFT + slot * (i + 0.5):.1f},{y(v or 0):.1f}" for i, v in enumerate(points))
            parts.append(f'<polyline class="line series-{index % 6}" fill="none" points="{coords}"><title>{escape(name)}</title></polyline>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def legend(series: Sequence[tuple[str, Sequence[float]]]) -> SafeString:
    items = "".join(
        f'<li><span class="swatch series-{i % 6}" aria-hidden="true"></span>{escape(name)}</li>' for i, (name, _) in enumerate(series)
    )
    return mark_safe(f'<ul class="chart-legend">{items}</ul>')


def _describe(labels, series) -> str:
    if not labels or not series:
        return "No data."
    parts = []
    for name, points in series:
        total = sum(v or 0 for v in points)
        peak = max(range(len(points)), key=lambda i: points[i] or 0) if points else 0
        parts.append(f"{name}: total {_short(total)}, highest {_short(points[peak] or 0)} on {labels[peak]}")
    return f"From {labels[0]} to {labels[-1]}. " + "; ".join(parts) + "."
