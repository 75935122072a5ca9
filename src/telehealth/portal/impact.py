"""The cliff report: what the rules in force take away between two dates of service.

For a coordinator's or administrator's organization, every upcoming visit, open review case
and active monitoring enrollment is decided twice with the current rule set, its date of
service moved to ``from_date`` (the baseline) and to ``to_date``;
:func:`telehealth.policy.impact.compare` lists what the later decision makes stricter. The
visits, cases and enrollments are listed through their capabilities' services, which decide
access (coordinators and administrators only) and audit each row.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from telehealth.access import service as access
from telehealth.errors import DomainError, ErrorCode
from telehealth.identity import queries as identity_queries
from telehealth.monitoring import service as monitoring
from telehealth.policy.decision import Decision
from telehealth.policy.engine import decide
from telehealth.policy.facts import parse_facts
from telehealth.policy.impact import Change, compare
from telehealth.policy.loader import RuleSet
from telehealth.review import service as review
from telehealth.scope import Scope
from telehealth.visits import access as visit_access
from telehealth.visits import booking

CSV_COLUMNS = (
    "patient",
    "record_number",
    "clinician",
    "object_kind",
    "object_id",
    "change",
    "modality",
    "before",
    "after",
    "rule",
    "citation",
    "date",
)


@dataclass(frozen=True, slots=True)
class ImpactRow:
    patient_id: uuid.UUID
    patient: str
    record_number: str
    clinician_id: uuid.UUID | None
    clinician: str
    object_kind: str
    object_id: uuid.UUID
    change: Change

    def csv_values(self) -> list[str]:
        c = self.change
        return [
            self.patient,
            self.record_number,
            self.clinician,
            self.object_kind,
            str(self.object_id),
            c.kind,
            c.modality or "",
            c.before,
            c.after,
            c.rule,
            c.citation,
            c.on.isoformat(),
        ]


@dataclass(frozen=True, slots=True)
class ClinicianGroup:
    clinician: str
    rows: list[ImpactRow]


@dataclass(frozen=True, slots=True)
class PatientGroup:
    patient: str
    record_number: str
    clinicians: list[ClinicianGroup]


# Patients on one page of the HTML report; the CSV always holds every row.
PATIENTS_PER_PAGE = 50


@dataclass(frozen=True, slots=True)
class PatientPage:
    """One page of the report's patient groups: ``number`` counts from 1 of ``pages``."""

    groups: list[PatientGroup]
    number: int
    pages: int
    patients: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


@dataclass(frozen=True, slots=True)
class ImpactReport:
    from_date: date
    to_date: date
    revision: str
    examined: int
    skipped: int
    rows: list[ImpactRow]

    def by_patient(self) -> list[PatientGroup]:
        """The rows grouped by patient (by name), then by clinician (by name)."""
        patients: dict[uuid.UUID, list[ImpactRow]] = {}
        for row in self.rows:
            patients.setdefault(row.patient_id, []).append(row)
        groups = []
        for rows in patients.values():
            clinicians: dict[uuid.UUID | None, list[ImpactRow]] = {}
            for row in rows:
                clinicians.setdefault(row.clinician_id, []).append(row)
            groups.append(
                PatientGroup(
                    rows[0].patient,
                    rows[0].record_number,
                    sorted(
                        (ClinicianGroup(r[0].clinician, r) for r in clinicians.values()),
                        key=lambda g: g.clinician,
                    ),
                )
            )
        return sorted(groups, key=lambda g: (g.patient, g.record_number))

    def patient_page(self, number: int, per_page: int | None = None) -> PatientPage:
        """Page ``number`` of the patient groups (``PATIENTS_PER_PAGE`` to a page unless
        told); a number past either end gives that end."""
        per_page = per_page or PATIENTS_PER_PAGE
        groups = self.by_patient()
        pages = max(1, -(-len(groups) // per_page))
        number = min(max(number, 1), pages)
        start = (number - 1) * per_page
        return PatientPage(groups[start : start + per_page], number, pages, len(groups))

    def by_clinician(self) -> dict[str, int]:
        """How many changes each clinician's work carries, by clinician name."""
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row.clinician] = counts.get(row.clinician, 0) + 1
        return dict(sorted(counts.items()))

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in self.rows:
            writer.writerow(row.csv_values())
        return out.getvalue()


@dataclass(frozen=True, slots=True)
class _Subject:
    kind: str
    object_id: uuid.UUID
    patient_id: uuid.UUID
    clinician_id: uuid.UUID | None
    facts: dict[str, Any]


def _decide_on(facts: dict[str, Any], on: date, ruleset: RuleSet, scope: Scope) -> Decision:
    return decide(
        parse_facts({**facts, "date_of_service": on.isoformat()}),
        ruleset,
        evaluated_at=scope.clock.now(),
        decision_id="impact",
    )


def _subjects(scope: Scope, on: date) -> Iterator[_Subject]:
    for visit in visit_access.upcoming_visits_of_org(scope):
        yield _Subject(
            "visit",
            visit.id,
            visit.patient_id,
            visit.clinician_id,
            booking.visit_facts(scope, visit, on),
        )
    for case in review.open_cases_of_org(scope):
        yield _Subject(
            "review case",
            case.id,
            case.patient_id,
            case.reviewer_id,
            review.case_facts(scope, case, on),
        )
    for enrollment in monitoring.active_enrollments_of_org(scope):
        yield _Subject(
            "enrollment",
            enrollment.id,
            enrollment.patient_id,
            enrollment.clinician_id,
            monitoring.enrollment_facts(scope, enrollment, on),
        )


def changes_between(
    facts: dict[str, Any], from_date: date, to_date: date, ruleset: RuleSet, scope: Scope
) -> list[Change] | None:
    """The changes for one encounter's facts, or None when they cannot be decided on one of
    the dates (an in-person visit recorded after the baseline date, for example)."""
    try:
        before = _decide_on(facts, from_date, ruleset, scope)
        after = _decide_on(facts, to_date, ruleset, scope)
    except DomainError:
        return None
    return compare(before, after, to_date)


def _rows(scope: Scope, found: list[tuple[_Subject, Change]]) -> list[ImpactRow]:
    """The report's rows: each change with its patient's name and record number and its
    clinician's name (read as part of the listed objects' audited reads)."""
    banners = access.listed_patients(scope, {s.patient_id for s, _ in found})
    names: dict[uuid.UUID | None, str] = {None: "Not yet claimed"}
    rows: list[ImpactRow] = []
    for subject, change in found:
        if subject.clinician_id is not None and subject.clinician_id not in names:
            user = identity_queries.user_by_id(scope.session, subject.clinician_id)
            names[subject.clinician_id] = user.display_name if user is not None else "Unknown"
        banner = banners.get(subject.patient_id)
        rows.append(
            ImpactRow(
                subject.patient_id,
                banner.name if banner is not None else "Unknown patient",
                banner.record_number if banner is not None else "",
                subject.clinician_id,
                names[subject.clinician_id],
                subject.kind,
                subject.object_id,
                change,
            )
        )
    return rows


def impact(scope: Scope, from_date: date, to_date: date) -> ImpactReport:
    """The cliff report for the actor's organization (coordinators and administrators)."""
    access.require_org_manager(scope)
    if to_date <= from_date:
        raise DomainError(ErrorCode.INVALID_INPUT, "the later date must be after the first")
    ruleset = scope.ports.ruleset
    found: list[tuple[_Subject, Change]] = []
    examined = skipped = 0
    for subject in _subjects(scope, to_date):
        examined += 1
        changes = changes_between(subject.facts, from_date, to_date, ruleset, scope)
        if changes is None:
            skipped += 1
            continue
        found.extend((subject, change) for change in changes)
    rows = _rows(scope, found)
    return ImpactReport(from_date, to_date, ruleset.revision, examined, skipped, rows)


def revision_rows(scope: Scope) -> list[ImpactRow]:
    """What the rule revision in force takes away from upcoming visits planned under an older
    one, each on the visit's own date (the coordinators' rule-update notice leads here)."""
    access.require_org_manager(scope)
    found = [
        (_Subject("visit", v.id, v.patient_id, v.clinician_id, {}), change)
        for v in visit_access.upcoming_visits_of_org(scope)
        for change in booking.revision_changes(scope, v)
    ]
    return _rows(scope, found)
