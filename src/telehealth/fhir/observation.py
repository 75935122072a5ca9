"""Observation: the readings of remote patient monitoring, US Core vital signs shaped (a
blood-pressure pair as one panel with systolic and diastolic components), read and searched
through the monitoring capability's reading list, and created by a monitoring device through
the native ingestion (the same validation, idempotency, thresholds and alerts).

A resource's id is its stored reading's; a blood-pressure panel's is its systolic reading's
(its diastolic reading is a component, no resource of its own).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from telehealth.access import service as access
from telehealth.errors import DomainError, ErrorCode
from telehealth.fhir import device as fhir_device
from telehealth.fhir import patient as fhir_patient
from telehealth.fhir.model import (
    Resource,
    Search,
    date_bounds,
    fetched_page,
    instant,
    invalid,
    meta,
    named_ids,
    parse_reference,
    reference,
)
from telehealth.fhir.registry import Created, Emitted, Page, Param, ResourceType
from telehealth.monitoring import fhir as monitoring_fhir
from telehealth.monitoring import ingest, model
from telehealth.monitoring import service as monitoring
from telehealth.monitoring.model import BP_PANEL, CODE_OF, LOINC, Metric
from telehealth.scope import Scope

if TYPE_CHECKING:
    from telehealth.monitoring.tables import Device, Enrollment, Reading

LOINC_SYSTEM = monitoring_fhir.LOINC_SYSTEM
UCUM_SYSTEM = monitoring_fhir.UCUM_SYSTEM
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
VITAL_SIGNS = "vital-signs"
LABORATORY = "laboratory"
SYSTOLIC, DIASTOLIC = CODE_OF[Metric.SYSTOLIC], CODE_OF[Metric.DIASTOLIC]
# Pulse oximetry is coded twice in US Core: the pulse oximetry code and the arterial one.
ARTERIAL_SPO2 = ("2708-6", "Oxygen saturation in Arterial blood")

DISPLAY: dict[str, str] = {
    BP_PANEL: "Blood pressure panel with all children optional",
    SYSTOLIC: "Systolic blood pressure",
    DIASTOLIC: "Diastolic blood pressure",
    CODE_OF[Metric.HEART_RATE]: "Heart rate",
    CODE_OF[Metric.SPO2]: "Oxygen saturation in Arterial blood by Pulse oximetry",
    CODE_OF[Metric.WEIGHT]: "Body weight",
    CODE_OF[Metric.GLUCOSE]: "Glucose [Mass/volume] in Blood",
}
PROFILE: dict[str, str] = {
    BP_PANEL: US_CORE + "us-core-blood-pressure",
    CODE_OF[Metric.HEART_RATE]: US_CORE + "us-core-heart-rate",
    CODE_OF[Metric.SPO2]: US_CORE + "us-core-pulse-oximetry",
    CODE_OF[Metric.WEIGHT]: US_CORE + "us-core-body-weight",
    # A blood glucose reading is a laboratory result, not a vital sign, in US Core.
    CODE_OF[Metric.GLUCOSE]: US_CORE + "us-core-observation-lab",
}
VITAL_SIGNS_PROFILE = US_CORE + "us-core-vital-signs"
CODES = frozenset({BP_PANEL, *LOINC})
CATEGORY_CODES: dict[str, frozenset[str]] = {
    LABORATORY: frozenset({CODE_OF[Metric.GLUCOSE]}),
    VITAL_SIGNS: CODES - {CODE_OF[Metric.GLUCOSE]},
}

Item = tuple["Reading", "Reading | None"]


# --- resources --------------------------------------------------------------------------------


def items(rows: Sequence[Reading]) -> list[Item]:
    """Rows of the reading list (with panels) as Observations: a systolic reading followed by
    its diastolic one is one panel."""
    out: list[Item] = []
    for row in rows:
        if out and row.code == DIASTOLIC and _pairs(out[-1], row):
            out[-1] = (out[-1][0], row)
        else:
            out.append((row, None))
    return out


def _pairs(item: Item, row: Reading) -> bool:
    lead, partner = item
    return (
        partner is None
        and lead.code == SYSTOLIC
        and lead.device_id == row.device_id
        and lead.effective_at == row.effective_at
    )


def _coding(code: str) -> dict[str, Any]:
    return {"system": LOINC_SYSTEM, "code": code, "display": DISPLAY[code]}


def _quantity(row: Reading) -> dict[str, Any]:
    return {"value": row.value, "unit": row.unit, "system": UCUM_SYSTEM, "code": row.unit}


def category_of(code: str) -> str:
    return LABORATORY if code in CATEGORY_CODES[LABORATORY] else VITAL_SIGNS


def observation_resource(item: Item) -> Resource:
    lead, diastolic = item
    code = BP_PANEL if diastolic is not None else lead.code
    codings = [_coding(code)]
    if code == CODE_OF[Metric.SPO2]:
        arterial, words = ARTERIAL_SPO2
        codings.append({"system": LOINC_SYSTEM, "code": arterial, "display": words})
    category = category_of(code)
    profiles = [PROFILE.get(code, VITAL_SIGNS_PROFILE)]
    resource: Resource = {
        "resourceType": "Observation",
        "id": str(lead.id),
        "meta": meta(1, lead.received_at, profiles),
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": CATEGORY_SYSTEM,
                        "code": category,
                        "display": "Vital Signs" if category == VITAL_SIGNS else "Laboratory",
                    }
                ],
                "text": "Vital Signs" if category == VITAL_SIGNS else "Laboratory",
            }
        ],
        "code": {"coding": codings, "text": DISPLAY[code]},
        "subject": reference("Patient", lead.patient_id),
        "effectiveDateTime": instant(lead.effective_at),
        "issued": instant(lead.received_at),
        "device": reference("Device", lead.device_id),
    }
    if diastolic is None:
        resource["valueQuantity"] = _quantity(lead)
    else:
        resource["component"] = [
            {"code": {"coding": [_coding(part.code)]}, "valueQuantity": _quantity(part)}
            for part in (lead, diastolic)
        ]
    return resource


def emitted(item: Item, enrollment: Enrollment) -> Emitted:
    resource = observation_resource(item)
    return fhir_device.of_enrollment(resource, monitoring.READING.name, item[0].id, enrollment)


# --- read and search --------------------------------------------------------------------------


def read(scope: Scope, reading_id: uuid.UUID) -> Emitted:
    rows, enrollment = monitoring.readable_reading(scope, reading_id)
    return emitted(items(rows)[0], enrollment)


def search(scope: Scope, query: Search) -> Page:
    patient_id = fhir_device.searched_patient(scope, query)
    codes = _codes(query)
    if patient_id is None or (codes is not None and not codes):
        return Page((), False)
    start, end = date_bounds(query, "date")
    where = model.ReadingFilter(
        enrollment_ids=(),
        ids=named_ids(query, "_id"),
        start=start,
        end=end,
        codes=sorted(codes) if codes is not None else None,
        limit=query.count + 1,
        offset=query.offset,
        newest_first=query.sort[:1] != ("date",),
        panels=True,
    )
    enrollments, rows = monitoring.patient_readings(scope, patient_id, where)
    found = items(rows)
    by_id = {e.id: e for e in enrollments}
    page, more = fetched_page(found, query)
    matches = [emitted(item, by_id[item[0].enrollment_id]) for item in page]
    return Page(matches, more, included=_included(scope, query, page))


def _codes(query: Search) -> set[str] | None:
    """The codes a search admits (panel code for a blood-pressure pair); None for any."""
    chosen: set[str] | None = None
    if "code" in query.params:
        chosen = set()
        for token in query.tokens("code"):
            if token.system not in (None, LOINC_SYSTEM):
                continue
            chosen |= CODES if token.code is None else CODES & {token.code}
    if "category" in query.params:
        categories: set[str] = set()
        for token in query.tokens("category"):
            if token.system in (None, CATEGORY_SYSTEM) and token.code is not None:
                categories |= CATEGORY_CODES.get(token.code, frozenset())
        chosen = categories if chosen is None else chosen & categories
    return chosen


def _included(scope: Scope, query: Search, page: Sequence[Item]) -> list[Emitted]:
    if not page:
        return []
    out: list[Emitted] = []
    if "Observation:patient" in query.include:
        # The patient's record, where the actor may read it (an enrolling clinician no longer
        # in the patient's care reads the monitoring, not the record).
        patient = access.patient_if_readable(scope, page[0][0].patient_id)
        if patient is not None:
            out.append(fhir_patient.emitted(patient))
    if "Observation:device" in query.include:
        patient_id = page[0][0].patient_id
        out += fhir_device.included(scope, patient_id, {item[0].device_id for item in page})
    return out


# --- create (a monitoring device) -------------------------------------------------------------

DEVICE_KEY = "fhir.observation.device"


def device_credential(scope: Scope, token: str | None) -> None:
    """Observations are created by a monitoring device with its own token, exactly as it
    ingests readings natively; a person's credential creates none."""
    if token is None:
        raise DomainError(ErrorCode.NOT_AUTHENTICATED, "authentication required")
    scope.memo[DEVICE_KEY] = monitoring.authenticate_device(scope, token)


def create(scope: Scope, body: Resource) -> Created:
    device, enrollment = _device(scope)
    try:
        observation = monitoring_fhir.Observation.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first["loc"])
        raise invalid(f"{first['msg']} ({path})", f"Observation.{path}") from None
    _check_references(body, device)
    raws, problems = monitoring_fhir.observation_readings(observation)
    if not raws and not problems:
        raise invalid("an Observation in this status records nothing", "Observation.status")
    result = ingest.ingest(scope, device, enrollment, raws, problems)
    if not result.ok:
        rejection = result.rejected[0]
        raise invalid(rejection.message, _element(observation, rejection))
    at = raws[0].effective_at.astimezone(UTC)
    stored = items(monitoring.device_readings_at(scope, device, at))
    codes = {raw.code for raw in raws}
    wanted = BP_PANEL if codes == {SYSTOLIC, DIASTOLIC} else raws[0].code
    item = next((i for i in stored if _code_of(i) == wanted), None)
    if item is None:  # part of a pair stored before: the item it belongs to
        item = next(i for i in stored if codes & {r.code for r in i if r is not None})
    return Created(emitted(item, enrollment), new=result.stored > 0)


def _device(scope: Scope) -> tuple[Device, Enrollment]:
    found = scope.memo.get(DEVICE_KEY)
    if found is None:
        raise DomainError(ErrorCode.NOT_AUTHENTICATED, "authentication required")
    device, enrollment = found
    return device, enrollment


def _code_of(item: Item) -> str:
    return BP_PANEL if item[1] is not None else item[0].code


def observation_code(observation: monitoring_fhir.Observation) -> str | None:
    for coding in observation.code.coding:
        if coding.system in (None, LOINC_SYSTEM):
            return coding.code
    return None


def _check_references(body: Resource, device: Device) -> None:
    """A subject or device the Observation names must be the device's own patient and the
    device itself: a device reports for its own patient only."""
    for element, kind, expected in (
        ("subject", "Patient", device.patient_id),
        ("device", "Device", device.id),
    ):
        named = body.get(element)
        if named is None:
            continue
        text = named.get("reference") if isinstance(named, dict) else None
        if not isinstance(text, str) or parse_reference(text, kind, element) != expected:
            raise invalid(
                f"{element} must be this device's {kind.lower()}", f"Observation.{element}"
            )


def _element(observation: monitoring_fhir.Observation, rejection: model.Rejection) -> str:
    """The element a refused reading came from."""
    if rejection.reason == "no effective time":
        return "Observation.effective[x]"
    if "episode" in rejection.reason or "offset" in rejection.reason:
        return "Observation.effectiveDateTime"
    if observation_code(observation) == BP_PANEL:
        for index, component in enumerate(observation.component):
            if any(c.code == rejection.code for c in component.code.coding):
                return f"Observation.component[{index}].valueQuantity"
        return "Observation.component"
    if rejection.reason == "unsupported LOINC code":
        return "Observation.code"
    return "Observation.valueQuantity"


OBSERVATION = ResourceType(
    name="Observation",
    read=read,
    search=search,
    create=create,
    create_credential=device_credential,
    params=(
        Param("patient", "reference", "the patient (required of staff)"),
        Param("subject", "reference", "the patient, as Patient/<id>"),
        Param("code", "token", "LOINC code; 85354-9 for a blood-pressure panel"),
        Param("category", "token", "vital-signs, or laboratory for blood glucose"),
        Param("date", "date", "when measured (effectiveDateTime), with prefixes"),
    ),
    sorts=("date",),
    includes=("Observation:patient", "Observation:device"),
    profiles=(
        VITAL_SIGNS_PROFILE,
        *sorted(set(PROFILE.values())),
    ),
    documentation=(
        "Remote monitoring readings of the patients whose monitoring the credential's user may "
        "read, newest first; a search names the patient (a patient's own credential may leave "
        "it out). Created by a monitoring device with its device token, as native ingestion."
    ),
)
