"""What a person booking a visit from the pages chooses from: the patients they may book for,
the clinicians who can see the patient where the patient will be, and the clinician's free
slots by day in the patient's time zone.

Nothing here books: :func:`telehealth.visits.booking.book` does, and decides again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from telehealth.access import service as access
from telehealth.audit.model import Action
from telehealth.errors import DomainError, ErrorCode
from telehealth.identity import queries as identity_queries
from telehealth.identity.model import Role
from telehealth.identity.queries import Patient
from telehealth.policy.engine import decide
from telehealth.scope import Scope
from telehealth.visits import availability, booking
from telehealth.visits.access import writable_visit
from telehealth.visits.tables import Visit

# Free times are offered this many weeks ahead, one week to a page.
BOOKING_WEEKS = 4


def bookable_patients(scope: Scope) -> Sequence[Patient]:
    """Whom the actor may pick a visit for: a patient themselves, a clinician the patients they
    reach, a coordinator the organization's (the patient list's one rule)."""
    patients = access.readable_patients(scope, limit=500, offset=0)
    access.record_listed(scope, "patient", [access.Listed(p.id, p.id) for p in patients])
    return patients


def patient_to_book_for(scope: Scope, patient_id: uuid.UUID) -> Patient:
    """The patient a visit is to be booked for, as the actor may read them (anyone else's is
    not found, as a missing one is)."""
    patient = access.readable_patient(scope, patient_id)
    scope.audit.record(Action.READ, "patient", patient.id, patient_id=patient.id)
    return patient


def patient_of_visit(scope: Scope, visit: Visit) -> Patient:
    """The patient of a visit the actor has already been allowed to read."""
    patient = identity_queries.patient_by_id(scope.session, visit.patient_id)
    if patient is None:
        raise DomainError(ErrorCode.INTEGRITY_ERROR, "the visit's patient is missing")
    return patient


def clinician_name(scope: Scope, clinician_id: uuid.UUID) -> str:
    return access.readable_clinician(scope, clinician_id).display_name


def patient_time_zone(scope: Scope, patient: Patient) -> str | None:
    """The zone the patient reads times in (their account's), or None where it is unknown."""
    if patient.user_id is None:
        return None
    user = identity_queries.user_by_id(scope.session, patient.user_id)
    return user.time_zone if user is not None and user.time_zone else None


@dataclass(frozen=True)
class ClinicianChoice:
    id: uuid.UUID
    name: str
    specialties: list[str]
    languages: list[str]


def specialties_offered(scope: Scope) -> list[str]:
    """The specialties of the actor's organization's clinicians."""
    actor = scope.require_actor()
    found = {
        str(s)
        for _user, profile in identity_queries.clinicians_of(scope.session, actor.org_id)
        if profile is not None
        for s in profile.specialties
    }
    return sorted(found) or ["primary_care"]


def languages_offered(scope: Scope) -> list[str]:
    actor = scope.require_actor()
    found = {
        str(tag)
        for _user, profile in identity_queries.clinicians_of(scope.session, actor.org_id)
        for tag in (profile.languages if profile is not None else ["en"])
    }
    return sorted(found)


def clinicians_for(
    scope: Scope, intake: booking.Intake, language: str | None
) -> list[ClinicianChoice]:
    """The organization's clinicians of the intake's specialty who speak ``language`` and with
    whom the rules allow a live visit while the patient is in the intake's state.

    The rules decide exactly as booking does (licensure in the patient's state, the compact,
    video and consent), through the same facts, so that a clinician listed here is one that
    booking accepts; these decisions are not stored: booking records the one the visit is
    planned on.
    """
    actor = scope.require_actor()
    today = scope.clock.now().date()
    chosen: list[ClinicianChoice] = []
    for user, profile in identity_queries.clinicians_of(scope.session, actor.org_id):
        specialties = [str(s) for s in profile.specialties] if profile is not None else []
        languages = [str(t) for t in profile.languages] if profile is not None else ["en"]
        if intake.specialty and intake.specialty not in specialties:
            continue
        if language and language not in languages:
            continue
        if _live_visit_allowed(scope, intake, user.id, today):
            chosen.append(ClinicianChoice(user.id, user.display_name, specialties, languages))
    return chosen


def _live_visit_allowed(
    scope: Scope, intake: booking.Intake, clinician_id: uuid.UUID, on: date
) -> bool:
    specialty = booking.specialty_for(scope, clinician_id, intake.specialty)
    facts = booking.build_facts(
        scope,
        {**intake.stored(), "specialty": specialty},
        clinician_id=clinician_id,
        located_state=intake.located_state,
        on=on,
    )
    decision = decide(facts, scope.ports.ruleset, evaluated_at=scope.clock.now())
    return booking.synchronous_choice(decision)[0] is not None


@dataclass(frozen=True)
class SlotDay:
    day: date
    slots: list[datetime]


@dataclass(frozen=True)
class SlotWeek:
    """One page of free times: week ``number`` (0 starts now) of :data:`BOOKING_WEEKS`, by day
    in ``zone``, the zone the times are shown in."""

    number: int
    zone: str
    first: date
    last: date
    days: list[SlotDay]

    @property
    def earlier(self) -> int | None:
        return self.number - 1 if self.number > 0 else None

    @property
    def later(self) -> int | None:
        return self.number + 1 if self.number < BOOKING_WEEKS - 1 else None

    def offers(self, moment: datetime) -> bool:
        return any(moment == slot for day in self.days for slot in day.slots)


def week_number(value: str) -> int:
    """The week a page asks for, kept within the weeks offered (anything else: this week)."""
    return int(value) if value.isdigit() and int(value) < BOOKING_WEEKS else 0


def week_of(scope: Scope, moment: datetime) -> int:
    """The week (of those offered) a free time falls in, counted from now."""
    return min(max((moment - scope.clock.now()).days // 7, 0), BOOKING_WEEKS - 1)


def slot_week(scope: Scope, clinician_id: uuid.UUID, zone: str | None, number: int) -> SlotWeek:
    """The clinician's free slots in week ``number`` from now, grouped by day in ``zone`` (the
    patient's), or in the clinician's own where the patient's is unknown: the days and the
    times on the page read one clock either way."""
    start = scope.clock.now() + timedelta(weeks=number)
    end = start + timedelta(weeks=1)
    found = availability.free_slots_with_zone(scope, clinician_id, start, end)
    if zone is None:
        zone = found.time_zone or "UTC"
    tz = ZoneInfo(zone)
    days: dict[date, list[datetime]] = {}
    for slot, _minutes in found.slots:
        days.setdefault(slot.astimezone(tz).date(), []).append(slot)
    return SlotWeek(
        number,
        zone,
        start.astimezone(tz).date(),
        (end - timedelta(microseconds=1)).astimezone(tz).date(),
        [SlotDay(day, slots) for day, slots in days.items()],
    )


def visit_to_change(scope: Scope, visit_id: uuid.UUID) -> Visit:
    """A visit whose booking the actor may cancel or move, read (and audited) for the page
    that asks them to confirm; anyone else gets the answer for a missing or refused visit."""
    visit = writable_visit(scope, visit_id)
    scope.audit.record(Action.READ, "visit", visit.id, patient_id=visit.patient_id)
    return visit


def may_book(scope: Scope) -> bool:
    """Administrators manage accounts, not care: booking refuses them."""
    return scope.require_actor().role is not Role.ADMIN
