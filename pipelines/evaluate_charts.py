"""Inline SVG charts of the evaluation page (no script, no external asset): the weekly series and the forest
plot of the estimates. Split out of :mod:`pipelines.evaluate`, which re-exports the public names."""

from __future__ import annotations

import math

import numpy as np
from markupsafe import Markup

from pipelines.render.html import escape_text

__all__ = ["line_chart_svg", "forest_svg"]


_COLOURS = {"treated": "#b2182b", "control": "#2166ac", "buffer": "#e08214", "buffer_control": "#8073ac",
            "its_counterfactual": "#333333", "synthetic": "#1b7837"}


#: Right end of the effects axis (+300 %); a wider interval is drawn to the edge with an arrow and its value.
_FOREST_MAX = 3.0
_CHAR_W = 0.6   # average glyph width as a share of the font size (system sans-serif), to make labels fit


def _text_width(text: str, size: float) -> float:
    return len(text) * size * _CHAR_W


def line_chart_svg(x_labels: list[str], series: dict[str, np.ndarray], start_index: int | None = None,
                   width: int = 900, height: int = 280, title: str = "", dashed: tuple = (),
                   y_label: str = "events per week", x_label: str = "week") -> Markup:
    """An inline SVG line chart (no script, no external asset); a shaded post period from ``start_index``.

    Both axes carry their unit (``y_label``, ``x_label``); week labels are thinned so they do
    not overlap, and the legend wraps onto a second row rather than running off the chart."""
    n = len(x_labels)
    vals = np.concatenate([np.asarray(v, dtype=float)[np.isfinite(np.asarray(v, dtype=float))]
                           for v in series.values()] or [np.zeros(1)])
    top = float(vals.max()) if vals.size and vals.max() > 0 else 1.0
    top = top * 1.08
    names = [name.replace("_", " ") for name in series]
    legend_rows, row_x = 1, 0.0
    for label in names:
        w = 13 + _text_width(label, 10) + 14
        if row_x and row_x + w > width - 60:
            legend_rows, row_x = legend_rows + 1, 0.0
        row_x += w
    L, R, T = 62, 14, 22
    B = 44 + 14 * legend_rows
    pw, ph = width - L - R, height - T - B

    def X(i):
        return L + pw * (i / max(n - 1, 1))

    def Y(v):
        return T + ph - ph * (v / top)

    parts = [f'<svg class="chart" width="100%" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape_text(title)}">'
             f'<title>{escape_text(title)}</title>']
    if start_index is not None and 0 <= start_index < n:
        x0 = X(start_index) - 0.5 * pw / max(n - 1, 1)
        parts.append(f'<rect x="{x0:.1f}" y="{T}" width="{L + pw - x0:.1f}" height="{ph}" fill="#f2f2f2"/>')
        tag = "intervention period"
        if X(start_index) + 3 + _text_width(tag, 10) <= L + pw:
            parts.append(f'<text x="{X(start_index) + 3:.1f}" y="{T + 11}" font-size="10" fill="#555">{tag}</text>')
        else:   # too close to the right edge: end the label at the edge
            parts.append(f'<text x="{L + pw - 3:.1f}" y="{T + 11}" font-size="10" text-anchor="end" fill="#555">'
                         f'{tag}</text>')
    raw = top / 1.08 / 4
    mag = 10 ** math.floor(math.log10(raw))
    tick = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    fmt = "{:.0f}" if tick >= 1 else "{:.1f}" if tick >= 0.1 else "{:.2f}"
    for v in np.arange(0, top + 1e-9, tick):
        parts.append(f'<line x1="{L}" y1="{Y(v):.1f}" x2="{L + pw}" y2="{Y(v):.1f}" stroke="#ddd" stroke-width="0.6"/>'
                     f'<text x="{L - 4}" y="{Y(v) + 3:.1f}" font-size="9" text-anchor="end" fill="#444">'
                     f'{fmt.format(v)}</text>')
    widest = max([_text_width(str(x), 9) for x in x_labels] or [0.0])
    step_lbl = max(1, math.ceil((widest + 8) / (pw / max(n - 1, 1))))
    for i in range(0, n, step_lbl):
        parts.append(f'<text x="{X(i):.1f}" y="{T + ph + 14}" font-size="9" text-anchor="middle" fill="#444">'
                     f'{escape_text(x_labels[i])}</text>')
    parts.append(f'<text x="{L + pw / 2:.1f}" y="{T + ph + 29}" font-size="10" text-anchor="middle" fill="#222">'
                 f'{escape_text(x_label)}</text>')
    parts.append(f'<text transform="translate(13,{T + ph / 2:.1f}) rotate(-90)" font-size="10" '
                 f'text-anchor="middle" fill="#222">{escape_text(y_label)}</text>')
    legend_x, legend_y = L + 4.0, T + ph + 44
    for (name, v), label in zip(series.items(), names):
        arr = np.asarray(v, dtype=float)
        colour = _COLOURS.get(name, "#555")
        pts = " ".join(f"{X(i):.1f},{Y(a):.1f}" for i, a in enumerate(arr) if math.isfinite(a))
        dash = ' stroke-dasharray="5,3"' if name in dashed else ""
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.4"{dash} points="{pts}"/>')
        w = 13 + _text_width(label, 10) + 14
        if legend_x > L + 4 and legend_x + w > width - 60 + L:
            legend_x, legend_y = L + 4.0, legend_y + 14
        parts.append(f'<rect x="{legend_x:.1f}" y="{legend_y - 4}" width="10" height="3" fill="{colour}"/>'
                     f'<text x="{legend_x + 13:.1f}" y="{legend_y}" font-size="10" fill="#222">'
                     f'{escape_text(label)}</text>')
        legend_x += w
    parts.append("</svg>")
    return Markup("".join(parts))


def forest_svg(rows: list[tuple[str, float | None, float | None, float | None]], width: int = 900) -> Markup:
    """Relative effects with 95 % intervals on one axis (−100 % … +100 % or wider), zero marked.

    The x axis is labelled with its unit; row labels get as much room as the longest needs."""
    finite = [v for r in rows for v in r[1:] if v is not None and math.isfinite(v)]
    lo_ax = max(min([-0.6] + finite) - 0.05, -1.0)
    hi_ax = min(max([0.4] + finite) + 0.05, _FOREST_MAX)     # wider intervals run off the axis, marked ▸
    L = int(min(max([_text_width(r[0], 11) for r in rows] + [120]) + 16, width / 2))
    R, rh = 30, 26
    height = 48 + rh * len(rows)
    pw = width - L - R

    def X(v):
        return L + pw * (v - lo_ax) / (hi_ax - lo_ax)

    parts = [f'<svg class="chart" width="100%" viewBox="0 0 {width} {height}" role="img" '
             'aria-label="Relative effects with 95 % intervals">'
             '<title>Relative effects with 95 % intervals</title>',
             f'<line x1="{X(0):.1f}" y1="6" x2="{X(0):.1f}" y2="{height - 38}" stroke="#333" stroke-width="1"/>']
    span = hi_ax - lo_ax
    step = next(st for st in (0.1, 0.2, 0.25, 0.5, 1.0) if pw * st / span >= 44)   # tick labels ~30 px wide
    for tick in np.arange(math.ceil(lo_ax / step - 1e-9) * step, hi_ax + 1e-9, step):
        parts.append(f'<text x="{X(tick):.1f}" y="{height - 24}" font-size="9" text-anchor="middle" fill="#444">'
                     f'{tick * 100:+.0f}%</text>')
    parts.append(f'<text x="{L + pw / 2:.1f}" y="{height - 8}" font-size="10" text-anchor="middle" fill="#222">'
                 'relative effect (% change against no disruption; dot = estimate, bar = 95 % interval)</text>')
    for i, (label, est, lo, hi) in enumerate(rows):
        yy = 18 + i * rh
        parts.append(f'<text x="{L - 8}" y="{yy + 4}" font-size="11" text-anchor="end">{escape_text(label)}</text>')
        if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
            parts.append(f'<line x1="{X(max(lo, lo_ax)):.1f}" y1="{yy}" x2="{X(min(hi, hi_ax)):.1f}" y2="{yy}" '
                         'stroke="#2166ac" stroke-width="2"/>')
            if hi > hi_ax:
                xe = X(hi_ax)
                parts.append(f'<path d="M{xe - 6:.1f},{yy - 4} L{xe:.1f},{yy} L{xe - 6:.1f},{yy + 4} Z" '
                             f'fill="#2166ac"/><text x="{xe - 8:.1f}" y="{yy - 5}" font-size="9" '
                             f'text-anchor="end" fill="#2166ac">to {hi * 100:+.0f}%</text>')
        elif est is not None and math.isfinite(est):
            parts.append(f'<text x="{X(min(est, hi_ax)) + 8:.1f}" y="{yy + 3}" font-size="9" fill="#555">'
                         'no interval</text>')
        if est is not None and math.isfinite(est):
            if est <= hi_ax:
                parts.append(f'<circle cx="{X(est):.1f}" cy="{yy}" r="4" fill="#b2182b"/>')
            else:
                parts.append(f'<text x="{X(hi_ax) - 8:.1f}" y="{yy + 12}" font-size="9" text-anchor="end" '
                             f'fill="#b2182b">estimate {est * 100:+.0f}%</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
