"""Readings over time as chart geometry (pure): series, threshold lines and alert marks.

The page draws this as inline SVG on the server, so the chart needs no script, and states the
same content in words (title, description) and in a data table for screen readers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from telehealth.clock import stamp
from telehealth.monitoring.model import Metric, ShownReading, Thresholds, rule_words

WIDTH = 640
HEIGHT = 220
PAD_LEFT = 48
PAD_RIGHT = 16
PAD_TOP = 16
PAD_BOTTOM = 28


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    value: float


@dataclass(frozen=True, slots=True)
class AlertMark:
    at: datetime
    rule: str
    status: str


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    unit: str
    metrics: tuple[Metric, ...]
    limits: tuple[tuple[str, str], ...]  # (threshold field, label)


PANELS: tuple[Panel, ...] = (
    Panel(
        "bp",
        "Blood pressure",
        "mm[Hg]",
        (Metric.SYSTOLIC, Metric.DIASTOLIC),
        (("systolic_above", "systolic limit"), ("diastolic_above", "diastolic limit")),
    ),
    Panel(
        "hr",
        "Heart rate",
        "/min",
        (Metric.HEART_RATE,),
        (("heart_rate_above", "upper limit"), ("heart_rate_below", "lower limit")),
    ),
    Panel("spo2", "Oxygen saturation", "%", (Metric.SPO2,), (("spo2_below", "lower limit"),)),
    Panel("weight", "Body weight", "kg", (Metric.WEIGHT,), ()),
    Panel(
        "glucose",
        "Blood glucose",
        "mg/dL",
        (Metric.GLUCOSE,),
        (("glucose_above", "upper limit"), ("glucose_below", "lower limit")),
    ),
)


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    y: float
    value: float


@dataclass(frozen=True, slots=True)
class Series:
    metric: str
    points: str  # SVG polyline points
    dots: str  # SVG path data: a zero-length segment per reading, drawn with round caps


@dataclass(frozen=True, slots=True)
class Mark:
    x: float
    rule: str
    status: str
    at: datetime

    @property
    def words(self) -> str:
        return rule_words(self.rule)


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    unit: str
    description: str
    series: tuple[Series, ...]
    limits: tuple[Line, ...]
    marks: tuple[Mark, ...]
    y_ticks: tuple[tuple[float, str], ...]
    x_ticks: tuple[tuple[float, str], ...]
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = PAD_LEFT
    plot_right: int = WIDTH - PAD_RIGHT
    plot_top: int = PAD_TOP
    plot_bottom: int = HEIGHT - PAD_BOTTOM
    empty: bool = field(default=False)


def _linear(low: float, high: float, out_low: float, out_high: float) -> Callable[[float], float]:
    """Maps [low, high] onto [out_low, out_high], unrounded (places are written to 0.1)."""
    if high == low:
        middle = (out_low + out_high) / 2
        return lambda value: middle
    span, out_span = high - low, out_high - out_low
    return lambda value: out_low + (value - low) / span * out_span


def build(
    panel: Panel,
    data: dict[Metric, Sequence[Point]],
    limits: Thresholds,
    alerts: Sequence[AlertMark],
    start: datetime,
    end: datetime,
) -> Chart:
    points = [p for m in panel.metrics for p in data.get(m, ())]
    lines = [
        (label, float(v))
        for name, label in panel.limits
        if (v := getattr(limits, name)) is not None
    ]
    if not points:
        return Chart(
            panel.key,
            panel.title,
            panel.unit,
            f"{panel.title}: no readings.",
            (),
            (),
            (),
            (),
            (),
            empty=True,
        )
    values = [p.value for p in points] + [v for _, v in lines]
    low, high = min(values), max(values)
    margin = max((high - low) * 0.1, 1.0)
    low, high = low - margin, high + margin
    x_at = _linear(start.timestamp(), end.timestamp(), PAD_LEFT, WIDTH - PAD_RIGHT)
    y_at = _linear(low, high, HEIGHT - PAD_BOTTOM, PAD_TOP)

    def x_of(at: datetime) -> float:
        return round(x_at(at.timestamp()), 1)

    def y_of(value: float) -> float:
        return round(y_at(value), 1)

    series = tuple(
        _series(metric, data[metric], x_at, y_at) for metric in panel.metrics if data.get(metric)
    )
    marks = tuple(
        Mark(x_of(a.at), a.rule, a.status, a.at)
        for a in alerts
        if start <= a.at <= end and _belongs(a.rule, panel)
    )
    y_ticks = tuple((y_of(v), f"{v:g}") for v in _ticks(low, high))
    x_ticks = tuple((x_of(at), at.strftime("%b %d")) for at in _day_ticks(start, end))
    limit_lines = tuple(Line(label, y_of(v), v) for label, v in lines)
    description = _describe(panel, points, limit_lines, marks)
    return Chart(
        panel.key,
        panel.title,
        panel.unit,
        description,
        series,
        limit_lines,
        marks,
        y_ticks,
        x_ticks,
    )


def _series(
    metric: Metric,
    points: Sequence[Point],
    x_at: Callable[[float], float],
    y_at: Callable[[float], float],
) -> Series:
    """Each point is placed once: the dots keep the readings' order, the line runs in time
    order (a stable sort, so readings at the same moment keep theirs). The dots are one path
    (one element per series, however many readings). Places are written to 0.1, as the
    chart's other places are rounded."""
    placed = [(p.at, f"{x_at(p.at.timestamp()):.1f},{y_at(p.value):.1f}") for p in points]
    line = sorted(placed, key=lambda q: q[0])
    return Series(
        metric.value,
        " ".join(place for _, place in line),
        " ".join(f"M{place}h0" for _, place in placed),
    )


def _belongs(rule: str, panel: Panel) -> bool:
    prefixes = {
        "bp": ("systolic", "diastolic"),
        "hr": ("heart_rate",),
        "spo2": ("spo2",),
        "weight": ("weight",),
        "glucose": ("glucose",),
    }[panel.key]
    return rule.startswith(prefixes)


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    step = (high - low) / count
    return [round(low + step * i) for i in range(1, count)]


def _day_ticks(start: datetime, end: datetime, count: int = 4) -> list[datetime]:
    step = (end - start) / count
    return [start + step * i for i in range(count + 1)]


def _describe(
    panel: Panel, points: Sequence[Point], limits: Sequence[Line], marks: Sequence[Mark]
) -> str:
    first = min(p.at for p in points).strftime("%Y-%m-%d")
    last = max(p.at for p in points).strftime("%Y-%m-%d")
    parts = [f"{panel.title}: {len(points)} readings from {first} to {last}"]
    parts.extend(f"{line.label} {line.value:g} {panel.unit}" for line in limits)
    if marks:
        parts.append(f"{len(marks)} alert{'s' if len(marks) != 1 else ''} marked")
    return "; ".join(parts) + "."


TableRow = tuple[str, str, str, str, bool]


def table(readings: Sequence[ShownReading]) -> list[TableRow]:
    """The readings as the data table beside a chart lists them, in text: time (UTC, to the
    minute), measurement, value, unit and whether the device clock ran ahead."""
    return [
        (
            stamp(r.effective_at),
            r.metric.replace("_", " "),
            "%g" % r.value,  # noqa: UP031 - the same figure the chart's labels show
            r.unit,
            r.clock_skew,
        )
        for r in readings
    ]
