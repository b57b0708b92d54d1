"""The organiser page's learning curve: holdout accuracy against labelled examples, drawn as inline SVG."""

from __future__ import annotations

import html
import math

__all__ = ["curve_svg"]


def _accuracy_range(values) -> tuple:
    """``(low, high)`` of the accuracy axis: the values' span padded by 0.01 and rounded out to 0.01, at least 0.05
    tall, within 0-1."""
    low = max(0.0, math.floor(round((min(values) - 0.01) * 100, 6)) / 100)
    high = min(1.0, math.ceil(round((max(values) + 0.01) * 100, 6)) / 100)
    if high - low < 0.05:
        low, high = (low, low + 0.05) if high - 0.05 < 0 else (high - 0.05, high)
    return low, high


def curve_svg(history, width=420, height=200) -> str:
    """The learning curve (holdout accuracy against labelled examples) as inline SVG, or "".

    Axes: accuracy on the left, over the range the points span (rounded out to 0.01, at least 0.05 tall, within
    0-1: 0.85 -> 0.92 fills the plot instead of looking flat on 0-1), with its title; labelled examples below, one
    tick at each end of the range (one tick, centred, when every point has the same count).
    """
    points = [(r["n_labeled"], r["accuracy"]) for r in history
              if isinstance(r.get("accuracy"), (int, float)) and r["accuracy"] == r["accuracy"] and r.get("n_labeled") is not None]
    if not points:
        return ""
    left, right, top, bottom = 52, 16, 10, 40  # room for the axes' numbers and titles
    xs = [p[0] for p in points]
    lo, hi = min(xs), max(xs)

    def x(v):
        return left + (v - lo) / (hi - lo) * (width - left - right) if hi != lo else (left + width - right) / 2

    bottom_acc, top_acc = _accuracy_range([p[1] for p in points])

    def y(a):
        return top + (top_acc - a) / (top_acc - bottom_acc) * (height - top - bottom)

    line = " ".join(f"{x(n):.1f},{y(a):.1f}" for n, a in points)
    dots = "".join(f'<circle cx="{x(n):.1f}" cy="{y(a):.1f}" r="3"><title>{n} labelled: {a:.3f}</title></circle>'
                   for n, a in points)
    grid = "".join(f'<line x1="{left}" x2="{width - right}" y1="{y(t):.1f}" y2="{y(t):.1f}" class="grid"/>'
                   f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{t:.2f}</text>'
                   for t in (bottom_acc, (bottom_acc + top_acc) / 2, top_acc))
    ticks = "".join(f'<text class="xtick" x="{x(v):.1f}" y="{height - bottom + 16}" text-anchor="middle">{v}</text>'
                    for v in sorted({lo, hi}))
    middle_y = (top + height - bottom) / 2
    titles = (f'<text class="axis" x="{(left + width - right) / 2:.1f}" y="{height - 4}" text-anchor="middle">'
              f'labelled examples</text><text class="axis" x="12" y="{middle_y:.1f}" text-anchor="middle" '
              f'transform="rotate(-90 12 {middle_y:.1f})">holdout accuracy</text>')
    return (f'<svg viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{html.escape("holdout accuracy by labelled examples")}">{grid}{ticks}{titles}'
            f'<polyline points="{line}" class="curve"/>{dots}</svg>')
