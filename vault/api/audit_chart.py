"""The auditors' chart: reads per day, stacked by agency, as an SVG drawn on the server. Pure.

No script and no inline CSS (the pages' CSP allows neither): bars are ``<rect>`` elements with
presentation attributes, each with a ``<title>`` that screen readers and tooltips show. The page
puts the same numbers in a table next to the chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from markupsafe import Markup, escape

if TYPE_CHECKING:
    from collections.abc import Iterable

#: Colours distinguishable with the common colour-vision deficiencies (Okabe-Ito), contrast ≥ 3:1 on white.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999933")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 240, 48, 28, 8


@dataclass(frozen=True, slots=True)
class Series:
    """One agency's reads per day, with its colour."""

    agency: str
    label: str
    colour: str
    counts: dict[date, int]


def series(counts: Iterable[tuple[date, str, int]], labels: dict[str, str]) -> list[Series]:
    """Group ``(day, agency, reads)`` into one series per agency, busiest first, coloured in order."""
    per: dict[str, dict[date, int]] = {}
    for day, agency, n in counts:
        per.setdefault(agency, {})
        per[agency][day] = per[agency].get(day, 0) + n
    ordered = sorted(per, key=lambda a: (-sum(per[a].values()), a))
    return [Series(a, labels.get(a, a), PALETTE[i % len(PALETTE)], per[a]) for i, a in enumerate(ordered)]


def _nice_max(value: int) -> int:
    """The smallest of 1, 2, 5 x 10^k at or above ``value`` (at least 1)."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def stacked_bars(all_series: list[Series], first: date, last: date, title_id: str, desc_id: str) -> Markup:
    """An SVG of daily stacked bars from ``first`` to ``last`` (inclusive)."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    totals = [sum(s.counts.get(d, 0) for s in all_series) for d in days]
    top = _nice_max(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(len(days), 1)
    bar = max(slot * 0.7, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{escape(title_id)} {escape(desc_id)}" class="chart">'
    ]
    for fraction in (0, 0.5, 1) if top % 2 == 0 else (0, 1):
        y = TOP + plot_h * (1 - fraction)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ccc" stroke-width="1"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#333">'
            f"{round(top * fraction)}</text>"
        )
    for i, day in enumerate(days):
        x = LEFT + i * slot + (slot - bar) / 2
        y = TOP + plot_h
        for s in all_series:
            n = s.counts.get(day, 0)
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{s.colour}">'
                f"<title>{escape(s.label)}, {day.isoformat()}: {n}</title></rect>"
            )
        if i % 7 == 0 or i == len(days) - 1:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - 10}" text-anchor="middle" font-size="11" fill="#333">'
                f"{day.strftime('%d.%m.')}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  every interpolated text above is escaped or a number
