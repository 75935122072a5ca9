"""Device: the monitoring devices assigned to a patient's enrollments (manufacturer, model,
serial number, kind), active until their token is revoked."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from telehealth.fhir.model import Resource, Search, identifier, invalid, meta, page_of, reference
from telehealth.fhir.registry import Emitted, Page, Param, ResourceType
from telehealth.monitoring import service as monitoring
from telehealth.scope import Scope

if TYPE_CHECKING:
    from telehealth.monitoring.tables import Device, Enrollment

SERIAL = "device-serial"


def device_resource(device: Device) -> Resource:
    revoked = device.revoked_at is not None
    # Version 1 as assigned; 2 once revoked (the one change a device record has).
    updated = device.revoked_at if device.revoked_at is not None else device.created_at
    return {
        "resourceType": "Device",
        "id": str(device.id),
        "meta": meta(2 if revoked else 1, updated),
        "identifier": [identifier(SERIAL, device.serial)],
        "status": device_status(device),
        "manufacturer": device.manufacturer,
        "serialNumber": device.serial,
        "deviceName": [{"name": device.model, "type": "model-name"}],
        "modelNumber": device.model,
        "type": {"text": device.device_type.replace("_", " ")},
        "patient": reference("Patient", device.patient_id),
    }


def of_enrollment(
    resource: Resource, kind: str, object_id: uuid.UUID, enrollment: Enrollment
) -> Emitted:
    """A monitoring record's resource, audited as ``kind`` with the patient and users its
    enrollment's access subject names (the monitoring loader's own)."""
    subject = monitoring.ENROLLMENT.subject(enrollment)
    return Emitted(resource, kind, object_id, subject.patient_id, subject.named)


def emitted(device: Device, enrollment: Enrollment) -> Emitted:
    return of_enrollment(device_resource(device), monitoring.DEVICE.name, device.id, enrollment)


def read(scope: Scope, device_id: uuid.UUID) -> Emitted:
    device, enrollment = monitoring.readable_device(scope, device_id)
    return emitted(device, enrollment)


def searched_patient(scope: Scope, query: Search) -> uuid.UUID | None:
    """The one patient a search of a patient's records is about: the ``patient`` (or
    ``subject``) parameter, else a patient's own record; None when it names no patient of
    this server. Staff name the patient."""
    named = [
        *query.references("patient", "Patient"),
        *query.references("subject", "Patient"),
    ]
    if not named:
        actor = scope.require_actor()
        if actor.patient_id is None:
            raise invalid("name the patient (patient=Patient/<id>)", "patient")
        return actor.patient_id
    if len(set(named)) > 1:
        raise invalid("search one patient's records at a time", "patient")
    return named[0]


def search(scope: Scope, query: Search) -> Page:
    patient_id = searched_patient(scope, query)
    if patient_id is None:
        return Page((), False)
    enrollments, devices = monitoring.patient_devices(scope, patient_id)
    found = [d for d in devices if _matches(d, query)]
    by_id = {e.id: e for e in enrollments}
    page, more = page_of(found, query)
    matches = [emitted(d, by_id[d.enrollment_id]) for d in page]
    return Page(matches, more, len(found))


def _matches(device: Device, query: Search) -> bool:
    statuses = query.values("status")
    if statuses and device_status(device) not in statuses:
        return False
    wanted = query.tokens("identifier")
    system = f"urn:telehealth:{SERIAL}"
    return not wanted or any(t.matches(system, device.serial) for t in wanted)


def device_status(device: Device) -> str:
    return "inactive" if device.revoked_at is not None else "active"


def included(scope: Scope, patient_id: uuid.UUID, device_ids: set[uuid.UUID]) -> list[Emitted]:
    """The patient's devices of ``device_ids`` the actor may read, for another type's
    ``_include`` (one query)."""
    enrollments, devices = monitoring.patient_devices(scope, patient_id)
    by_id = {e.id: e for e in enrollments}
    return [emitted(d, by_id[d.enrollment_id]) for d in devices if d.id in device_ids]


DEVICE = ResourceType(
    name="Device",
    read=read,
    search=search,
    params=(
        Param("patient", "reference", "the patient the device is assigned to"),
        Param("status", "token", "active, or inactive once its token is revoked"),
        Param("identifier", "token", f"serial number (urn:telehealth:{SERIAL})"),
    ),
    documentation=(
        "Remote monitoring devices of the patients whose monitoring the credential's user may "
        "read; a search names the patient (a patient's own credential may leave it out)"
    ),
)
