"""ServiceRequest: store-and-forward requests (e-consults from referring clinicians and
patients' own requests for a specialist's review), the review capability's cases.

Also what the review-based types (DiagnosticReport, DocumentReference, ChargeItem) share: the
platform's code systems for a case and how a search names its patients.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from telehealth.access import service as access
from telehealth.fhir.model import (
    IDENTIFIER_SYSTEM,
    SPECIALTY_SYSTEM,
    Resource,
    Search,
    date_bounds,
    fetched_page,
    instant,
    meta,
    named_ids,
    reference,
)
from telehealth.fhir.patient import emitted as patient_emitted
from telehealth.fhir.registry import Emitted, Page, Param, ResourceType
from telehealth.identity.model import specialty_words
from telehealth.review import service as review
from telehealth.review.model import CaseKind, CaseQuery, CaseStatus
from telehealth.scope import Scope

if TYPE_CHECKING:
    from telehealth.review.tables import ReviewCase

CASE_KIND_SYSTEM = f"{IDENTIFIER_SYSTEM}:case-kind"
CASE_KIND_NAMES = {
    CaseKind.ECONSULT: "E-consult",
    CaseKind.SELF_REFERRAL: "Patient's request for a specialist review",
}
# A case's state as a request's status: a case sent to a live visit instead is revoked (the
# store-and-forward request will not be done), a reported one completed.
STATUSES: dict[CaseStatus, str] = {
    CaseStatus.DRAFT: "draft",
    CaseStatus.NEEDS_LIVE_VISIT: "revoked",
    CaseStatus.QUEUED: "active",
    CaseStatus.CLAIMED: "active",
    CaseStatus.AWAITING_INFO: "active",
    CaseStatus.REPORTED: "completed",
}


def specialty_code(specialty: str) -> Resource:
    return {
        "coding": [{"system": SPECIALTY_SYSTEM, "code": specialty}],
        "text": f"{specialty_words(specialty)} review",
    }


def case_kind_code(kind: str) -> Resource:
    case_kind = CaseKind(kind)
    return {
        "coding": [
            {
                "system": CASE_KIND_SYSTEM,
                "code": case_kind.value,
                "display": CASE_KIND_NAMES[case_kind],
            }
        ]
    }


def patients_asked(query: Search) -> list[uuid.UUID] | None:
    """The patients ``patient`` and ``subject`` name (None when neither is given; a value
    naming no patient of this server matches nothing)."""
    if "patient" not in query.params and "subject" not in query.params:
        return None
    named = [*query.references("patient", "Patient"), *query.references("subject", "Patient")]
    return [p for p in named if p is not None]


def included_patients(
    scope: Scope, query: Search, name: str, matches: Sequence[Emitted]
) -> list[Emitted]:
    """With ``_include=<Type>:patient``, the Patients of the matches the actor may read (a
    clinician named on a request may not read its patient's record)."""
    if name not in query.include:
        return []
    wanted = dict.fromkeys(m.patient_id for m in matches if m.patient_id is not None)
    found = (access.patient_if_readable(scope, p) for p in wanted)
    return [patient_emitted(p) for p in found if p is not None]


def requester(case: ReviewCase) -> Resource:
    if CaseKind(case.kind) is CaseKind.SELF_REFERRAL:
        return reference("Patient", case.patient_id)
    return reference("Practitioner", case.originator_id)


def service_request(case: ReviewCase, media_ids: Sequence[uuid.UUID]) -> Resource:
    resource: Resource = {
        "resourceType": "ServiceRequest",
        "id": str(case.id),
        "meta": meta(case.version, case.updated_at),
        "status": STATUSES[CaseStatus(case.status)],
        "intent": "order",
        "category": [case_kind_code(case.kind)],
        "priority": "urgent" if case.urgency == "urgent" else "routine",
        "code": specialty_code(case.specialty),
        "subject": reference("Patient", case.patient_id),
        "authoredOn": instant(case.created_at),
        "requester": requester(case),
        "reasonCode": [{"text": case.reason}],
    }
    if case.reviewer_id is not None:
        resource["performer"] = [reference("Practitioner", case.reviewer_id)]
    if media_ids:
        resource["supportingInfo"] = [reference("DocumentReference", m) for m in media_ids]
    return resource


def emitted(case: ReviewCase, media_ids: Sequence[uuid.UUID]) -> Emitted:
    return Emitted(
        service_request(case, media_ids),
        review.CASE,
        case.id,
        case.patient_id,
        review.named_on(case),
    )


def read(scope: Scope, case_id: uuid.UUID) -> Emitted:
    case = review.readable_case(scope, case_id)
    return emitted(case, review.media_ids(scope, case))


def case_query(query: Search) -> CaseQuery:
    """The search as a case query (a value naming nothing of this server matches nothing)."""
    statuses = None
    if "status" in query.params:
        wanted = {t.code for t in query.tokens("status")}
        statuses = [s.value for s, shown in STATUSES.items() if shown in wanted]
    return CaseQuery(
        patient_ids=patients_asked(query),
        ids=named_ids(query, "_id"),
        statuses=statuses,
        originators=named_ids(query, "requester", "Practitioner"),
        reviewers=named_ids(query, "performer", "Practitioner"),
        created=date_bounds(query, "authored"),
    )


def search(scope: Scope, query: Search) -> Page:
    found = review.search_cases(scope, case_query(query), query.count + 1, query.offset)
    page, more = fetched_page(found, query)
    matches = [emitted(c, review.media_ids(scope, c)) for c in page]
    included = included_patients(scope, query, INCLUDE_PATIENT, matches)
    return Page(matches, more, included=included)


INCLUDE_PATIENT = "ServiceRequest:patient"
SERVICE_REQUEST = ResourceType(
    name="ServiceRequest",
    read=read,
    search=search,
    params=(
        Param("patient", "reference", "the patient the request is about"),
        Param("subject", "reference", "the patient the request is about"),
        Param("status", "token", "draft | active | completed | revoked"),
        Param("authored", "date", "when the request was created, with prefixes"),
        Param("requester", "reference", "the referring practitioner (e-consults)"),
        Param("performer", "reference", "the reviewing practitioner"),
    ),
    includes=(INCLUDE_PATIENT,),
    documentation=(
        "Store-and-forward requests (the review capability's cases). Without patient or "
        "subject, staff find the requests naming them (as requester or performer)."
    ),
)
