"""``report.html`` of a motion-transfer run: the side-by-side video, metrics, loss curves, timings.

One self-contained HTML file beside the output (the video is referenced by relative path); loss
curves from the training run's ``metrics.jsonl`` are drawn by matplotlib and inlined as a PNG.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from vidgan.io.atomic import atomic_path


def loss_curves_png(records: Sequence[Mapping[str, float]], keys: Sequence[str]) -> str:
    """An ``<img>`` of ``keys`` over ``iteration`` drawn by matplotlib (a PNG inlined as a data
    URI, so the report stays one file), or a line saying there is nothing to draw."""
    series = {k: [(r["iteration"], r[k]) for r in records if k in r and math.isfinite(r[k])] for k in keys}
    series = {k: v for k, v in series.items() if len(v) >= 2}
    if not series:
        return "<p>(no loss curve: the model was trained elsewhere or logged nothing)</p>"
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3), dpi=100, layout="tight")
    axes = figure.add_subplot()
    for key, values in series.items():
        axes.plot(*zip(*values, strict=True), label=key, linewidth=1)
    axes.set_xlabel("iteration")
    axes.legend()
    axes.grid(alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return f'<img alt="training losses" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


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
<h2>Training losses</h2>{loss_curves_png(records, ("loss_d", "loss_g"))}
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
