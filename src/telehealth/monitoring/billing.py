"""Billing periods: data days per 30-day device period, minutes per calendar month, and codes.

The codes come from the coding engine; this module only gathers the facts of a period and
phrases the outcome ("12 data days: 99445, not 99454"). Device supply and treatment management
run on different clocks (30 days from the episode start vs the calendar month), so each is
coded as its own monitoring encounter and keeps only the lines and findings of its part.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from telehealth.audit.model import Action
from telehealth.coding.codeset import CodeSet
from telehealth.coding.encounter import (
    Encounter,
    EncounterSource,
    Finding,
    Monitoring,
    Patient,
    Service,
)
from telehealth.coding.engine import code_encounter
from telehealth.errors import DomainError, ErrorCode
from telehealth.identity.model import PatientBanner, Role
from telehealth.monitoring import model, repository
from telehealth.monitoring import service as monitoring
from telehealth.monitoring.tables import Enrollment, TimeEntry
from telehealth.scope import Scope

_MANAGEMENT_RULES = ("rpm.management", "select.rpm_management", "select.rpm_additional")


@dataclass(frozen=True)
class CodedStatement:
    statement: model.Statement
    service_date: date
    complete: bool
    reason: str
    findings: tuple[Finding, ...]


def _is_management_finding(finding: Finding) -> bool:
    return finding.rule.startswith(_MANAGEMENT_RULES)


def _encounter(
    enrollment: Enrollment, state: str, service_date: date, facts: Monitoring
) -> Encounter:
    return Encounter(
        date_of_service=service_date,
        payer=enrollment.payer,
        patient=Patient(location_state=state, setting="home"),
        modality="remote_monitoring",
        service=Service(kind="rpm"),
        rpm=facts,
        source=EncounterSource(kind="monitoring_period", id=str(enrollment.id)),
    )


def device_statement(
    codeset: CodeSet,
    enrollment: Enrollment,
    state: str,
    period: model.Period,
    days: int,
    today: date,
) -> CodedStatement:
    facts = Monitoring(
        period_start=period.start, data_days=days, first_period_of_episode=period.index == 0
    )
    result = code_encounter(_encounter(enrollment, state, period.end, facts), codeset)
    lines = tuple(
        model.CodedLine(line.code, line.units, line.rationale)
        for line in result.lines
        if line.code in model.DEVICE_CODES
    )
    findings = tuple(f for f in result.findings if not _is_management_finding(f))
    statement = model.Statement(
        "device", period, days, 0, False, lines, tuple(f.message for f in findings)
    )
    reason = model.device_reason(days, statement.codes, period.end)
    return CodedStatement(statement, period.end, period.end < today, reason, findings)


def management_statement(
    codeset: CodeSet,
    enrollment: Enrollment,
    state: str,
    month: model.Period,
    minutes: int,
    interactive: bool,
    today: date,
) -> CodedStatement:
    facts = Monitoring(
        period_start=month.start,
        data_days=0,
        management_minutes=min(minutes, 31 * 24 * 60),
        interactive_communication=interactive,
    )
    result = code_encounter(_encounter(enrollment, state, month.end, facts), codeset)
    lines = tuple(
        model.CodedLine(line.code, line.units, line.rationale)
        for line in result.lines
        if line.code in model.MANAGEMENT_CODES
    )
    findings = tuple(f for f in result.findings if _is_management_finding(f))
    statement = model.Statement(
        "management", month, 0, minutes, interactive, lines, tuple(f.message for f in findings)
    )
    reason = model.management_reason(minutes, interactive, statement.codes, month.end)
    return CodedStatement(statement, month.end, month.end < today, reason, findings)


def _data_days(scope: Scope, enrollment: Enrollment, period: model.Period) -> int:
    days = repository.reading_days(scope.session, enrollment.id, period.start, period.end)
    return model.data_days(days, period)


def _management(scope: Scope, enrollment: Enrollment, month: model.Period) -> tuple[int, bool]:
    return _minutes(repository.time_entries(scope.session, enrollment.id, month.start, month.end))


def _minutes(entries: Sequence[TimeEntry]) -> tuple[int, bool]:
    finished = [e for e in entries if e.minutes is not None]
    return sum(e.minutes or 0 for e in finished), any(e.interactive for e in finished)


@dataclass(frozen=True)
class MonthStatements:
    month: model.Period
    management: CodedStatement
    devices: tuple[CodedStatement, ...]


def month_statements(
    scope: Scope, enrollment: Enrollment, year: int, month: int
) -> MonthStatements:
    window = model.calendar_month(year, month)
    state = monitoring.patient_of(scope, enrollment).home_state
    today = scope.clock.now().date()
    minutes, interactive = _management(scope, enrollment, window)
    management = management_statement(
        scope.ports.codeset, enrollment, state, window, minutes, interactive, today
    )
    devices = tuple(
        device_statement(
            scope.ports.codeset,
            enrollment,
            state,
            period,
            _data_days(scope, enrollment, period),
            today,
        )
        for period in model.device_periods_overlapping(
            enrollment.episode_start, enrollment.episode_end, window
        )
    )
    return MonthStatements(window, management, devices)


def billing(scope: Scope, enrollment_id: uuid.UUID, year: int, month: int) -> MonthStatements:
    enrollment = monitoring.care_team_enrollment(scope, enrollment_id, "billing")
    statements = month_statements(scope, enrollment, year, month)
    scope.audit.record(
        Action.READ,
        "monitoring_billing",
        enrollment.id,
        patient_id=enrollment.patient_id,
        detail={"month": f"{year:04d}-{month:02d}"},
    )
    return statements


# --- panel ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PanelRow:
    enrollment: Enrollment
    patient_name: str
    # Who the patient is (age, sex, record number), from the row the panel's query joined.
    banner: PatientBanner
    open_alerts: int
    period: model.Period
    data_days: int
    management_minutes: int
    billing_status: str
    billable_codes: tuple[str, ...]


def _billing_rank(row: PanelRow) -> int:
    # Patients furthest from a billable period first: they need outreach soonest.
    return len(row.billable_codes)


def panel(scope: Scope, limit: int = 500) -> list[PanelRow]:
    actor = scope.require_actor()
    if not actor.is_staff:
        raise DomainError(ErrorCode.FORBIDDEN, "the monitoring panel is for the care team")
    clinician = actor.user_id if actor.role is Role.CLINICIAN else None
    found = repository.panel_enrollments(
        scope.session, actor.org_id, clinician, limit, now=scope.clock.now()
    )
    ids = [e.id for e, _ in found]
    counts = repository.open_alert_counts(scope.session, ids)
    today = scope.clock.now().date()
    month = model.calendar_month(today.year, today.month)
    periods = {
        e.id: model.device_period_on(e.episode_start, max(today, e.episode_start)) for e, _ in found
    }
    # Each enrollment's days and minutes, read for the whole panel at once.
    days = repository.reading_days_of(
        scope.session,
        ids,
        min((p.start for p in periods.values()), default=today),
        max((p.end for p in periods.values()), default=today),
    )
    entries = repository.time_entries_of(scope.session, ids, month.start, month.end)
    rows = [
        _panel_row(
            scope.ports.codeset,
            enrollment,
            PatientBanner.of(patient, today),
            f"{patient.family_name}, {patient.given_name}",
            counts.get(enrollment.id, 0),
            today,
            _PanelFacts(
                periods[enrollment.id],
                model.data_days(days.get(enrollment.id, []), periods[enrollment.id]),
                month,
                entries.get(enrollment.id, []),
            ),
        )
        for enrollment, patient in found
    ]
    for row in rows:
        scope.audit.record(
            Action.READ,
            "monitoring_enrollment",
            row.enrollment.id,
            patient_id=row.enrollment.patient_id,
            detail={"view": "panel"},
        )
    return sorted(
        rows, key=lambda r: (-r.open_alerts, r.data_days, _billing_rank(r), r.patient_name)
    )


@dataclass(frozen=True)
class _PanelFacts:
    period: model.Period
    data_days: int
    month: model.Period
    entries: Sequence[TimeEntry]


def _panel_row(
    codeset: CodeSet,
    enrollment: Enrollment,
    banner: PatientBanner,
    name: str,
    alerts: int,
    today: date,
    facts: _PanelFacts,
) -> PanelRow:
    state = banner.home_state
    device = device_statement(codeset, enrollment, state, facts.period, facts.data_days, today)
    minutes, interactive = _minutes(facts.entries)
    management = management_statement(
        codeset, enrollment, state, facts.month, minutes, interactive, today
    )
    codes = (*device.statement.codes, *management.statement.codes)
    return PanelRow(
        enrollment,
        name,
        banner,
        alerts,
        facts.period,
        facts.data_days,
        minutes,
        f"{device.reason}; {management.reason}",
        codes,
    )


def statement_codes(statements: Sequence[CodedStatement]) -> list[str]:
    return [code for s in statements for code in s.statement.codes]
