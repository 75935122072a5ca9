"""Informed consent: what the visit's current decision requires, what the patient has
given, and recording it (consent is taken before the first telehealth visit, then stands)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from telehealth.audit.model import Action
from telehealth.errors import DomainError, ErrorCode
from telehealth.policy.decision import Decision
from telehealth.scope import Scope
from telehealth.visits import repository
from telehealth.visits.booking import current_record, current_state, decision_of, state_of
from telehealth.visits.links import ParticipantContext
from telehealth.visits.model import ConsentMethod, ParticipantRole
from telehealth.visits.tables import Consent, Visit


def consent_requirements(decision: Decision, modality: str) -> list[dict[str, str]]:
    return [
        {"detail": r.detail, "citation": r.citation, "modality": r.modality or ""}
        for r in decision.requirements
        if r.kind == "consent" and r.modality in (None, modality)
    ]


def consent_outstanding(scope: Scope, visit: Visit) -> list[dict[str, str]]:
    """Consent the current decision requires that this patient has not given for the state
    they are in (consent is taken before the first telehealth visit, then stands)."""
    record = current_record(scope, visit)
    needed = consent_requirements(decision_of(record), visit.planned_modality)
    if not needed:
        return []
    given = repository.consents_of_patient(scope.session, visit.patient_id)
    return _not_given(needed, state_of(visit, record), given)


def _not_given(
    needed: list[dict[str, str]], state: str, given: Sequence[Consent]
) -> list[dict[str, str]]:
    have = {(c.located_state, c.modality or "") for c in given}
    return [r for r in needed if (state, r["modality"]) not in have]


@dataclass
class ConsentStatus:
    given: list[dict[str, Any]]
    outstanding: list[dict[str, str]]


def consent_status(scope: Scope, visit: Visit) -> ConsentStatus:
    """:func:`consents_view` and :func:`consent_outstanding` together, reading the patient's
    consents and the visit's decision once."""
    given = repository.consents_of_patient(scope.session, visit.patient_id)
    record = current_record(scope, visit)
    needed = consent_requirements(decision_of(record), visit.planned_modality)
    return ConsentStatus(
        given=_consent_rows(visit, given),
        outstanding=_not_given(needed, state_of(visit, record), given),
    )


def record_consent(
    scope: Scope, ctx: ParticipantContext, *, given_by: str, method: ConsentMethod
) -> list[Consent]:
    """The patient signs (written, in the page) or the clinician records verbal consent."""
    if ctx.role is ParticipantRole.PATIENT:
        if method is not ConsentMethod.WRITTEN:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "a patient consents in writing here", field="method"
            )
    elif not ctx.is_host:
        raise DomainError(ErrorCode.FORBIDDEN, "only the patient or the clinician records consent")
    visit = ctx.visit
    outstanding = consent_outstanding(scope, visit)
    if not outstanding:
        raise DomainError(ErrorCode.ALREADY_EXISTS, "no consent is outstanding for this visit")
    state = current_state(scope, visit)
    rows = []
    for requirement in outstanding:
        row = Consent(
            patient_id=visit.patient_id,
            visit_id=visit.id,
            modality=requirement["modality"] or None,
            located_state=state,
            method=method.value,
            given_by=given_by,
            recorded_by_participant=ctx.participant.id,
            requirement=requirement["detail"][:500],
            citation=requirement["citation"][:500],
            obtained_at=scope.clock.now(),
        )
        scope.session.add(row)
        rows.append(row)
    scope.session.flush()
    scope.audit.record(
        Action.CREATE,
        "visit_consent",
        rows[0].id,
        patient_id=visit.patient_id,
        detail={"method": method.value, "count": len(rows)},
    )
    return rows


def consents_view(scope: Scope, visit: Visit) -> list[dict[str, Any]]:
    return _consent_rows(visit, repository.consents_of_patient(scope.session, visit.patient_id))


def _consent_rows(visit: Visit, given: Sequence[Consent]) -> list[dict[str, Any]]:
    return [
        {
            "method": c.method,
            "given_by": c.given_by,
            "obtained_at": c.obtained_at,
            "located_state": c.located_state,
            "modality": c.modality,
            "requirement": c.requirement,
            "citation": c.citation,
            "this_visit": c.visit_id == visit.id,
        }
        for c in given
    ]
