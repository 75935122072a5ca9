"""ChargeItem: the billing lines the coding engine produced, for a signed store-and-forward
review (the review capability's billing records) and for an ended visit (its coding).

One ChargeItem per line: its CPT or HCPCS code, units, modifiers and place of service (as
extensions: R4's ChargeItem has no element for either), the patient, the billing clinician
and the visit's Encounter or, for a review, its ServiceRequest (reviews are no Encounters).
Readers are the native API's: a visit's lines answer whoever may read the visit (its record
shows them its billing); a review's lines answer staff who may read the case, never the
patient (the case shows billing to staff only).

A line has no row of its own, so its id is derived from its record's and its place in it:
the record's UUID with the version nibble replaced by the line's index (0-15), which reads
back into both without a lookup (:func:`charge_id`, :func:`charge_source`).
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from telehealth.access import loader
from telehealth.clock import ensure_utc
from telehealth.coding.codeset import CodeSet
from telehealth.errors import DomainError, ErrorCode
from telehealth.fhir.model import (
    CPT,
    IDENTIFIER_SYSTEM,
    Resource,
    Search,
    Token,
    date_bounds,
    instant,
    meta,
    named_ids,
    reference,
)
from telehealth.fhir.registry import Emitted, Page, Param, ResourceType
from telehealth.fhir.service_request import case_query, included_patients, patients_asked
from telehealth.review import service as review
from telehealth.scope import Scope
from telehealth.visits import access as visits
from telehealth.visits.model import VisitFilter

if TYPE_CHECKING:
    from telehealth.review.tables import ReviewBilling, ReviewCase
    from telehealth.visits.tables import Visit

BILLING_LINE = "billing_line"
HCPCS = "urn:oid:2.16.840.1.113883.6.285"
PLACE_OF_SERVICE = (
    "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
)
MODIFIER_SYSTEM = f"{IDENTIFIER_SYSTEM}:modifier"
MODIFIER_EXTENSION = f"{IDENTIFIER_SYSTEM}:fhir:StructureDefinition/billing-modifier"
POS_EXTENSION = f"{IDENTIFIER_SYSTEM}:fhir:StructureDefinition/place-of-service"
MAX_LINES = 16  # a line's index lives in one hex digit of its id
BATCH = 50


def charge_id(source: uuid.UUID, index: int) -> uuid.UUID:
    """A line's id: its record's id with the version nibble replaced by the line's index."""
    if not 0 <= index < MAX_LINES:
        raise ValueError("a record's line index is 0 to 15")
    raw = bytearray(source.bytes)
    raw[6] = (raw[6] & 0x0F) | (index << 4)
    return uuid.UUID(bytes=bytes(raw))


def charge_source(charge: uuid.UUID) -> tuple[uuid.UUID, int]:
    """The record id (a random, version 4 UUID) and line index a line's id was made of."""
    raw = bytearray(charge.bytes)
    index = raw[6] >> 4
    raw[6] = (raw[6] & 0x0F) | 0x40
    return uuid.UUID(bytes=bytes(raw)), index


@dataclass(frozen=True, slots=True)
class Charge:
    """One billing line with what its ChargeItem says about it."""

    id: uuid.UUID
    line: dict[str, Any]
    patient_id: uuid.UUID
    performer: uuid.UUID
    # The visit's Encounter; a review's line names its request (the case) instead, as reviews
    # are no Encounters.
    encounter: uuid.UUID | None
    request: uuid.UUID | None
    occurred: date
    entered: datetime
    version: int
    # What access reads off the line: its visit's or case's subject.
    subject: loader.Subject
    # A review's lines are staff's (the case shows its patient no billing).
    staff_only: bool


def _lines(
    source: uuid.UUID, lines: Sequence[dict[str, Any]]
) -> Iterator[tuple[uuid.UUID, dict[str, Any]]]:
    for index, line in enumerate(lines[:MAX_LINES]):
        yield charge_id(source, index), line


def review_charges(case: ReviewCase, billing: ReviewBilling) -> list[Charge]:
    occurred = date.fromisoformat(str(billing.encounter["date_of_service"]))
    return [
        Charge(
            id=line_id,
            line=line,
            patient_id=case.patient_id,
            performer=billing.billing_clinician_id,
            encounter=None,
            request=case.id,
            occurred=occurred,
            entered=ensure_utc(billing.created_at),
            version=1,
            subject=review.case_subject(case),
            staff_only=True,
        )
        for line_id, line in _lines(billing.id, billing.lines)
    ]


def visit_charges(visit: Visit) -> list[Charge]:
    if visit.coding is None or visit.ended_at is None:
        return []
    ended = ensure_utc(visit.ended_at)
    started = ensure_utc(visit.started_at) if visit.started_at else ended
    return [
        Charge(
            id=line_id,
            line=line,
            patient_id=visit.patient_id,
            performer=visit.clinician_id,
            encounter=visit.id,
            request=None,
            occurred=started.date(),
            entered=ended,
            version=visit.version,
            subject=visits.visit_subject(visit),
            staff_only=False,
        )
        for line_id, line in _lines(visit.id, visit.coding.get("lines", []))
    ]


def code_system(code: str, codes: CodeSet) -> str:
    known = codes.codes.get(code)
    return HCPCS if known is not None and known.system == "HCPCS" else CPT


def charge_item(charge: Charge, codes: CodeSet) -> Resource:
    line = charge.line
    code = str(line["code"])
    known = codes.codes.get(code)
    coding: Resource = {"system": code_system(code, codes), "code": code}
    if known is not None:
        coding["display"] = known.descriptor
    extensions: list[Resource] = [
        {
            "url": MODIFIER_EXTENSION,
            "valueCoding": {"system": MODIFIER_SYSTEM, "code": str(modifier)},
        }
        for modifier in line.get("modifiers", [])
    ]
    if line.get("pos"):
        extensions.append(
            {
                "url": POS_EXTENSION,
                "valueCoding": {"system": PLACE_OF_SERVICE, "code": str(line["pos"])},
            }
        )
    resource: Resource = {
        "resourceType": "ChargeItem",
        "id": str(charge.id),
        "meta": meta(charge.version, charge.entered),
        "status": "billable",
        "code": {"coding": [coding]},
        "subject": reference("Patient", charge.patient_id),
        "occurrenceDateTime": charge.occurred.isoformat(),
        "performer": [{"actor": reference("Practitioner", charge.performer)}],
        "quantity": {"value": int(line.get("units", 1))},
        "enteredDate": instant(charge.entered),
    }
    if charge.encounter is not None:
        resource["context"] = reference("Encounter", charge.encounter)
    if charge.request is not None:
        resource["supportingInformation"] = [reference("ServiceRequest", charge.request)]
    if extensions:
        resource["extension"] = extensions
    return resource


def emitted(scope: Scope, charge: Charge) -> Emitted:
    resource = charge_item(charge, scope.ports.codeset)
    return Emitted(resource, BILLING_LINE, charge.id, charge.patient_id, charge.subject.named)


def _fetch(session: Session, line_id: uuid.UUID, _lock: bool) -> Charge | None:
    """The line an id names: of a review's billing record, else of a visit's coding."""
    source, _index = charge_source(line_id)
    found = review.billing_record(session, source)
    if found is not None:
        billing, case = found
        charges = review_charges(case, billing)
    else:
        visit = visits.visit_row(session, source)
        charges = visit_charges(visit) if visit is not None else []
    return next((c for c in charges if c.id == line_id), None)


def _subject(charge: Charge) -> loader.Subject:
    return charge.subject


# A line takes its visit's or case's rule (access.rules: "billing_line").
LINE_KIND = loader.register(loader.Kind(BILLING_LINE, "billing line", _fetch, _subject))


def read(scope: Scope, line_id: uuid.UUID) -> Emitted:
    """A line for whoever may read its visit or case; a review's line is refused to its
    patient, who reads the case but not its billing (as the case shows it)."""
    charge = loader.load(scope, LINE_KIND, line_id)
    if charge.staff_only and not scope.require_actor().is_staff:
        loader.deny(scope, BILLING_LINE, line_id, charge.subject)
        raise DomainError(ErrorCode.FORBIDDEN, "a review's billing is for staff")
    return emitted(scope, charge)


# --- search -----------------------------------------------------------------------------------


def _review_stream(scope: Scope, query: Search) -> Iterator[Charge]:
    if "context" in query.params:
        return  # a review's lines name no Encounter
    where = replace(case_query(query), ids=None, signed=date_bounds(query, "entered-date"))
    offset = 0
    while True:
        batch = review.search_billing(scope, where, BATCH, offset)
        for case, records in batch:
            for billing in records:
                yield from review_charges(case, billing)
        if len(batch) < BATCH:
            return
        offset += BATCH


def _visit_stream(scope: Scope, query: Search) -> Iterator[Charge]:
    ended_from, ended_before = date_bounds(query, "entered-date")
    where = VisitFilter(
        ids=named_ids(query, "context", "Encounter"),
        patient_ids=patients_asked(query),
        coded=True,
        ended_from=ended_from,
        ended_before=ended_before,
        by_end=True,
        newest_first=True,
    )
    offset = 0
    while True:
        batch = visits.readable_visits(scope, limit=BATCH, offset=offset, where=where, record=False)
        for visit in batch:
            yield from visit_charges(visit)
        if len(batch) < BATCH:
            return
        offset += BATCH


def _matches(
    charge: Charge, codes: Sequence[Token] | None, ids: list[uuid.UUID] | None, codeset: CodeSet
) -> bool:
    if ids is not None and charge.id not in ids:
        return False
    if codes is None:
        return True
    code = str(charge.line["code"])
    return any(t.matches(code_system(code, codeset), code) for t in codes)


def search(scope: Scope, query: Search) -> Page:
    """Lines of visits and reviews, the latest entered first (both streams are in that order,
    merged as they are read), filtered by code as they stream."""
    ids = named_ids(query, "_id")
    codes = query.tokens("code") if "code" in query.params else None
    codeset = scope.ports.codeset
    merged = heapq.merge(
        _review_stream(scope, query),
        _visit_stream(scope, query),
        key=lambda charge: -charge.entered.timestamp(),
    )
    wanted = (charge for charge in merged if _matches(charge, codes, ids, codeset))
    page: list[Emitted] = []
    more = False
    for n, charge in enumerate(wanted):
        if n < query.offset:
            continue
        if len(page) == query.count:
            more = True
            break
        page.append(emitted(scope, charge))
    return Page(page, more, included=included_patients(scope, query, INCLUDE_PATIENT, page))


INCLUDE_PATIENT = "ChargeItem:patient"
CHARGE_ITEM = ResourceType(
    name="ChargeItem",
    read=read,
    search=search,
    params=(
        Param("patient", "reference", "the patient billed for"),
        Param("subject", "reference", "the patient billed for"),
        Param("code", "token", "CPT or HCPCS code"),
        Param("entered-date", "date", "when the line was produced, with prefixes"),
        Param("context", "reference", "the Encounter (a visit's lines)"),
    ),
    includes=(INCLUDE_PATIENT,),
    documentation=(
        "Billing lines of ended visits (the visit's readers) and of signed store-and-forward "
        "reviews (staff who may read the case); modifiers and place of service as extensions. "
        "Without patient or subject, staff find the lines of the visits they may read and of "
        "the reviews naming them."
    ),
)
