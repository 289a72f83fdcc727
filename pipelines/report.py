"""``report.html`` of a motion-transfer run: the side-by-side video, metrics, loss curves, timings.

One self-contained HTML file beside the output (the video is referenced by relative path); loss
curves are inline SVG drawn from the training run's ``metrics.jsonl`` (no plotting library).
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from vidgan.io.atomic import atomic_path

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def loss_curves_svg(records: Sequence[Mapping[str, float]], keys: Sequence[str], width: int = 640, height: int = 240) -> str:
    """An SVG line chart of ``keys`` over ``iteration`` (each key min-max scaled on a shared axis)."""
    series = {k: [(r["iteration"], r[k]) for r in records if k in r and math.isfinite(r[k])] for k in keys}
    series = {k: v for k, v in series.items() if len(v) >= 2}
    if not series:
        return "<p>(no loss curve: the model was trained elsewhere or logged nothing)</p>"
    x_max = max(x for values in series.values() for x, _ in values) or 1
    y_values = [y for values in series.values() for _, y in values]
    y_min, y_max = min(y_values), max(y_values)
    span = (y_max - y_min) or 1.0
    pad = 30
    lines, legend = [], []
    for i, (key, values) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        points = " ".join(
            f"{pad + (width - 2 * pad) * x / x_max:.1f},{height - pad - (height - 2 * pad) * (y - y_min) / span:.1f}"
            for x, y in values
        )
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>')
        legend.append(f'<text x="{pad + 150 * i}" y="16" fill="{colour}" font-size="12">{html.escape(key)}</text>')
    axis = (
        f'<text x="{pad}" y="{height - 8}" font-size="11">0</text>'
        f'<text x="{width - pad - 40}" y="{height - 8}" font-size="11">it {x_max}</text>'
        f'<text x="2" y="{pad}" font-size="11">{y_max:.3g}</text>'
        f'<text x="2" y="{height - pad}" font-size="11">{y_min:.3g}</text>'
    )
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'style="border:1px solid #ccc">{"".join(legend)}{axis}{"".join(lines)}</svg>')


def write_report(
    path: str | os.PathLike[str],
    *,
    title: str,
    video: str | os.PathLike[str],
    caption: str,
    metrics: Mapping[str, float | str],
    records: Sequence[Mapping[str, float]],
    timings: Mapping[str, float | None],
    settings: Mapping[str, object],
    methods: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> Path:
    """Write the report atomically; ``video`` is linked relative to the report's folder.
    ``metrics`` named ``<method>/<figure>`` for one of ``methods`` make a table of methods by
    figures; the others are listed below it. ``notes``: lines shown above the tables."""
    target = Path(path)
    relative = os.path.relpath(Path(video).resolve(), target.parent.resolve())

    def rows(items: Mapping[str, object]) -> str:
        return "".join(
            f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_format(v))}</td></tr>" for k, v in items.items()
        )

    other = {k: v for k, v in metrics.items() if k.split("/", 1)[0] not in methods}
    body = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}td{{padding:2px 12px}}
table{{border-collapse:collapse}}tr:nth-child(even){{background:#f4f4f4}}</style></head>
<body><h1>{html.escape(title)}</h1>
<video src="{html.escape(relative)}" controls loop style="max-width:100%"></video>
<p>{html.escape(caption)}</p>
<h2>Metrics</h2>{"".join(f"<p>{html.escape(n)}</p>" for n in notes)}
{method_table(metrics, methods)}<table>{rows(other)}</table>
<h2>Training losses</h2>{loss_curves_svg(records, ("loss_d", "loss_g"))}
<h2>Steps (seconds)</h2><table>{rows({k: v for k, v in timings.items() if v is not None})}</table>
<h2>Settings</h2><table>{rows(settings)}</table>
</body></html>
"""
    with atomic_path(target) as temporary:
        temporary.write_text(body)
    return target


def method_table(metrics: Mapping[str, float | str], methods: Sequence[str]) -> str:
    """An HTML table: one row per method of ``methods`` with figures, one column per figure."""
    figures: dict[str, dict[str, float | str]] = {}
    for key, value in metrics.items():
        method, _, figure = key.partition("/")
        if method in methods and figure:
            figures.setdefault(method, {})[figure] = value
    if not figures:
        return ""
    columns = list(dict.fromkeys(f for values in figures.values() for f in values))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["method", *columns])
    body = "".join(
        f"<tr><td>{html.escape(m)}</td>" + "".join(f"<td>{html.escape(_format(figures[m].get(c, '')))}</td>"
                                                   for c in columns) + "</tr>"
        for m in methods if m in figures)
    return f"<table><tr>{head}</tr>{body}</table>"


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
