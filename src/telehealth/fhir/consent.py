"""Consent: the consents the platform has on file, from two places.

- A visit's informed consent to telehealth (``visit_consents``: one row per consent
  requirement it was taken for, with the requirement and its citation); its id is the row's.
- A monitoring enrollment's consent (the enrollment's consent fields, against the consent
  requirements of the monitoring decision); its id is the enrollment's.

Each carries its requirement(s) as ``policy`` entries (the citation and requirement in
``urn:telehealth:fhir:citation`` and ``urn:telehealth:fhir:requirement`` extensions, with the
form and renewal the terms ask for: R4's ``policy.uri`` is a URI, and citations are prose),
the status the terms give it now (``active``, or ``inactive`` when it no longer counts: lapsed,
a signature overdue), scope ``treatment``, category LOINC 59284-0 and the platform's kind,
patient, when it was given, who gave it, the organization, the renewal period as
``provision.period`` and, as ``verification``, whether it is signed (and when a signature is
due, for verbal consent awaiting one). Access is the visit's or the enrollment's read rule,
through their loaders.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.fhir.content import with_content_meta
from telehealth.fhir.model import (
    Resource,
    Search,
    date_bounds,
    instant,
    named_ids,
    page_of,
    reference,
)
from telehealth.fhir.registry import Emitted, Page, Param, ResourceType
from telehealth.monitoring import service as monitoring
from telehealth.policy.consent import SIGNED_METHODS
from telehealth.scope import Scope
from telehealth.visits import consent as visit_consent
from telehealth.visits.access import visit_subject

if TYPE_CHECKING:
    from telehealth.monitoring.tables import Enrollment

LOINC = "http://loinc.org"
PATIENT_CONSENT = "59284-0"
KIND_SYSTEM = "urn:telehealth:consent-category"
TELEHEALTH = "telehealth"
MONITORING = "remote-monitoring"
CITATION = "urn:telehealth:fhir:citation"
REQUIREMENT = "urn:telehealth:fhir:requirement"
FORM = "urn:telehealth:fhir:consent-form"
RENEWAL = "urn:telehealth:fhir:consent-renewal"
METHOD = "urn:telehealth:fhir:consent-method"
SIGNATURE_DUE = "urn:telehealth:fhir:signature-due"
SHORTFALL = "urn:telehealth:fhir:consent-shortfall"
SCOPE = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/consentscope",
            "code": "treatment",
            "display": "Treatment",
        }
    ]
}
GIVERS = {"patient"}


@dataclass(frozen=True, slots=True)
class Policy:
    detail: str
    citation: str
    form: str
    renewal: str


@dataclass(frozen=True, slots=True)
class Given:
    """A consent on file, from either source, as the resource shows it."""

    id: uuid.UUID
    kind: str  # the audit kind
    category: str
    patient_id: uuid.UUID
    org_id: uuid.UUID
    named: frozenset[uuid.UUID]
    at: datetime
    method: str
    given_by: str
    policies: tuple[Policy, ...]
    shortfall: str | None
    signature_due: datetime | None
    renew_by: datetime | None

    @property
    def status(self) -> str:
        return "inactive" if self.shortfall else "active"


def _from_visit(found: visit_consent.ConsentOnFile) -> Given:
    row, terms, standing = found.consent, found.terms, found.standing
    policy = Policy(
        row.requirement,
        row.citation,
        terms.form if terms else "unspecified",
        terms.renewal if terms else "none",
    )
    return Given(
        id=row.id,
        kind="visit_consent",
        category=TELEHEALTH,
        patient_id=row.patient_id,
        org_id=found.visit.org_id,
        named=visit_subject(found.visit).named,
        at=row.obtained_at,
        method=row.method,
        given_by=row.given_by,
        policies=(policy,),
        shortfall=standing.shortfall.value if standing.shortfall else None,
        signature_due=standing.signature_due,
        renew_by=standing.renew_by,
    )


def _from_enrollment(scope: Scope, enrollment: Enrollment) -> Given:
    needs = monitoring.consent_standing(scope, enrollment)
    short = [n for n in needs if n.shortfall is not None]
    due = [n.signature_due for n in needs if n.signature_due is not None]
    renew = [n.renew_by for n in needs if n.renew_by is not None]
    return Given(
        id=enrollment.id,
        kind=monitoring.ENROLLMENT.name,
        category=MONITORING,
        patient_id=enrollment.patient_id,
        org_id=enrollment.org_id,
        named=monitoring.ENROLLMENT.subject(enrollment).named,
        at=enrollment.consent_at,
        method=enrollment.consent_method,
        given_by=enrollment.consent_given_by,
        policies=tuple(Policy(n.detail, n.citation, n.form, n.renewal) for n in needs),
        shortfall=short[0].shortfall.value if short and short[0].shortfall else None,
        signature_due=min(due) if due else None,
        renew_by=min(renew) if renew else None,
    )


def _policy(policy: Policy) -> Resource:
    return {
        "extension": [
            {"url": CITATION, "valueString": policy.citation},
            {"url": REQUIREMENT, "valueString": policy.detail},
            {"url": FORM, "valueCode": policy.form},
            {"url": RENEWAL, "valueCode": policy.renewal},
        ]
    }


def consent_resource(given: Given) -> Resource:
    words = "telehealth" if given.category == TELEHEALTH else "remote patient monitoring"
    resource: Resource = {
        "resourceType": "Consent",
        "id": str(given.id),
        "extension": [{"url": METHOD, "valueCode": given.method}],
    }
    if given.shortfall:
        resource["extension"].append({"url": SHORTFALL, "valueCode": given.shortfall})
    signed = given.method in SIGNED_METHODS
    verification: Resource = {"verified": signed}
    if signed:
        verification["verificationDate"] = instant(given.at)
    if given.signature_due is not None:
        verification["extension"] = [
            {"url": SIGNATURE_DUE, "valueDateTime": instant(given.signature_due)}
        ]
    period: Resource = {"start": instant(given.at)}
    if given.renew_by is not None:
        period["end"] = instant(given.renew_by)
    resource |= {
        "status": given.status,
        "scope": SCOPE,
        "category": [
            {
                "coding": [
                    {"system": LOINC, "code": PATIENT_CONSENT, "display": "Patient Consent"},
                    {"system": KIND_SYSTEM, "code": given.category},
                ],
                "text": f"Consent to {words}",
            }
        ],
        "patient": reference("Patient", given.patient_id),
        "dateTime": instant(given.at),
        "performer": [
            reference("Patient", given.patient_id)
            if given.given_by in GIVERS
            else {"display": "the patient's representative"}
        ],
        "organization": [reference("Organization", given.org_id)],
        "policyRule": {"text": f"Informed consent to {words}"},
        "verification": [verification],
        "provision": {"type": "permit", "period": period},
    }
    if given.policies:
        resource["policy"] = [_policy(p) for p in given.policies]
    return with_content_meta(resource, given.at)


def _emitted(given: Given) -> Emitted:
    return Emitted(consent_resource(given), given.kind, given.id, given.patient_id, given.named)


def read(scope: Scope, consent_id: uuid.UUID) -> Emitted:
    """A visit's consent, else an enrollment's; either hidden answers as a missing one."""
    try:
        return _emitted(_from_visit(visit_consent.readable_consent(scope, consent_id)))
    except DomainError as error:
        if error.code is not ErrorCode.NOT_FOUND:
            raise
    try:
        enrollment = monitoring.readable_enrollment(scope, consent_id)
    except DomainError as error:
        if error.code is not ErrorCode.NOT_FOUND:
            raise
        raise not_found("consent") from None
    return _emitted(_from_enrollment(scope, enrollment))


def _categories(query: Search) -> set[str]:
    """The sources the ``category`` parameter admits."""
    if "category" not in query.params:
        return {TELEHEALTH, MONITORING}
    wanted: set[str] = set()
    for token in query.tokens("category"):
        for kind in (TELEHEALTH, MONITORING):
            if token.matches(LOINC, PATIENT_CONSENT) or token.matches(KIND_SYSTEM, kind):
                wanted.add(kind)
    return wanted


def search(scope: Scope, query: Search) -> Page:
    patients = named_ids(query, "patient", "Patient")
    if patients == []:
        return Page((), False, 0)
    since, before = date_bounds(query, "date")
    statuses = {t.code for t in query.tokens("status")} if "status" in query.params else None
    # Status is how the terms stand now, not a column: a search by it reads every candidate,
    # as does the newest-first order (the sources are read oldest first and merged).
    newest_first = "-date" in query.sort
    whole = statuses is not None or newest_first
    limit = None if whole else query.offset + query.count + 1
    kinds = _categories(query)
    found: list[Given] = []
    if TELEHEALTH in kinds:
        found += [
            _from_visit(c)
            for c in visit_consent.readable_consents(
                scope, patient_ids=patients, since=since, before=before, limit=limit
            )
        ]
    if MONITORING in kinds:
        found += [
            _from_enrollment(scope, e)
            for e in monitoring.readable_enrollments(
                scope,
                patient_ids=patients,
                consent_since=since,
                consent_before=before,
                limit=limit,
            )
        ]
    if statuses is not None:
        found = [g for g in found if g.status in statuses]
    found.sort(key=lambda g: (g.at, g.id), reverse=newest_first)
    page, more = page_of(found, query)
    return Page([_emitted(g) for g in page], more)


CONSENT = ResourceType(
    name="Consent",
    read=read,
    search=search,
    params=(
        Param("patient", "reference", "the patient who consented"),
        Param("status", "token", "active, or inactive where the consent no longer counts"),
        Param(
            "category",
            "token",
            f"{LOINC}|{PATIENT_CONSENT}, or {KIND_SYSTEM}|{TELEHEALTH} or |{MONITORING}",
        ),
        Param("date", "date", "when the consent was given, with prefixes"),
    ),
    sorts=("date",),
    documentation="Consents to telehealth taken in visits and consents to remote monitoring "
    "of enrollments, for whoever may read the visit or enrollment",
)
