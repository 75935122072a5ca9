"""Clinicians' weekly availability, the organization's schedules, and the free slots cut
from them."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

from telehealth.access import rules
from telehealth.access import service as access
from telehealth.audit.model import Action
from telehealth.clock import ensure_utc
from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.identity import admin as identity_admin
from telehealth.scope import Scope
from telehealth.visits import model, repository
from telehealth.visits.access import open_visits
from telehealth.visits.tables import AvailabilityWindow, Visit

if TYPE_CHECKING:
    from telehealth.identity.tables import User

MAX_SLOT_RANGE = timedelta(days=31)


def _require_schedule_manager(scope: Scope, clinician_id: uuid.UUID) -> None:
    actor = scope.require_actor()
    clinician = access.readable_clinician(scope, clinician_id)
    facts = rules.ObjectFacts(clinician.org_id, None, frozenset({clinician.id}))
    if not rules.manage_availability(actor, facts).allowed:
        access.record_denial(scope, "availability", clinician_id)
        raise DomainError(
            ErrorCode.FORBIDDEN, "only the clinician or a coordinator may change availability"
        )


def _window(row: AvailabilityWindow) -> model.WeeklyWindow:
    return model.WeeklyWindow(
        row.time_zone, row.weekday, row.start_time, row.end_time, row.slot_minutes
    )


def add_window(
    scope: Scope, clinician_id: uuid.UUID, window: model.WeeklyWindow
) -> AvailabilityWindow:
    _require_schedule_manager(scope, clinician_id)
    window.validate()
    existing = repository.windows_of(scope.session, clinician_id)
    # One time zone per clinician and no overlapping windows: slots of different windows can
    # then never overlap, which is what lets one unique (clinician, slot start) rule out every
    # double booking.
    if any(row.time_zone != window.time_zone for row in existing):
        raise DomainError(
            ErrorCode.CONFLICT, "all of a clinician's availability uses one time zone"
        )
    for row in existing:
        if (
            row.weekday == window.weekday
            and row.start_time < window.end
            and window.start < row.end_time
        ):
            raise DomainError(ErrorCode.CONFLICT, "the window overlaps existing availability")
    actor = scope.require_actor()
    row = AvailabilityWindow(
        org_id=actor.org_id,
        clinician_id=clinician_id,
        time_zone=window.time_zone,
        weekday=window.weekday,
        start_time=window.start,
        end_time=window.end,
        slot_minutes=window.slot_minutes,
        created_at=scope.clock.now(),
    )
    scope.session.add(row)
    scope.session.flush()
    scope.audit.record(
        Action.CREATE, "availability", row.id, detail={"clinician_id": str(clinician_id)}
    )
    return row


def remove_window(scope: Scope, window_id: uuid.UUID) -> None:
    actor = scope.require_actor()
    row = repository.window_by_id(scope.session, window_id)
    if row is None or row.org_id != actor.org_id:
        access.record_denial(scope, "availability", window_id)
        raise not_found("availability window")
    _require_schedule_manager(scope, row.clinician_id)
    scope.session.delete(row)
    scope.audit.record(Action.DELETE, "availability", window_id)


def windows(scope: Scope, clinician_id: uuid.UUID) -> Sequence[AvailabilityWindow]:
    access.readable_clinician(scope, clinician_id)
    return repository.windows_of(scope.session, clinician_id)


def windows_by_clinician(
    scope: Scope, clinician_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[AvailabilityWindow]]:
    """:func:`windows` of several clinicians, read together."""
    for clinician_id in clinician_ids:
        access.readable_clinician(scope, clinician_id)
    return repository.windows_of_clinicians(scope.session, clinician_ids)


@dataclass
class Schedule:
    clinician: User
    windows: list[AvailabilityWindow]
    visits: list[Visit]


def org_schedules(scope: Scope) -> list[Schedule]:
    """Each clinician of the manager's organization with their weekly windows and open visits."""
    access.require_org_manager(scope)
    booked: dict[uuid.UUID, list[Visit]] = defaultdict(list)
    for visit in open_visits(scope):
        booked[visit.clinician_id].append(visit)
    clinicians = identity_admin.org_clinicians(scope)
    windows = windows_by_clinician(scope, [user.id for user in clinicians])
    return [Schedule(user, windows[user.id], booked.get(user.id, [])) for user in clinicians]


def add_org_window(
    scope: Scope, clinician_id: uuid.UUID, window: model.WeeklyWindow
) -> AvailabilityWindow:
    """A window added by a coordinator or administrator for a clinician of their organization."""
    user = identity_admin.org_clinician(scope, clinician_id)
    return add_window(scope, user.id, window)


def remove_org_window(scope: Scope, window_id: uuid.UUID) -> None:
    """A window removed by a coordinator or administrator of the clinician's organization."""
    access.require_org_manager(scope)
    remove_window(scope, window_id)


@dataclass(frozen=True)
class FreeSlots:
    """Free (slot start, minutes) pairs, and the zone the clinician's availability is kept in
    (one per clinician, see :func:`add_window`; None without any)."""

    slots: list[tuple[datetime, int]]
    time_zone: str | None


def free_slots_with_zone(
    scope: Scope, clinician_id: uuid.UUID, start: datetime, end: datetime
) -> FreeSlots:
    """:func:`free_slots` with the clinician's zone, from the same read of their windows."""
    access.readable_clinician(scope, clinician_id)
    rows = repository.windows_of(scope.session, clinician_id)
    zone = rows[0].time_zone if rows else None
    start = max(start.astimezone(UTC), scope.clock.now())
    if end <= start:
        return FreeSlots([], zone)
    end = min(end.astimezone(UTC), start + MAX_SLOT_RANGE)
    taken = [ensure_utc(t) for t in repository.held_slots(scope.session, clinician_id, start, end)]
    return FreeSlots(model.open_slots([_window(r) for r in rows], start, end, taken), zone)


def free_slots(
    scope: Scope, clinician_id: uuid.UUID, start: datetime, end: datetime
) -> list[tuple[datetime, int]]:
    return free_slots_with_zone(scope, clinician_id, start, end).slots


def offering_window(
    scope: Scope, clinician_id: uuid.UUID, slot_start: datetime
) -> model.WeeklyWindow:
    """The clinician's availability that offers a slot starting then (its length and time
    zone are the visit's)."""
    if slot_start <= scope.clock.now():
        raise DomainError(ErrorCode.INVALID_INPUT, "the slot is in the past", field="slot_start")
    for row in repository.windows_of(scope.session, clinician_id):
        window = _window(row)
        if window.offers(slot_start):
            return window
    raise DomainError(
        ErrorCode.INVALID_INPUT, "the clinician offers no slot at that time", field="slot_start"
    )


def window_time(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, "times are HH:MM", field="time") from exc
