"""Informed consent: what the visit's current decision requires, what the patient has
given, and recording it. Consent is taken before the first telehealth visit and then stands,
unless the rule's terms say otherwise (a signed form, a signed statement due within days of
verbal consent, yearly renewal, a consent per episode: ``telehealth.policy.consent``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telehealth.access import loader
from telehealth.audit.model import Action
from telehealth.errors import DomainError, ErrorCode
from telehealth.policy.consent import (
    SHORTFALL_WHY,
    OnFile,
    Shortfall,
    Standing,
    accepts_method,
    assess,
)
from telehealth.policy.decision import ConsentTerms, Decision, Requirement
from telehealth.policy.plain import CONSENT_SHORTFALL, SIGN_CONSENT_BY
from telehealth.scope import Scope
from telehealth.visits import repository
from telehealth.visits.access import VISIT_CONSENT
from telehealth.visits.booking import current_record, current_state, decision_of, state_of
from telehealth.visits.links import ParticipantContext
from telehealth.visits.model import ConsentMethod, ParticipantRole
from telehealth.visits.tables import Consent, Visit


def consent_requirements(decision: Decision, modality: str) -> list[Requirement]:
    return [
        r for r in decision.requirements if r.kind == "consent" and r.modality in (None, modality)
    ]


@dataclass
class ConsentStatus:
    given: list[dict[str, Any]]
    # What still blocks the visit, each with why (``reason``) and the patient's words.
    outstanding: list[dict[str, Any]]
    # Verbal consent that counts only until a signed statement is due.
    signature_due: list[dict[str, Any]]


def consent_outstanding(scope: Scope, visit: Visit) -> list[dict[str, Any]]:
    """Consent the current decision requires that the patient's consents on file do not meet
    at the time of the visit (form, follow-up signature and renewal included)."""
    return consent_status(scope, visit).outstanding


def consent_status(scope: Scope, visit: Visit) -> ConsentStatus:
    """The consents on file, what is outstanding and what awaits a signature, reading the
    patient's consents and the visit's decision once."""
    given = repository.consents_of_patient(scope.session, visit.patient_id)
    record = current_record(scope, visit)
    needed = consent_requirements(decision_of(record), visit.planned_modality)
    at = max(scope.clock.now(), visit.slot_start)
    outstanding, signature_due = _standings(needed, state_of(visit, record), given, at, visit)
    return ConsentStatus(
        given=_consent_rows(visit, given), outstanding=outstanding, signature_due=signature_due
    )


def _standings(
    needed: list[Requirement],
    state: str,
    given: Sequence[Consent],
    at: datetime,
    visit: Visit,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    outstanding: list[dict[str, Any]] = []
    signature_due: list[dict[str, Any]] = []
    for requirement in needed:
        modality = requirement.modality or ""
        on_file = [
            OnFile(c.method, c.obtained_at, c.visit_id)
            for c in given
            if c.located_state == state and (c.modality or "") == modality
        ]
        standing = assess(requirement.consent, on_file, at, episode=visit.id)
        row = _requirement_row(requirement, state)
        if standing.shortfall is not None:
            outstanding.append(row | _shortfall_words(standing.shortfall, requirement))
        elif standing.signature_due is not None:
            due = {"signature_due": standing.signature_due, "plain": SIGN_CONSENT_BY}
            signature_due.append(row | due)
    # The strictest first: what verbal consent cannot meet is what the patient must hear.
    outstanding.sort(key=lambda r: bool(r["verbal_accepted"]))
    return outstanding, signature_due


def _requirement_row(requirement: Requirement, state: str) -> dict[str, Any]:
    terms = requirement.consent
    return {
        "detail": requirement.detail,
        "citation": requirement.citation,
        "modality": requirement.modality or "",
        "state": state,
        "form": terms.form if terms else "unspecified",
        "renewal": terms.renewal if terms else "none",
        "verbal_accepted": accepts_method(terms, ConsentMethod.VERBAL.value),
    }


def _shortfall_words(shortfall: Shortfall, requirement: Requirement) -> dict[str, str]:
    plain, why = CONSENT_SHORTFALL[shortfall.value], SHORTFALL_WHY[shortfall]
    if shortfall is Shortfall.MISSING and not accepts_method(requirement.consent, "verbal"):
        plain = CONSENT_SHORTFALL[Shortfall.NEEDS_SIGNATURE.value]
        why = "no consent is on file; only a signed consent counts"
    return {"reason": shortfall.value, "reason_text": why, "plain": plain}


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
    status = consent_status(scope, visit)
    targets = status.outstanding
    if method is ConsentMethod.WRITTEN:
        # A signature also completes verbal consent that awaits its signed statement.
        targets = targets + status.signature_due
    if not targets:
        raise DomainError(ErrorCode.ALREADY_EXISTS, "no consent is outstanding for this visit")
    if method is ConsentMethod.VERBAL:
        _require_verbal_accepted(targets)
    state = current_state(scope, visit)
    rows = []
    for requirement in targets:
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


def _require_verbal_accepted(targets: list[dict[str, Any]]) -> None:
    refused = [t for t in targets if not t["verbal_accepted"]]
    if refused:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"{refused[0]['state']} requires the patient's signed consent here; verbal consent "
            "does not count. The patient signs in their visit page.",
            field="method",
        )


@dataclass(frozen=True)
class ConsentOnFile:
    """A consent taken in a visit, with the terms of the requirement it was taken for (from
    the visit's current decision; None where the requirement names none or is no longer
    found) and how it stands against them now, for its own visit's episode."""

    consent: Consent
    visit: Visit
    terms: ConsentTerms | None
    standing: Standing


def on_file(scope: Scope, consent: Consent, visit: Visit) -> ConsentOnFile:
    record = current_record(scope, visit)
    terms = None
    if record is not None:
        for requirement in decision_of(record).requirements:
            if (
                requirement.kind == "consent"
                and (requirement.modality or None) == consent.modality
                and requirement.detail[:500] == consent.requirement
            ):
                terms = requirement.consent
                break
    given = OnFile(consent.method, consent.obtained_at, consent.visit_id)
    standing = assess(terms, [given], scope.clock.now(), episode=consent.visit_id)
    return ConsentOnFile(consent, visit, terms, standing)


def readable_consent(scope: Scope, consent_id: uuid.UUID) -> ConsentOnFile:
    """A consent the actor may read (its visit's read rule); else not found, as a missing
    one is."""
    consent, visit = loader.load(scope, VISIT_CONSENT, consent_id)
    return on_file(scope, consent, visit)


def readable_consents(
    scope: Scope,
    *,
    patient_ids: Sequence[uuid.UUID] | None = None,
    since: datetime | None = None,
    before: datetime | None = None,
    limit: int | None = None,
) -> list[ConsentOnFile]:
    """The consents of the visits the actor may read (the visit loader's rule, in SQL), by
    when they were given; the caller audits what it shows."""
    found = repository.consents_listed(
        scope.session,
        scope.require_actor(),
        scope.clock.now(),
        patient_ids=patient_ids,
        since=since,
        before=before,
        limit=limit,
    )
    return [on_file(scope, consent, visit) for consent, visit in found]


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
