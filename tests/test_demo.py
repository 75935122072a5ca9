"""The demo organization: a living clinic made through the services, topped up day by day."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from telehealth.audit.keys import chain_keys
from telehealth.audit.service import verify_chain
from telehealth.clock import FrozenClock, ensure_utc
from telehealth.config import Settings, VisitSettings
from telehealth.demo import load_demo
from telehealth.identity.tables import ClinicianProfile, Patient, User
from telehealth.monitoring.tables import Alert, Enrollment, Reading
from telehealth.notifications.tables import Notification
from telehealth.review.tables import ReviewCase, ReviewMedia, ReviewReport
from telehealth.visits.tables import AvailabilityWindow, Visit, VisitNote
from tests.support import scope_for

pytestmark = pytest.mark.db

LEAD = VisitSettings().waiting_room_lead()


@dataclass
class Clinic:
    """What the demo holds, read straight from the tables."""

    weekdays: dict[str, set[int]]
    zones: set[str]
    visits: list[Visit]
    signed_notes: int
    cases: Counter[str]
    media: int
    signed_reports: int
    readings: int
    reading_days: list[int]
    open_alerts: int
    notifications: Counter[str]
    patients_with_sex: int
    users_with_zone: int
    languages: list[list[str]]


def read_clinic(settings: Settings, clock: FrozenClock) -> Clinic:
    with scope_for(settings, clock) as scope:
        s = scope.session
        weekdays: dict[str, set[int]] = {}
        zones = set()
        for window in s.scalars(select(AvailabilityWindow)):
            weekdays.setdefault(str(window.clinician_id), set()).add(window.weekday)
            zones.add(window.time_zone)
        spans = []
        for enrollment in s.scalars(select(Enrollment)):
            first, last = s.execute(
                select(func.min(Reading.effective_at), func.max(Reading.effective_at)).where(
                    Reading.enrollment_id == enrollment.id
                )
            ).one()
            spans.append((ensure_utc(last) - ensure_utc(first)).days + 1)
        return Clinic(
            weekdays=weekdays,
            zones=zones,
            visits=list(s.scalars(select(Visit))),
            signed_notes=s.scalar(
                select(func.count()).select_from(VisitNote).where(VisitNote.signed_at.is_not(None))
            )
            or 0,
            cases=Counter(s.scalars(select(ReviewCase.status))),
            media=s.scalar(select(func.count()).select_from(ReviewMedia)) or 0,
            signed_reports=s.scalar(
                select(func.count())
                .select_from(ReviewReport)
                .where(ReviewReport.signed_at.is_not(None))
            )
            or 0,
            readings=s.scalar(select(func.count()).select_from(Reading)) or 0,
            reading_days=spans,
            open_alerts=s.scalar(
                select(func.count()).select_from(Alert).where(Alert.status == "open")
            )
            or 0,
            notifications=Counter(s.scalars(select(Notification.kind))),
            patients_with_sex=s.scalar(
                select(func.count()).select_from(Patient).where(Patient.sex.is_not(None))
            )
            or 0,
            users_with_zone=s.scalar(
                select(func.count()).select_from(User).where(User.time_zone.is_not(None))
            )
            or 0,
            languages=list(s.scalars(select(ClinicianProfile.languages))),
        )


def load(settings: Settings, clock: FrozenClock, data_dir: Path) -> bool:
    with scope_for(settings, clock) as scope:
        _, created = load_demo(scope, data_dir)
    return created


def booked_ahead(clinic: Clinic, clock: FrozenClock) -> list[Visit]:
    now = clock.now()
    return sorted(
        (v for v in clinic.visits if v.status == "booked" and ensure_utc(v.slot_start) > now),
        key=lambda v: ensure_utc(v.slot_start),
    )


def test_the_demo_is_a_living_clinic(
    settings: Settings, clock: FrozenClock, tmp_path: Path
) -> None:
    assert load(settings, clock, tmp_path / "data")
    clinic = read_clinic(settings, clock)
    now = clock.now()

    # Weekly hours for each of the four clinicians, on several weekdays, in US zones.
    assert len(clinic.weekdays) == 4
    assert all(len(days) >= 4 for days in clinic.weekdays.values())
    assert clinic.zones <= {
        "America/Los_Angeles",
        "America/New_York",
        "America/Chicago",
        "America/Denver",
    }
    # Two visits held and signed; the day's visits ahead, the first within the waiting room's
    # lead so its patient can go in now.
    assert sum(v.status == "completed" for v in clinic.visits) == 2
    assert clinic.signed_notes == 2
    ahead = booked_ahead(clinic, clock)
    assert len(ahead) >= 3
    assert all(ensure_utc(v.slot_start) - now < timedelta(hours=12) for v in ahead)
    assert ensure_utc(ahead[0].slot_start) - now <= LEAD
    # Store-and-forward: one waiting in the queue, one claimed, one reported and signed, each
    # with a photo.
    assert clinic.cases == Counter({"queued": 1, "claimed": 1, "reported": 1})
    assert clinic.media == 3
    assert clinic.signed_reports == 1
    # Remote monitoring: three patients with sixty days of readings, and open alerts.
    assert len(clinic.reading_days) == 3
    assert all(days >= 59 for days in clinic.reading_days)
    assert clinic.open_alerts >= 3
    # What those actions told people.
    assert clinic.notifications["visit_booked"] >= 2 * len(ahead)
    assert clinic.notifications["monitoring_alert"] == clinic.open_alerts
    assert clinic.notifications["review_report"] == 1
    # Who the people are.
    assert clinic.patients_with_sex == 5
    assert clinic.users_with_zone == 9
    assert ["en", "es"] in clinic.languages

    with scope_for(settings, clock) as scope:
        assert verify_chain(scope.session, chain_keys(settings), {}).ok


def test_loading_again_the_same_day_adds_nothing(
    settings: Settings, clock: FrozenClock, tmp_path: Path
) -> None:
    assert load(settings, clock, tmp_path / "data")
    before = read_clinic(settings, clock)
    clock.advance(timedelta(minutes=3))
    assert not load(settings, clock, tmp_path / "data")
    after = read_clinic(settings, clock)
    assert len(after.visits) == len(before.visits)
    assert after.readings == before.readings
    assert after.notifications == before.notifications
    assert after.cases == before.cases


def test_loading_on_a_later_day_tops_up_the_day(
    settings: Settings, clock: FrozenClock, tmp_path: Path
) -> None:
    assert load(settings, clock, tmp_path / "data")
    before = read_clinic(settings, clock)
    clock.advance(timedelta(days=1))
    assert not load(settings, clock, tmp_path / "data")
    after = read_clinic(settings, clock)
    ahead = booked_ahead(after, clock)
    assert ahead
    assert ensure_utc(ahead[0].slot_start) - clock.now() <= LEAD
    assert len(after.visits) > len(before.visits)
    # A day's readings from each device: five metrics a morning across three patients.
    assert after.readings > before.readings
    assert all(days >= 60 for days in after.reading_days)
    # And again that day: nothing more.
    assert not load(settings, clock, tmp_path / "data")
    again = read_clinic(settings, clock)
    assert len(again.visits) == len(after.visits)
    assert again.readings == after.readings
