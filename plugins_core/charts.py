"""Small bar charts as geometry for inline SVG: the staff runtime page draws them server-side.

One bar per minute, the series stacked in the order given. Every minute gets a faint slot
on the baseline, so a minute with nothing in it is visibly empty rather than missing.
Coordinates come out as strings, formatted here, so a template's number localisation can
never turn ``1.5`` into ``1,5`` inside an SVG attribute.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Bar", "Chart", "bar_chart"]


@dataclass(frozen=True)
class Bar:
    x: str
    y: str
    width: str
    height: str
    series: str  # the series' name, also its CSS class
    label: str  # the minute, "HH:MM"
    title: str  # the tooltip


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    slots: list[Bar]  # one per minute, on the baseline
    bars: list[Bar]
    peak: float  # the tallest stack's total
    first_label: str
    last_label: str
    unit: str

    @property
    def empty(self) -> bool:
        return not self.bars


def bar_chart(series: dict[str, Sequence[float | None]], labels: Sequence[str], *, width: int = 440,
              height: int = 90, unit: str = "") -> Chart:
    """Stacked bars of ``series`` (name -> one value per label; None and 0 draw nothing)."""
    count = len(labels)
    step = width / count if count else width
    gap = min(1.0, step / 4)
    totals = [sum(values[i] or 0 for values in series.values()) for i in range(count)]
    peak = max(totals, default=0) or 0
    slots, bars = [], []
    for i, label in enumerate(labels):
        x = i * step + gap / 2
        slots.append(Bar(_n(x), _n(height - 2), _n(step - gap), "2", "slot", label, f"{label}: nothing"))
        top = float(height)
        for name, values in series.items():
            value = values[i] or 0
            if value <= 0:
                continue
            # A real value is at least 2 px tall, so a single call stays visible beside a peak.
            tall = max(2.0, (height - 2) * value / peak)
            top -= tall
            bars.append(Bar(_n(x), _n(top), _n(step - gap), _n(tall), name, label,
                            f"{label}: {_value(value)}{unit} {name}"))
    return Chart(width, height, slots, bars, peak, labels[0] if labels else "", labels[-1] if labels else "", unit)


def _n(number: float) -> str:
    return f"{number:.2f}".rstrip("0").rstrip(".")


def _value(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:.2f}"
