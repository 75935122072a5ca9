"""Pure rules of remote patient monitoring: codes, units, plausibility, thresholds, alerts, periods.

Nothing here touches the database or the web: ingestion, the alert job and billing call these
functions with plain values, so the rules are tested on their own.
"""

from __future__ import annotations

import calendar
import uuid
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple


class Program(StrEnum):
    HYPERTENSION = "hypertension"
    HEART_FAILURE = "heart_failure"
    COPD = "copd"
    DIABETES = "diabetes"
    CUSTOM = "custom"


class Metric(StrEnum):
    SYSTOLIC = "systolic"
    DIASTOLIC = "diastolic"
    HEART_RATE = "heart_rate"
    SPO2 = "spo2"
    WEIGHT = "weight"
    GLUCOSE = "glucose"


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    RESOLVED = "resolved"


class AlertAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    ESCALATE = "escalate"
    RESOLVE = "resolve"


class AlertKind(StrEnum):
    THRESHOLD = "threshold"
    NO_DATA = "no_data"


# --- codes and units --------------------------------------------------------------------------

BP_PANEL = "85354-9"
LOINC: dict[str, Metric] = {
    "8480-6": Metric.SYSTOLIC,
    "8462-4": Metric.DIASTOLIC,
    "8867-4": Metric.HEART_RATE,
    "59408-5": Metric.SPO2,
    "29463-7": Metric.WEIGHT,
    "2339-0": Metric.GLUCOSE,
}
CODE_OF: dict[Metric, str] = {metric: code for code, metric in LOINC.items()}

# The unit each metric is stored in (UCUM).
CANONICAL_UNIT: dict[Metric, str] = {
    Metric.SYSTOLIC: "mm[Hg]",
    Metric.DIASTOLIC: "mm[Hg]",
    Metric.HEART_RATE: "/min",
    Metric.SPO2: "%",
    Metric.WEIGHT: "kg",
    Metric.GLUCOSE: "mg/dL",
}

GLUCOSE_MG_DL_PER_MMOL_L = 18.0156
KG_PER_LB = 0.45359237

# Factor from an accepted UCUM unit to the canonical unit of the metric.
_CONVERSIONS: dict[Metric, dict[str, float]] = {
    Metric.SYSTOLIC: {"mm[Hg]": 1.0},
    Metric.DIASTOLIC: {"mm[Hg]": 1.0},
    Metric.HEART_RATE: {"/min": 1.0, "{beats}/min": 1.0},
    Metric.SPO2: {"%": 1.0},
    Metric.WEIGHT: {"kg": 1.0, "g": 0.001, "[lb_av]": KG_PER_LB},
    Metric.GLUCOSE: {"mg/dL": 1.0, "mmol/L": GLUCOSE_MG_DL_PER_MMOL_L},
}

# Values outside these bounds (canonical units) cannot come from a living patient: a device
# fault or a unit mix-up, refused rather than stored or alerted on.
PLAUSIBLE: dict[Metric, tuple[float, float]] = {
    Metric.SYSTOLIC: (40.0, 300.0),
    Metric.DIASTOLIC: (20.0, 200.0),
    Metric.HEART_RATE: (20.0, 300.0),
    Metric.SPO2: (50.0, 100.0),
    Metric.WEIGHT: (0.5, 500.0),
    Metric.GLUCOSE: (10.0, 1500.0),
}

# A device whose clock runs ahead of ours by more than this is flagged; its readings are kept.
SKEW_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class RawReading:
    """One reading as a device sent it; ``index`` is its position in the batch, for errors."""

    index: int
    code: str
    value: float
    unit: str
    effective_at: datetime


@dataclass(frozen=True, slots=True)
class Reading:
    """A checked reading in canonical units."""

    code: str
    metric: Metric
    value: float
    unit: str
    effective_at: datetime
    skewed: bool = False

    @property
    def effective_date(self) -> date:
        return self.effective_at.astimezone(UTC).date()


class ShownReading(NamedTuple):
    """A stored reading as pages chart and list it. A named tuple: pages build one per
    reading, and one is made from a result row in less than half the time of a frozen
    dataclass."""

    effective_at: datetime
    metric: str
    value: float
    unit: str
    clock_skew: bool


class ShownAlert(NamedTuple):
    """A stored alert as pages chart and list it."""

    observed_at: datetime
    rule: str
    limit_value: float | None
    status: str
    observed_value: float | None
    metric: str | None
    id: uuid.UUID


@dataclass(frozen=True, slots=True)
class ReadingFilter:
    """Which stored readings a list shows: those of some enrollments (or the readings named by
    ``ids``), within ``start <= effective < end``, oldest first unless ``newest_first``.

    With ``panels``, a blood-pressure pair (systolic and diastolic from one device at one
    moment) is listed as one item: the systolic reading followed by its diastolic one, which
    is not an item of its own, so ``limit`` and ``offset`` count panels, not rows. ``codes``
    then selects items by their code, :data:`BP_PANEL` naming a pair and the two component
    codes a lone systolic or diastolic reading."""

    enrollment_ids: Sequence[uuid.UUID] | None = None
    ids: Sequence[uuid.UUID] | None = None
    device_id: uuid.UUID | None = None
    start: datetime | None = None
    end: datetime | None = None
    codes: Sequence[str] | None = None
    limit: int = 1000
    offset: int = 0
    newest_first: bool = False
    panels: bool = False

    def __post_init__(self) -> None:
        if self.enrollment_ids is None and self.ids is None:
            raise ValueError("a reading list names its enrollments or its readings")


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a reading was refused. Names the reading by index and code, never by its value."""

    index: int
    code: str
    reason: str

    @property
    def message(self) -> str:
        return f"reading {self.index} ({self.code}): {self.reason}"


class ReadingRejected(ValueError):
    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.message)
        self.rejection = rejection


def _reject(raw: RawReading, reason: str) -> ReadingRejected:
    return ReadingRejected(Rejection(raw.index, raw.code, reason))


def normalize(
    raw: RawReading,
    *,
    received_at: datetime,
    episode_start: date,
    episode_end: date | None,
) -> Reading:
    """Check code, unit, range and time of one reading; convert it to the canonical unit."""
    metric = LOINC.get(raw.code)
    if metric is None:
        raise _reject(raw, "unsupported LOINC code")
    factor = _CONVERSIONS[metric].get(raw.unit)
    if factor is None:
        expected = ", ".join(sorted(_CONVERSIONS[metric]))
        raise _reject(raw, f"unit must be one of {expected} (UCUM)")
    if raw.effective_at.tzinfo is None:
        raise _reject(raw, "effective time needs a UTC offset")
    value = round(raw.value * factor, 3)
    low, high = PLAUSIBLE[metric]
    if not low <= value <= high:
        raise _reject(raw, f"{metric.value} outside the physiologically possible range")
    effective = raw.effective_at.astimezone(UTC)
    day = effective.date()
    if day < episode_start or (episode_end is not None and day > episode_end):
        raise _reject(raw, "effective time outside the episode of care")
    return Reading(
        code=raw.code,
        metric=metric,
        value=value,
        unit=CANONICAL_UNIT[metric],
        effective_at=effective,
        skewed=effective - received_at > SKEW_TOLERANCE,
    )


def check_pairs(readings: Sequence[tuple[int, Reading]]) -> list[Rejection]:
    """Blood-pressure pairs taken together must have systolic above diastolic."""
    systolic = {r.effective_at: r.value for _, r in readings if r.metric is Metric.SYSTOLIC}
    problems: list[Rejection] = []
    for index, reading in readings:
        if reading.metric is not Metric.DIASTOLIC:
            continue
        paired = systolic.get(reading.effective_at)
        if paired is not None and paired <= reading.value:
            problems.append(Rejection(index, BP_PANEL, "systolic not above diastolic"))
    return problems


# --- thresholds -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Alert limits, in canonical units. ``None`` means the rule is off."""

    systolic_above: float | None = None
    diastolic_above: float | None = None
    spo2_below: float | None = None
    heart_rate_above: float | None = None
    heart_rate_below: float | None = None
    glucose_above: float | None = None
    glucose_below: float | None = None
    weight_gain_day_kg: float | None = None
    weight_gain_week_kg: float | None = None
    no_data_days: int | None = 3

    def merged(self, overrides: Mapping[str, float | int | None]) -> Thresholds:
        known = {k: v for k, v in overrides.items() if k in THRESHOLD_FIELDS}
        return replace(self, **known)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, float | int | None]:
        return {name: getattr(self, name) for name in THRESHOLD_FIELDS}


THRESHOLD_FIELDS: tuple[str, ...] = (
    "systolic_above",
    "diastolic_above",
    "spo2_below",
    "heart_rate_above",
    "heart_rate_below",
    "glucose_above",
    "glucose_below",
    "weight_gain_day_kg",
    "weight_gain_week_kg",
    "no_data_days",
)

# Starting points a program can replace; a clinician tunes them per patient.
PROGRAM_DEFAULTS: dict[Program, Thresholds] = {
    Program.HYPERTENSION: Thresholds(
        systolic_above=180, diastolic_above=110, heart_rate_above=120, heart_rate_below=40
    ),
    Program.HEART_FAILURE: Thresholds(
        systolic_above=180,
        spo2_below=90,
        heart_rate_above=120,
        heart_rate_below=40,
        weight_gain_day_kg=1.0,
        weight_gain_week_kg=2.3,
    ),
    Program.COPD: Thresholds(spo2_below=88, heart_rate_above=120),
    Program.DIABETES: Thresholds(glucose_above=300, glucose_below=70),
    Program.CUSTOM: Thresholds(),
}


@dataclass(frozen=True, slots=True)
class Breach:
    rule: str
    metric: Metric
    limit: float
    observed_at: datetime
    value: float


_LIMIT_RULES: tuple[tuple[str, Metric, bool], ...] = (
    # (threshold field, metric, True when the breach is above the limit)
    ("systolic_above", Metric.SYSTOLIC, True),
    ("diastolic_above", Metric.DIASTOLIC, True),
    ("spo2_below", Metric.SPO2, False),
    ("heart_rate_above", Metric.HEART_RATE, True),
    ("heart_rate_below", Metric.HEART_RATE, False),
    ("glucose_above", Metric.GLUCOSE, True),
    ("glucose_below", Metric.GLUCOSE, False),
)


def limit_breaches(reading: Reading, limits: Thresholds) -> list[Breach]:
    found: list[Breach] = []
    for name, metric, above in _LIMIT_RULES:
        limit = getattr(limits, name)
        if limit is None or reading.metric is not metric:
            continue
        if (reading.value > limit) if above else (reading.value < limit):
            found.append(Breach(name, metric, float(limit), reading.effective_at, reading.value))
    return found


@dataclass(frozen=True, slots=True)
class WeightPoint:
    at: datetime
    kg: float


def weight_breaches(
    candidates: Iterable[WeightPoint], history: Sequence[WeightPoint], limits: Thresholds
) -> list[Breach]:
    """Gain over a day or a week, measured against the lowest weight in the window before.

    ``history`` holds every weight known (whatever order it arrived in), so a late reading
    is judged against the readings around its own time, and readings after it are re-judged.
    """
    windows = (
        ("weight_gain_day_kg", timedelta(days=1), limits.weight_gain_day_kg),
        ("weight_gain_week_kg", timedelta(days=7), limits.weight_gain_week_kg),
    )
    ordered = sorted(history, key=lambda p: p.at)
    times = [p.at for p in ordered]
    lowest = _RangeMin([p.kg for p in ordered])
    found: list[Breach] = []
    for point in candidates:
        before = bisect_left(times, point.at)
        for rule, span, limit in windows:
            if limit is None:
                continue
            low = lowest.query(bisect_left(times, point.at - span), before)
            if low is not None and point.kg - low > limit:
                found.append(Breach(rule, Metric.WEIGHT, float(limit), point.at, point.kg))
    return found


class _RangeMin:
    """Minimum of any slice in constant time (a sparse table), so a batch of weights is judged
    against a long history without rescanning it for every reading."""

    def __init__(self, values: Sequence[float]) -> None:
        self._levels: list[list[float]] = [list(values)]
        width = 1
        while width * 2 <= len(values):
            prev = self._levels[-1]
            self._levels.append(
                [min(prev[i], prev[i + width]) for i in range(len(values) - 2 * width + 1)]
            )
            width *= 2

    def query(self, lo: int, hi: int) -> float | None:
        """The minimum of ``values[lo:hi]``, or None for an empty slice."""
        if lo >= hi:
            return None
        level = (hi - lo).bit_length() - 1
        row = self._levels[level]
        return min(row[lo], row[hi - (1 << level)])


def silent_for(last_heard: datetime, now: datetime, limits: Thresholds) -> bool:
    if limits.no_data_days is None:
        return False
    return now - last_heard >= timedelta(days=limits.no_data_days)


# --- alerts in words ---------------------------------------------------------------------------

RULE_WORDS: dict[str, str] = {
    "systolic_above": "Systolic above its limit",
    "diastolic_above": "Diastolic above its limit",
    "spo2_below": "Oxygen saturation below its limit",
    "heart_rate_above": "Heart rate above its limit",
    "heart_rate_below": "Heart rate below its limit",
    "glucose_above": "Glucose above its limit",
    "glucose_below": "Glucose below its limit",
    "weight_gain_day_kg": "Weight gain in a day over its limit",
    "weight_gain_week_kg": "Weight gain in a week over its limit",
    "no_data": "No readings from a device",
}
# UCUM codes as people write the units.
UNIT_WORDS: dict[str, str] = {"mm[Hg]": "mmHg", "/min": "beats/min", "%": "%", "kg": "kg"}


def unit_words(metric: str | None) -> str:
    if metric is None:
        return ""
    try:
        unit = CANONICAL_UNIT[Metric(metric)]
    except ValueError:
        return ""
    return UNIT_WORDS.get(unit, unit)


def rule_words(rule: str) -> str:
    return RULE_WORDS.get(rule, rule.replace("_", " ").capitalize())


def measured_words(metric: str | None, value: float | None) -> str:
    """'192 mmHg': what the device measured, in its unit; '—' for a silent device."""
    if value is None:
        return "—"
    return f"{value:g} {unit_words(metric)}".strip()


def limit_words(rule: str, metric: str | None, limit: float | None) -> str:
    if limit is None:
        return "—"
    if rule == "no_data":
        return f"{limit:g} days"
    if rule.startswith("weight_gain"):
        return f"{limit:g} kg gain"
    return f"{limit:g} {unit_words(metric)}".strip()


# --- alert lifecycle --------------------------------------------------------------------------

TRANSITIONS: dict[tuple[AlertStatus, AlertAction], AlertStatus] = {
    (AlertStatus.OPEN, AlertAction.ACKNOWLEDGE): AlertStatus.ACKNOWLEDGED,
    (AlertStatus.OPEN, AlertAction.ESCALATE): AlertStatus.ESCALATED,
    (AlertStatus.ACKNOWLEDGED, AlertAction.ESCALATE): AlertStatus.ESCALATED,
    (AlertStatus.ACKNOWLEDGED, AlertAction.RESOLVE): AlertStatus.RESOLVED,
    (AlertStatus.ESCALATED, AlertAction.RESOLVE): AlertStatus.RESOLVED,
}


class InvalidTransition(ValueError):
    def __init__(self, status: AlertStatus, action: AlertAction) -> None:
        super().__init__(f"an alert that is {status.value} cannot be told to {action.value}")
        self.status = status
        self.action = action


def next_status(status: AlertStatus, action: AlertAction) -> AlertStatus:
    """Open alerts are acknowledged (or escalated at once) before they can be resolved."""
    target = TRANSITIONS.get((status, action))
    if target is None:
        raise InvalidTransition(status, action)
    return target


# --- periods ----------------------------------------------------------------------------------

DEVICE_PERIOD_DAYS = 30
DEVICE_CODES = frozenset({"99453", "99454", "99445"})
MANAGEMENT_CODES = frozenset({"99457", "99458", "99470"})


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    end: date  # inclusive
    index: int = 0

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


def _days_after(day: date, days: int) -> date:
    # Held at the calendar's last day: an episode stored far in the future still has periods
    # (cut short) instead of overflowing on every page that lists it.
    return day + timedelta(days=min(days, (date.max - day).days))


def device_period(episode_start: date, index: int) -> Period:
    start = _days_after(episode_start, DEVICE_PERIOD_DAYS * index)
    return Period(start, _days_after(start, DEVICE_PERIOD_DAYS - 1), index)


def device_period_on(episode_start: date, day: date) -> Period:
    """The episode's 30-day device-supply period containing ``day``."""
    index = max(0, (day - episode_start).days // DEVICE_PERIOD_DAYS)
    return device_period(episode_start, index)


def device_periods_overlapping(
    episode_start: date, episode_end: date | None, window: Period
) -> list[Period]:
    periods: list[Period] = []
    current = device_period_on(episode_start, max(window.start, episode_start))
    while current.start <= window.end and (episode_end is None or current.start <= episode_end):
        if current.end >= window.start:
            periods.append(current)
        if current.end == date.max:
            break
        current = device_period(episode_start, current.index + 1)
    return periods


def calendar_month(year: int, month: int) -> Period:
    last = calendar.monthrange(year, month)[1]
    return Period(date(year, month, 1), date(year, month, last))


def data_days(days: Iterable[date], period: Period) -> int:
    """Distinct days with at least one reading, by each reading's own (effective) date."""
    return len({day for day in days if period.contains(day)})


@dataclass(frozen=True, slots=True)
class CodedLine:
    code: str
    units: int
    rationale: str


@dataclass(frozen=True, slots=True)
class Statement:
    """What one period bills, and in words why (or why not)."""

    kind: str  # device | management
    period: Period
    data_days: int
    management_minutes: int
    interactive: bool
    lines: tuple[CodedLine, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def codes(self) -> list[str]:
        return [line.code for line in self.lines]


def device_reason(days: int, codes: Sequence[str], service_date: date) -> str:
    """'12 data days: 99445, not 99454' — the sentence a biller reads first."""
    label = f"{days} data day" + ("" if days == 1 else "s")
    supply = [c for c in codes if c in ("99454", "99445")]
    setup = " with 99453" if "99453" in codes else ""
    if "99445" in supply:
        return f"{label}: 99445, not 99454 (99454 needs 16){setup}"
    if "99454" in supply:
        return f"{label}: 99454{setup}"
    if service_date.year >= 2026:
        return f"{label}: not billable (99445 needs 2, 99454 needs 16)"
    return f"{label}: not billable (99454 needs 16; 99445 starts in 2026)"


def management_reason(
    minutes: int, interactive: bool, codes: Sequence[str], service_date: date
) -> str:
    label = f"{minutes} min"
    if codes:
        units = ", ".join(codes)
        return (
            f"{label} this month{' with interactive communication' if interactive else ''}: {units}"
        )
    if minutes > 0 and not interactive:
        return f"{label}: not billable (no real-time interactive communication this month)"
    floor = 10 if service_date.year >= 2026 else 20
    code = "99470" if floor == 10 else "99457"
    return f"{label}: not billable ({code} needs {floor})"
