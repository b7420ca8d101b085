"""Figures as plain SVG, so an agent needs no plotting library, each carrying its data as a plot.

``line_chart`` draws one or more series against a shared x axis (optionally with
error bars and on a second y axis); ``histograms`` draws one panel per sample.
Both return a :class:`Drawing`: the SVG text (a ``str``, as before) that also
holds the same figure as a Plotly-compatible spec in ``plot``, ``{"data":
[traces], "layout": {...}}``, which the web pages draw interactively.
``AnalysisContext.figure`` saves the SVG and records the spec with the results.

The spec is kept small: a trace holds at most :data:`MAX_POINTS` points (a
longer series keeps, from each of ``MAX_POINTS // 2`` runs of consecutive
points, the lowest and the highest, so peaks survive), a histogram holds its
bin counts, not its samples, and values that are not finite are ``None``.
The SVG keeps every point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

WIDTH, HEIGHT = 640, 400
MARGIN = {"left": 70, "right": 70, "top": 40, "bottom": 50}
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")
#: Points per trace in a plot spec; longer series are thinned (see the module docstring).
MAX_POINTS = 2000
#: Bins per histogram panel, at most.
MAX_BINS = 200
MODES = {"line": "lines", "points": "markers", "both": "lines+markers"}


class Drawing(str):
    """SVG text that also carries the same figure as a Plotly spec (``plot``).

    It is a ``str``, so code that writes or joins SVG goes on working (the result
    of joining is a plain ``str``, without the spec).
    """

    plot: dict[str, Any]

    def __new__(cls, svg: str, plot: dict[str, Any]) -> Drawing:
        made = super().__new__(cls, svg)
        made.plot = plot
        return made


@dataclass
class Series:
    label: str
    x: Sequence[float]
    y: Sequence[float]
    errors: Sequence[float] | None = None
    #: "line", "points" or "both".
    style: str = "line"
    #: Draw against the right-hand axis.
    right: bool = False
    colour: str = ""


@dataclass
class _Axis:
    low: float
    high: float
    ticks: list[float] = field(default_factory=list)


def nice_ticks(low: float, high: float, count: int = 5) -> _Axis:
    if not math.isfinite(low) or not math.isfinite(high):
        low, high = 0.0, 1.0
    if high == low:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    last = math.ceil(high / step) * step
    ticks = [first + i * step for i in range(round((last - first) / step) + 1)]
    return _Axis(first, last, ticks)


def _label(value: float) -> str:
    return f"{value:.4g}"


def _finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _range(series: Sequence[Series], axis: str) -> _Axis:
    values: list[float] = []
    for s in series:
        points = s.x if axis == "x" else s.y
        values += _finite(points)
        if axis == "y" and s.errors:
            values += _finite([y + e for y, e in zip(s.y, s.errors, strict=False)])
            values += _finite([y - e for y, e in zip(s.y, s.errors, strict=False)])
    return nice_ticks(min(values, default=0.0), max(values, default=1.0))


def line_chart(
    series: Sequence[Series],
    title: str,
    xlabel: str,
    ylabel: str,
    ylabel_right: str = "",
    *,
    units: Sequence[str] = (),
) -> Drawing:
    """An SVG chart of the series, with its plot spec; series with ``right=True`` use a second y axis.

    ``units`` are those of x, y and the right-hand y (as many as given), shown in the axis titles.
    """
    xlabel, ylabel, ylabel_right = _with_units((xlabel, ylabel, ylabel_right), units)
    svg = _line_svg(series, title, xlabel, ylabel, ylabel_right)
    return Drawing(svg, line_spec(series, title, xlabel, ylabel, ylabel_right))


def _with_units(labels: Sequence[str], units: Sequence[str]) -> tuple[str, str, str]:
    padded = [*units, "", "", ""]
    a, b, c = (f"{label} [{unit}]" if unit else label for label, unit in zip(labels, padded, strict=False))
    return a, b, c


def _line_svg(series: Sequence[Series], title: str, xlabel: str, ylabel: str, ylabel_right: str) -> str:
    left = [s for s in series if not s.right]
    right = [s for s in series if s.right]
    xs = _range(series, "x")
    y_left = _range(left, "y") if left else None
    y_right = _range(right, "y") if right else None
    plot = _Plot(xs)
    parts = [plot.frame(title, xlabel)]
    if y_left:
        parts.append(plot.y_axis(y_left, ylabel, side="left"))
    if y_right:
        parts.append(plot.y_axis(y_right, ylabel_right, side="right"))
    for index, s in enumerate(series):
        colour = s.colour or COLOURS[index % len(COLOURS)]
        axis = y_right if s.right else y_left
        assert axis is not None
        parts.append(plot.series(s, axis, colour))
        parts.append(plot.legend(index, s.label, colour))
    return _svg(parts)


def histograms(samples: dict[str, Sequence[float]], title: str, bins: int = 30) -> Drawing:
    """One histogram panel per named sample (parameter distributions), side by side, with its plot spec."""
    return Drawing(_histogram_svg(samples, title, bins), histogram_spec(samples, title, bins))


def _histogram_svg(samples: dict[str, Sequence[float]], title: str, bins: int) -> str:
    names = list(samples)
    columns = max(1, min(3, len(names)))
    rows = max(1, math.ceil(len(names) / columns))
    panel_w, panel_h = 300, 220
    width, height = panel_w * columns, panel_h * rows + 40
    parts = [f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="16">{escape(title)}</text>']
    for index, name in enumerate(names):
        x0 = (index % columns) * panel_w
        y0 = 40 + (index // columns) * panel_h
        parts.append(_histogram_panel(name, _finite(samples[name]), bins, x0, y0, panel_w, panel_h))
    return _svg(parts, width, height)


def _histogram_panel(
    name: str, values: list[float], bins: int, x0: float, y0: float, w: float, h: float
) -> str:
    left, bottom, top, right = x0 + 40, y0 + h - 40, y0 + 20, x0 + w - 15
    out = [
        f'<text x="{x0 + w / 2}" y="{y0 + 12}" text-anchor="middle" font-size="13">{escape(name)}</text>',
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="black"/>',
    ]
    if not values:
        return "".join(out)
    low, high = min(values), max(values)
    counts = _counts(values, bins)
    tallest = max(counts)
    bar = (right - left) / bins
    for i, count in enumerate(counts):
        bar_h = (bottom - top) * count / tallest
        out.append(
            f'<rect x="{left + i * bar:.2f}" y="{bottom - bar_h:.2f}" width="{bar:.2f}" '
            f'height="{bar_h:.2f}" fill="{COLOURS[0]}" fill-opacity="0.7"/>'
        )
    for value, anchor in ((low, "start"), (high, "end")):
        x = left if anchor == "start" else right
        out.append(
            f'<text x="{x}" y="{bottom + 16}" text-anchor="{anchor}" font-size="11">{_label(value)}</text>'
        )
    return "".join(out)


def _counts(values: list[float], bins: int) -> list[int]:
    """How many of ``values`` fall in each of ``bins`` equal bins from their lowest to their highest."""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(int((v - low) / span * bins), bins - 1)] += 1
    return counts


class _Plot:
    def __init__(self, xs: _Axis) -> None:
        self.xs = xs
        self.left = MARGIN["left"]
        self.right = WIDTH - MARGIN["right"]
        self.top = MARGIN["top"]
        self.bottom = HEIGHT - MARGIN["bottom"]

    def px(self, x: float) -> float:
        return self.left + (x - self.xs.low) / (self.xs.high - self.xs.low) * (self.right - self.left)

    def py(self, y: float, axis: _Axis) -> float:
        return self.bottom - (y - axis.low) / (axis.high - axis.low) * (self.bottom - self.top)

    def frame(self, title: str, xlabel: str) -> str:
        out = [
            f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="16">{escape(title)}</text>',
            f'<rect x="{self.left}" y="{self.top}" width="{self.right - self.left}" '
            f'height="{self.bottom - self.top}" fill="none" stroke="black"/>',
            f'<text x="{(self.left + self.right) / 2}" y="{HEIGHT - 10}" text-anchor="middle" '
            f'font-size="13">{escape(xlabel)}</text>',
        ]
        for tick in self.xs.ticks:
            x = self.px(tick)
            out.append(_line(x, self.bottom, x, self.bottom + 5))
            out.append(_text(x, self.bottom + 18, _label(tick), "middle", 11))
        return "".join(out)

    def y_axis(self, axis: _Axis, label: str, side: str) -> str:
        edge = self.left if side == "left" else self.right
        direction = -1 if side == "left" else 1
        anchor = "end" if side == "left" else "start"
        out = []
        for tick in axis.ticks:
            y = self.py(tick, axis)
            out.append(_line(edge, y, edge + 5 * direction, y))
            out.append(_text(edge + 8 * direction, y + 4, _label(tick), anchor, 11))
        x = 16 if side == "left" else WIDTH - 10
        middle = (self.top + self.bottom) / 2
        out.append(
            f'<text x="{x}" y="{middle}" text-anchor="middle" font-size="13" '
            f'transform="rotate(-90 {x} {middle})">{escape(label)}</text>'
        )
        return "".join(out)

    def series(self, s: Series, axis: _Axis, colour: str) -> str:
        points = [
            (self.px(x), self.py(y, axis))
            for x, y in zip(s.x, s.y, strict=False)
            if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)
        ]
        out = []
        if s.style in {"line", "both"} and len(points) > 1:
            path = " ".join(f"{x:.2f},{y:.2f}" for x, y in points)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        if s.style in {"points", "both"}:
            out += [f'<circle cx="{x:.2f}" cy="{y:.2f}" r="3" fill="{colour}"/>' for x, y in points]
        if s.errors:
            for x, y, e in zip(s.x, s.y, s.errors, strict=False):
                if all(v is not None and math.isfinite(v) for v in (x, y, e)):
                    top, bottom = self.py(y + e, axis), self.py(y - e, axis)
                    out.append(
                        f'<line x1="{self.px(x):.2f}" y1="{top:.2f}" x2="{self.px(x):.2f}" '
                        f'y2="{bottom:.2f}" stroke="{colour}"/>'
                    )
        return "".join(out)

    def legend(self, index: int, label: str, colour: str) -> str:
        y = self.top + 14 + 16 * index
        x = self.left + 10
        return (
            f'<line x1="{x}" y1="{y - 4}" x2="{x + 18}" y2="{y - 4}" stroke="{colour}" stroke-width="2"/>'
            f'<text x="{x + 24}" y="{y}" font-size="12">{escape(label)}</text>'
        )


def _line(x1: float, y1: float, x2: float, y2: float, colour: str = "black") -> str:
    return f'<line x1="{x1:.2f}" y1="{y1:.2f}" x2="{x2:.2f}" y2="{y2:.2f}" stroke="{colour}"/>'


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 12) -> str:
    return f'<text x="{x:.2f}" y="{y:.2f}" text-anchor="{anchor}" font-size="{size}">{escape(text)}</text>'


def _svg(parts: Sequence[str], width: int = WIDTH, height: int = HEIGHT) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">'
        f'<rect width="100%" height="100%" fill="white"/>{"".join(parts)}</svg>\n'
    )


# -- plot specs: the same figures as data, for Plotly.js on the pages -----------------------------


def line_spec(
    series: Sequence[Series], title: str, xlabel: str, ylabel: str, ylabel_right: str = ""
) -> dict[str, Any]:
    """The Plotly spec of :func:`line_chart`: one scatter trace per series, thinned to ``MAX_POINTS``."""
    traces = [_trace(s, s.colour or COLOURS[index % len(COLOURS)]) for index, s in enumerate(series)]
    layout: dict[str, Any] = {
        "title": {"text": title},
        "xaxis": {"title": {"text": xlabel}},
        "yaxis": {"title": {"text": ylabel}},
        "legend": {"orientation": "h", "y": -0.2},
        "hovermode": "x unified",
    }
    if any(s.right for s in series):
        layout["yaxis2"] = {"title": {"text": ylabel_right}, "overlaying": "y", "side": "right"}
    return {"data": traces, "layout": layout}


def _trace(s: Series, colour: str) -> dict[str, Any]:
    keep = thin(s.y, MAX_POINTS)
    trace: dict[str, Any] = {
        "type": "scatter",
        "name": s.label,
        "mode": MODES.get(s.style, "lines"),
        "x": _values(s.x, keep),
        "y": _values(s.y, keep),
        "line": {"color": colour},
        "marker": {"color": colour, "size": 6},
    }
    if s.errors:
        trace["error_y"] = {"type": "data", "array": _values(s.errors, keep), "visible": True}
    if s.right:
        trace["yaxis"] = "y2"
    return trace


def histogram_spec(samples: dict[str, Sequence[float]], title: str, bins: int = 30) -> dict[str, Any]:
    """The Plotly spec of :func:`histograms`: one bar trace of bin counts per panel, on a grid."""
    bins = max(1, min(bins, MAX_BINS))
    names = list(samples)
    columns = max(1, min(3, len(names)))
    rows = max(1, math.ceil(len(names) / columns))
    layout: dict[str, Any] = {
        "title": {"text": title},
        "grid": {"rows": rows, "columns": columns, "pattern": "independent"},
        "bargap": 0,
        "showlegend": False,
        "height": 260 * rows + 100,
    }
    traces = []
    for index, name in enumerate(names):
        suffix = "" if index == 0 else str(index + 1)
        layout[f"xaxis{suffix}"] = {"title": {"text": name}}
        layout[f"yaxis{suffix}"] = {"title": {"text": "count"}}
        traces.append(_bars(name, _finite(samples[name]), bins, suffix))
    return {"data": traces, "layout": layout}


def _bars(name: str, values: list[float], bins: int, suffix: str) -> dict[str, Any]:
    centres: list[float] = []
    counts: list[int] = []
    width = 0.0
    if values:
        low, high = min(values), max(values)
        width = ((high - low) or 1.0) / bins
        counts = _counts(values, bins)
        centres = [low + (i + 0.5) * width for i in range(bins)]
    return {
        "type": "bar",
        "name": name,
        "x": centres,
        "y": counts,
        "width": width,
        "xaxis": f"x{suffix}",
        "yaxis": f"y{suffix}",
        "marker": {"color": COLOURS[0]},
    }


def thin(values: Sequence[float], limit: int = MAX_POINTS) -> list[int]:
    """The indices of ``values`` to keep: all of them up to ``limit``, else the first and last and,
    from each of about ``limit / 2`` runs of consecutive points, the lowest and the highest."""
    count = len(values)
    if count <= limit:
        return list(range(count))
    numbers = [_number(v) for v in values]
    runs = max(1, (limit - 2) // 2)
    keep = {0, count - 1}
    for run in range(runs):
        found = [
            (v, i)
            for i in range(run * count // runs, (run + 1) * count // runs)
            if (v := numbers[i]) is not None
        ]
        if found:
            keep.update((min(found)[1], max(found)[1]))
    return sorted(keep)


def _number(value: Any) -> float | None:
    """``value`` as a finite float, else ``None`` (JSON null): NaN, infinities and non-numbers are gaps."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _values(values: Sequence[float], keep: Sequence[int]) -> list[float | None]:
    return [_number(values[i]) if i < len(values) else None for i in keep]
