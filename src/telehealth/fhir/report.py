"""DiagnosticReport: a specialist's signed store-and-forward report, with its amendments as new
versions (the review capability's reports).

The resource's id is the report's (its first version's) id; each signed amendment is a new
version (``meta.versionId`` counts the signed rows) and a read answers the latest. Drafts are
never emitted: they stay with their author on the case.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from telehealth.fhir.model import (
    Resource,
    Search,
    date_bounds,
    fetched_page,
    instant,
    meta,
    named_ids,
    reference,
)
from telehealth.fhir.registry import Emitted, Page, Param, ResourceType
from telehealth.fhir.service_request import case_query, specialty_code
from telehealth.fhir.service_request import emitted as service_request_emitted
from telehealth.review import service as review
from telehealth.review.model import RECOMMENDATION_LABELS, Recommendation
from telehealth.scope import Scope

if TYPE_CHECKING:
    from telehealth.review.tables import ReviewCase, ReviewReport

ICD10_CM = "http://hl7.org/fhir/sid/icd-10-cm"
REPORT = "review_report"


def _text(report: ReviewReport) -> str:
    recommendation = RECOMMENDATION_LABELS[Recommendation(report.recommendation)]
    parts = [
        f"Findings: {report.findings}",
        f"Assessment: {report.assessment}",
        f"Recommendation: {recommendation}",
    ]
    if report.amendment_reason:
        parts.insert(0, f"Amendment {report.seq - 1}: {report.amendment_reason}")
    return "\n".join(parts)


def diagnostic_report(case: ReviewCase, signed: Sequence[ReviewReport]) -> Resource:
    """The resource of a case's signed report and amendments (oldest first; at least one)."""
    first, latest = signed[0], signed[-1]
    assert first.signed_at is not None
    assert latest.signed_at is not None
    resource: Resource = {
        "resourceType": "DiagnosticReport",
        "id": str(first.id),
        "meta": meta(len(signed), latest.signed_at),
        "basedOn": [reference("ServiceRequest", case.id)],
        "status": "amended" if len(signed) > 1 else "final",
        "code": specialty_code(case.specialty),
        "subject": reference("Patient", case.patient_id),
        "effectiveDateTime": instant(first.signed_at),
        "issued": instant(latest.signed_at),
        "performer": [reference("Practitioner", latest.author_id)],
        "resultsInterpreter": [reference("Practitioner", latest.author_id)],
        "conclusion": latest.assessment,
        "presentedForm": [
            {
                "contentType": "text/plain; charset=utf-8",
                "language": "en",
                "data": base64.b64encode(_text(latest).encode()).decode("ascii"),
                "title": "Specialist report" if len(signed) == 1 else "Amended specialist report",
                "creation": instant(latest.signed_at),
            }
        ],
    }
    if latest.diagnosis_codes:
        resource["conclusionCode"] = [
            {"coding": [{"system": ICD10_CM, "code": code}]} for code in latest.diagnosis_codes
        ]
    return resource


def emitted(case: ReviewCase, signed: Sequence[ReviewReport]) -> Emitted:
    return Emitted(
        diagnostic_report(case, signed),
        REPORT,
        signed[0].id,
        case.patient_id,
        review.named_on(case),
    )


def read(scope: Scope, report_id: uuid.UUID) -> Emitted:
    case, signed = review.signed_report(scope, report_id)
    return emitted(case, signed)


def search(scope: Scope, query: Search) -> Page:
    amended: bool | None = None
    if "status" in query.params:
        wanted = {t.code for t in query.tokens("status")}
        if not wanted & {"final", "amended"}:
            return Page((), False, 0)
        amended = None if {"final", "amended"} <= wanted else "amended" in wanted
    where = replace(
        case_query(query),
        ids=named_ids(query, "based-on", "ServiceRequest"),
        statuses=None,
        amended=amended,
        report_ids=named_ids(query, "_id"),
        signed=date_bounds(query, "date"),
    )
    found = review.search_reports(scope, where, query.count + 1, query.offset)
    page, more = fetched_page(found, query)
    matches = [emitted(case, signed) for case, signed in page if signed]
    included: list[Emitted] = []
    if INCLUDE_REQUEST in query.include:
        included = [
            service_request_emitted(case, review.media_ids(scope, case))
            for case, signed in page
            if signed
        ]
    return Page(matches, more, included=included)


INCLUDE_REQUEST = "DiagnosticReport:based-on"
DIAGNOSTIC_REPORT = ResourceType(
    name="DiagnosticReport",
    read=read,
    search=search,
    params=(
        Param("patient", "reference", "the patient the report is about"),
        Param("subject", "reference", "the patient the report is about"),
        Param("status", "token", "final | amended"),
        Param("date", "date", "when the report was first signed, with prefixes"),
        Param("based-on", "reference", "the ServiceRequest (case) the report answers"),
    ),
    includes=(INCLUDE_REQUEST,),
    documentation=(
        "Signed specialist reports of store-and-forward cases; an amendment is a new version "
        "of its report. Drafts are never emitted."
    ),
)
