"""Chart geometry and the table beside it (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from telehealth.monitoring import chart
from telehealth.monitoring.model import PROGRAM_DEFAULTS, Metric, Program, ShownReading

START = datetime(2026, 11, 1, tzinfo=UTC)
END = START + timedelta(days=30)


def test_each_reading_is_one_dot_in_the_series_path() -> None:
    points = [
        chart.Point(START + timedelta(days=2), 130.0),
        chart.Point(START + timedelta(days=1), 140.0),
    ]
    drawn = chart.build(
        chart.PANELS[0],
        {Metric.SYSTOLIC: points},
        PROGRAM_DEFAULTS[Program.HYPERTENSION],
        [],
        START,
        END,
    )
    (series,) = drawn.series
    line = [tuple(map(float, pair.split(","))) for pair in series.points.split()]
    dots = [
        tuple(map(float, step.removeprefix("M").removesuffix("h0").split(",")))
        for step in series.dots.split()
    ]
    assert all(step.startswith("M") and step.endswith("h0") for step in series.dots.split())
    # The dots keep the readings' order; the line runs in time order through the same places.
    assert dots == list(reversed(line))
    assert len(dots) == len(points)


def test_table_rows_are_the_readings_as_text() -> None:
    readings = [
        ShownReading(START + timedelta(hours=8, seconds=30), "heart_rate", 72.0, "/min", False),
        ShownReading(START, "body_weight", 80.25, "kg", True),
    ]
    assert chart.table(readings) == [
        ("2026-11-01 08:00", "heart rate", "72", "/min", False),
        ("2026-11-01 00:00", "body weight", "80.25", "kg", True),
    ]
