"""Access-matrix entries for the FHIR API (merged into tests/access/test_matrix.py).

A read answers whoever may read the resource's object on the native API, and a 404
OperationOutcome, identical to a missing resource's, to everyone else; a search answers every
signed-in actor with what they may read. Observations are created by a monitoring device's
token, as readings are ingested natively: a person's credential is not one. The SMART
configuration is public; the token endpoint takes a system client's signed assertion, never a
person's token; an organization's system clients are its administrators' to manage.
"""

from __future__ import annotations

import functools
import json
import uuid
from typing import Any

from joserfc.jwk import RSAKey
from sqlalchemy import select

from telehealth.fhir import bulk, clients
from telehealth.fhir.charge import charge_id
from telehealth.fhir.questionnaire import questionnaire_id
from telehealth.identity import queries as identity_queries
from telehealth.identity import service as identity
from telehealth.identity.model import Actor, CredentialKind, Role
from telehealth.monitoring.tables import Reading
from telehealth.portal import service as portal
from telehealth.review import service as review
from telehealth.review.model import latest_questionnaires
from telehealth.visits import consent as visit_consent
from tests.access.audience import (
    MANAGERS,
    ORG_MANAGERS,
    PATIENT_READERS,
    SIGNED_IN,
    STAFF_READERS,
)
from tests.access.audience import Audience as A
from tests.access.matrix import Entry, form, page, patient_a_id
from tests.access.matrix_monitoring import _objects as monitoring_objects
from tests.review.support import DERM_ANSWERS, acting, add_media, build_case, signed_report_id
from tests.support import World, scope_for, services_for
from tests.visits.support import acting as acting_as_user
from tests.visits.support import book, start

_STARTED: dict[uuid.UUID, uuid.UUID] = {}
_INTAKES: dict[uuid.UUID, uuid.UUID] = {}


def _visit_of_patient_a(world: World) -> uuid.UUID:
    """Patient A's visit with clinician A, taken into its call once per world: an Appointment
    and, under way, an Encounter."""
    if world.org_id not in _STARTED:
        with services_for(world) as services:
            visit_id = book(services, world)
            start(services, world, visit_id)
            _STARTED[world.org_id] = visit_id
    return _STARTED[world.org_id]


def _intake_of_patient_a(world: World) -> uuid.UUID:
    """The intake patient A filled in for a visit of theirs, once per world."""
    if world.org_id not in _INTAKES:
        with services_for(world) as services:
            visit_id = book(services, world)
            with acting(services, world["patient_a"]) as scope:
                intake = portal.start_intake(scope, visit_id, "Rash", dict(DERM_ANSWERS))
            _INTAKES[world.org_id] = intake.id
    return _INTAKES[world.org_id]


def _questionnaire() -> str:
    return str(questionnaire_id(latest_questionnaires()[0]))


_CONSENTS: dict[uuid.UUID, uuid.UUID] = {}


def consent_of_patient_a(world: World) -> str:
    """A consent patient A gave in a visit with clinician A, taken once per world."""
    if world.org_id not in _CONSENTS:
        with services_for(world) as services:
            start(services, world, book(services, world))
            with acting_as_user(services, world["coordinator"].user_id) as scope:
                given = visit_consent.readable_consents(scope)
                _CONSENTS[world.org_id] = given[0].consent.id
    return f"/fhir/R4/Consent/{_CONSENTS[world.org_id]}"


def clinician_a_id(world: World) -> str:
    return str(world["clinician_a"].user_id)


def _case(world: World) -> str:
    return f"/fhir/R4/ServiceRequest/{build_case(world, 'claimed')}"


def _report(world: World) -> str:
    return f"/fhir/R4/DiagnosticReport/{signed_report_id(world, build_case(world, 'signed'))}"


def _document(prefix: str):  # type: ignore[no-untyped-def]
    def target(world: World) -> str:
        return f"/fhir/R4/{prefix}/{add_media(world, build_case(world, 'queued'))}"

    return target


def _review_line(world: World) -> str:
    case_id = build_case(world, "signed")
    with services_for(world) as services, acting(services, world["clinician_a"]) as scope:
        billing = review.case_view(scope, case_id, record_read=False).billing[0]
    return f"/fhir/R4/ChargeItem/{charge_id(billing.id, 0)}"


def _searches(kind: str) -> dict[tuple[str, str], Entry]:
    return {
        ("GET", f"/fhir/R4/{kind}"): Entry(SIGNED_IN),
        ("POST", f"/fhir/R4/{kind}/_search"): Entry(SIGNED_IN, body={}, form=True),
    }


def _reading_of_patient_a(world: World) -> str:
    """A heart-rate reading of patient A's monitoring (built through ingestion)."""
    enrollment = monitoring_objects(world).enrollment
    with scope_for(world.settings, world.clock) as scope:
        found = scope.session.execute(
            select(Reading.id)
            .where(Reading.enrollment_id == enrollment, Reading.code == "8867-4")
            .limit(1)
        ).scalar_one()
    return f"/fhir/R4/Observation/{found}"


def _of_patient_a(path: str) -> Any:
    return lambda w: f"{path}?patient=Patient/{patient_a_id(w)}"


PREFER = {"Prefer": "respond-async"}


def coordinator_export(world: World, *, run: bool = False) -> uuid.UUID:
    """A bulk export of patient A's organization asked for by its coordinator (run when
    ``run``): an export is its requester's alone."""
    coordinator = world["coordinator"]
    actor = Actor(
        coordinator.user_id, Role.COORDINATOR, world.org_id, None, True, CredentialKind.SYSTEM
    )
    with scope_for(world.settings, world.clock, world.ports) as scope:
        scope.act_as(actor)
        asked = bulk.Asked("Patient", None, None, "respond-async", "/fhir/R4/Patient/$export")
        export_id = bulk.kick_off(scope, asked).id
    if run:
        with scope_for(world.settings, world.clock, world.ports) as scope:
            bulk.run_export(scope, export_id)
    return export_id


def export_status(world: World) -> str:
    return f"/fhir/R4/bulkstatus/{coordinator_export(world)}"


def export_file(world: World) -> str:
    export_id = coordinator_export(world, run=True)
    with scope_for(world.settings, world.clock, world.ports) as scope:
        scope.act_as(
            Actor(
                world["coordinator"].user_id,
                Role.COORDINATOR,
                world.org_id,
                None,
                True,
                CredentialKind.SYSTEM,
            )
        )
        found = bulk.status(scope, export_id, "")
    assert isinstance(found, dict)
    return f"/fhir/R4{found['output'][0]['url']}"


@functools.cache
def _public_jwks() -> dict[str, Any]:
    key = RSAKey.generate_key(2048, parameters={"kid": "matrix"})
    return {"keys": [key.as_dict(private=False)]}


def _new_client_body(_world: World) -> dict[str, Any]:
    return {"name": "Matrix registry", "jwks": _public_jwks(), "scopes": "system/Patient.rs"}


def _new_client_id(world: World) -> uuid.UUID:
    """A system client of patient A's organization, registered by its administrator."""
    with scope_for(world.settings, world.clock) as scope:
        admin = identity_queries.user_by_id(scope.session, world["admin"].user_id)
        assert admin is not None
        scope.act_as(identity.system_actor_for(scope, admin))
        return clients.register(scope, **_new_client_body(world)).id


def _new_client(world: World) -> str:
    return f"/v1/fhir/clients/{_new_client_id(world)}/revoke"


def _new_client_page(world: World) -> str:
    return f"/admin/fhir-clients/{_new_client_id(world)}/revoke"


def _new_client_form(world: World) -> dict[str, Any]:
    body = _new_client_body(world)
    return {**body, "jwks": json.dumps(body["jwks"])}


ENTRIES: dict[tuple[str, str], Entry] = {
    ("GET", "/fhir/R4/metadata"): Entry(A.ANYONE | SIGNED_IN),
    ("GET", "/fhir/R4/.well-known/smart-configuration"): Entry(A.ANYONE | SIGNED_IN),
    ("POST", "/fhir/R4/auth/token"): Entry(
        A.ANYONE | SIGNED_IN,
        not_probed="takes a system client's signed assertion, not a token; "
        "tests/fhir/test_backend_services.py",
    ),
    ("GET", "/v1/fhir/clients"): Entry(A.ADMINS),
    ("POST", "/v1/fhir/clients"): Entry(A.ADMINS, body=_new_client_body),
    ("POST", "/v1/fhir/clients/{client_id}/revoke"): Entry(
        A.ORG_ADMIN, target=_new_client, seen_by=A.ORG_ADMIN, roles=A.ADMINS, fresh=True
    ),
    ("GET", "/admin/fhir-clients"): page(A.ADMINS),
    ("POST", "/admin/fhir-clients"): form(
        A.ADMINS, lambda _w: "/admin/fhir-clients", _new_client_form, seen_by=SIGNED_IN
    ),
    ("POST", "/admin/fhir-clients/{client_id}/revoke"): form(
        A.ORG_ADMIN,
        _new_client_page,
        {},
        seen_by=A.ORG_ADMIN,
        roles=A.ADMINS,
        fresh=True,
    ),
    ("GET", "/fhir/R4/Patient/{resource_id}"): Entry(
        PATIENT_READERS, target=lambda w: f"/fhir/R4/Patient/{patient_a_id(w)}"
    ),
    ("GET", "/fhir/R4/Patient"): Entry(SIGNED_IN),
    ("POST", "/fhir/R4/Patient/_search"): Entry(SIGNED_IN, body={}, form=True),
    ("GET", "/fhir/R4/Appointment/{resource_id}"): Entry(
        PATIENT_READERS, target=lambda w: f"/fhir/R4/Appointment/{_visit_of_patient_a(w)}"
    ),
    ("GET", "/fhir/R4/Appointment"): Entry(SIGNED_IN),
    ("POST", "/fhir/R4/Appointment/_search"): Entry(SIGNED_IN, body={}, form=True),
    ("GET", "/fhir/R4/Encounter/{resource_id}"): Entry(
        PATIENT_READERS, target=lambda w: f"/fhir/R4/Encounter/{_visit_of_patient_a(w)}"
    ),
    ("GET", "/fhir/R4/Encounter"): Entry(SIGNED_IN),
    ("POST", "/fhir/R4/Encounter/_search"): Entry(SIGNED_IN, body={}, form=True),
    ("GET", "/fhir/R4/Questionnaire/{resource_id}"): Entry(
        SIGNED_IN, target=lambda w: f"/fhir/R4/Questionnaire/{_questionnaire()}", seen_by=SIGNED_IN
    ),
    ("GET", "/fhir/R4/Questionnaire"): Entry(SIGNED_IN),
    ("POST", "/fhir/R4/Questionnaire/_search"): Entry(SIGNED_IN, body={}, form=True),
    ("GET", "/fhir/R4/QuestionnaireResponse/{resource_id}"): Entry(
        PATIENT_READERS,
        target=lambda w: f"/fhir/R4/QuestionnaireResponse/{_intake_of_patient_a(w)}",
    ),
    ("GET", "/fhir/R4/QuestionnaireResponse"): Entry(SIGNED_IN),
    ("POST", "/fhir/R4/QuestionnaireResponse/_search"): Entry(SIGNED_IN, body={}, form=True),
    # A clinician's profile is for their own organization (GET /v1/clinicians/{id}).
    ("GET", "/fhir/R4/Practitioner/{resource_id}"): Entry(
        A.ORG_MEMBER,
        target=lambda w: f"/fhir/R4/Practitioner/{clinician_a_id(w)}",
        seen_by=A.ORG_MEMBER,
    ),
    **_searches("Practitioner"),
    ("GET", "/fhir/R4/PractitionerRole/{resource_id}"): Entry(
        A.ORG_MEMBER,
        target=lambda w: f"/fhir/R4/PractitionerRole/{clinician_a_id(w)}",
        seen_by=A.ORG_MEMBER,
    ),
    **_searches("PractitionerRole"),
    ("GET", "/fhir/R4/Organization/{resource_id}"): Entry(
        A.ORG_MEMBER, target=lambda w: f"/fhir/R4/Organization/{w.org_id}", seen_by=A.ORG_MEMBER
    ),
    **_searches("Organization"),
    # A consent is its visit's (or its enrollment's): the visit's readers.
    ("GET", "/fhir/R4/Consent/{resource_id}"): Entry(PATIENT_READERS, target=consent_of_patient_a),
    **_searches("Consent"),
    ("GET", "/fhir/R4/Observation/{resource_id}"): Entry(
        PATIENT_READERS, target=_reading_of_patient_a
    ),
    ("GET", "/fhir/R4/Observation"): Entry(SIGNED_IN, target=_of_patient_a("/fhir/R4/Observation")),
    ("POST", "/fhir/R4/Observation/_search"): Entry(
        SIGNED_IN, body=lambda w: {"patient": f"Patient/{patient_a_id(w)}"}, form=True
    ),
    # Created by a device token for one device, never a user credential (as ingestion).
    ("POST", "/fhir/R4/Observation"): Entry(A.DEVICE),
    ("GET", "/fhir/R4/Device/{resource_id}"): Entry(
        PATIENT_READERS, target=lambda w: f"/fhir/R4/Device/{monitoring_objects(w).device}"
    ),
    ("GET", "/fhir/R4/Device"): Entry(SIGNED_IN, target=_of_patient_a("/fhir/R4/Device")),
    ("POST", "/fhir/R4/Device/_search"): Entry(
        SIGNED_IN, body=lambda w: {"patient": f"Patient/{patient_a_id(w)}"}, form=True
    ),
    # Bulk Data: coordinators and administrators export their own organization; an export is
    # its requester's alone (404 to anyone else, as for a missing one).
    ("GET", "/fhir/R4/Patient/$export"): Entry(MANAGERS, headers=PREFER),
    ("GET", "/fhir/R4/Group/{group_id}/$export"): Entry(
        ORG_MANAGERS,
        target=lambda w: f"/fhir/R4/Group/{w.org_id}/$export",
        seen_by=A.ORG_MEMBER,
        roles=MANAGERS,
        headers=PREFER,
    ),
    ("GET", "/fhir/R4/bulkstatus/{export_id}"): Entry(
        A.ORG_COORDINATOR, target=export_status, seen_by=A.ORG_COORDINATOR
    ),
    ("DELETE", "/fhir/R4/bulkstatus/{export_id}"): Entry(
        A.ORG_COORDINATOR, target=export_status, seen_by=A.ORG_COORDINATOR, fresh=True
    ),
    ("GET", "/fhir/R4/bulkfiles/{export_id}/{file_id}"): Entry(
        A.ORG_COORDINATOR, target=export_file, seen_by=A.ORG_COORDINATOR
    ),
    # Store-and-forward: a case, its signed report and its files answer the case's readers.
    ("GET", "/fhir/R4/ServiceRequest/{resource_id}"): Entry(PATIENT_READERS, target=_case),
    **_searches("ServiceRequest"),
    ("GET", "/fhir/R4/DiagnosticReport/{resource_id}"): Entry(PATIENT_READERS, target=_report),
    **_searches("DiagnosticReport"),
    ("GET", "/fhir/R4/DocumentReference/{resource_id}"): Entry(
        PATIENT_READERS, target=_document("DocumentReference")
    ),
    **_searches("DocumentReference"),
    # A document's content: the native download's audience.
    ("GET", "/fhir/R4/Binary/{resource_id}"): Entry(PATIENT_READERS, target=_document("Binary")),
    # A review's billing lines: staff who may read the case (the case shows them billing); its
    # patient, who reads the case, is refused. A visit's lines answer the visit's readers
    # (tests/fhir/test_charge_item.py).
    ("GET", "/fhir/R4/ChargeItem/{resource_id}"): Entry(STAFF_READERS, target=_review_line),
    **_searches("ChargeItem"),
}
