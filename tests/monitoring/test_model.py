"""The pure rules: units, plausibility, thresholds, the alert state machine and periods."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from telehealth.monitoring import model
from telehealth.monitoring.model import AlertAction as A
from telehealth.monitoring.model import AlertStatus as S

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def _norm(code: str, value: float, unit: str, at: datetime = NOW) -> model.Reading:
    return model.normalize(
        model.RawReading(0, code, value, unit, at),
        received_at=NOW,
        episode_start=date(2026, 1, 1),
        episode_end=None,
    )


@pytest.mark.parametrize(
    ("code", "value", "unit", "expected", "canonical"),
    [
        ("29463-7", 100, "[lb_av]", 45.359, "kg"),
        ("29463-7", 72500, "g", 72.5, "kg"),
        ("2339-0", 10, "mmol/L", 180.156, "mg/dL"),
        ("2339-0", 95, "mg/dL", 95, "mg/dL"),
        ("8867-4", 60, "{beats}/min", 60, "/min"),
        ("59408-5", 95, "%", 95, "%"),
    ],
)
def test_units_are_normalized(
    code: str, value: float, unit: str, expected: float, canonical: str
) -> None:
    reading = _norm(code, value, unit)
    assert reading.value == pytest.approx(expected, abs=0.001)
    assert reading.unit == canonical


@pytest.mark.parametrize(
    ("code", "value", "unit"),
    [
        ("8480-6", 20, "mm[Hg]"),
        ("8867-4", 400, "/min"),
        ("59408-5", 101, "%"),
        ("29463-7", 0.1, "kg"),
        ("2339-0", 200, "mmol/L"),
    ],
)
def test_impossible_values_are_refused_by_code(code: str, value: float, unit: str) -> None:
    with pytest.raises(model.ReadingRejected) as caught:
        _norm(code, value, unit)
    assert caught.value.rejection.code == code
    assert str(value) not in caught.value.rejection.message


def test_wrong_unit_names_the_accepted_ones() -> None:
    with pytest.raises(model.ReadingRejected, match=r"mg/dL, mmol/L"):
        _norm("2339-0", 5, "mg")


def test_skew_beyond_tolerance_is_flagged() -> None:
    assert _norm("8867-4", 60, "/min", NOW + timedelta(minutes=6)).skewed
    assert not _norm("8867-4", 60, "/min", NOW + timedelta(minutes=4)).skewed


def test_limit_breaches_follow_direction() -> None:
    limits = model.PROGRAM_DEFAULTS[model.Program.COPD]
    low = _norm("59408-5", 85, "%")
    assert [b.rule for b in model.limit_breaches(low, limits)] == ["spo2_below"]
    assert model.limit_breaches(_norm("59408-5", 88, "%"), limits) == []


def test_weight_gain_uses_the_lowest_weight_in_the_window() -> None:
    limits = model.Thresholds(weight_gain_day_kg=1.0, weight_gain_week_kg=2.0)
    history = [
        model.WeightPoint(NOW - timedelta(days=6), 79.0),
        model.WeightPoint(NOW - timedelta(hours=12), 80.5),
        model.WeightPoint(NOW, 81.2),
    ]
    rules = [b.rule for b in model.weight_breaches(history[-1:], history, limits)]
    assert rules == ["weight_gain_week_kg"]  # +0.7 in a day, +2.2 in a week


def test_overrides_merge_and_can_switch_a_rule_off() -> None:
    base = model.PROGRAM_DEFAULTS[model.Program.HYPERTENSION]
    merged = base.merged({"systolic_above": 160, "heart_rate_below": None, "unknown": 1})
    assert (merged.systolic_above, merged.heart_rate_below, merged.diastolic_above) == (
        160,
        None,
        110,
    )


@pytest.mark.parametrize(
    ("status", "action", "expected"),
    [
        (S.OPEN, A.ACKNOWLEDGE, S.ACKNOWLEDGED),
        (S.OPEN, A.ESCALATE, S.ESCALATED),
        (S.ACKNOWLEDGED, A.ESCALATE, S.ESCALATED),
        (S.ACKNOWLEDGED, A.RESOLVE, S.RESOLVED),
        (S.ESCALATED, A.RESOLVE, S.RESOLVED),
    ],
)
def test_allowed_transitions(status: S, action: A, expected: S) -> None:
    assert model.next_status(status, action) is expected


def test_every_other_transition_is_refused() -> None:
    refused = [(s, a) for s in S for a in A if (s, a) not in model.TRANSITIONS]
    assert len(refused) == len(S) * len(A) - len(model.TRANSITIONS)
    for status, action in refused:
        with pytest.raises(model.InvalidTransition):
            model.next_status(status, action)


def test_device_periods_are_thirty_days_from_the_episode_start() -> None:
    start = date(2025, 12, 20)
    assert model.device_period_on(start, date(2026, 1, 18)) == model.Period(
        date(2025, 12, 20), date(2026, 1, 18), 0
    )
    assert model.device_period_on(start, date(2026, 1, 19)).index == 1
    january = model.calendar_month(2026, 1)
    periods = model.device_periods_overlapping(start, None, january)
    assert [p.index for p in periods] == [0, 1]


def test_data_days_count_distinct_dates_inside_the_period() -> None:
    period = model.Period(date(2026, 1, 1), date(2026, 1, 30))
    days = [date(2026, 1, 1), date(2026, 1, 1), date(2026, 1, 30), date(2026, 1, 31)]
    assert model.data_days(days, period) == 2


@pytest.mark.parametrize(
    ("days", "codes", "on", "reason"),
    [
        (12, ["99445"], date(2026, 2, 1), "12 data days: 99445, not 99454 (99454 needs 16)"),
        (20, ["99453", "99454"], date(2025, 2, 1), "20 data days: 99454 with 99453"),
        (1, [], date(2026, 2, 1), "1 data day: not billable (99445 needs 2, 99454 needs 16)"),
        (
            12,
            [],
            date(2025, 2, 1),
            "12 data days: not billable (99454 needs 16; 99445 starts in 2026)",
        ),
    ],
)
def test_device_reasons(days: int, codes: list[str], on: date, reason: str) -> None:
    assert model.device_reason(days, codes, on) == reason
