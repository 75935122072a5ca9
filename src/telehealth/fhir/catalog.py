"""The resource types the FHIR API serves, in the CapabilityStatement's order."""

from __future__ import annotations

from telehealth.fhir.appointment import APPOINTMENT
from telehealth.fhir.charge import CHARGE_ITEM
from telehealth.fhir.consent import CONSENT
from telehealth.fhir.device import DEVICE
from telehealth.fhir.document import DOCUMENT_REFERENCE
from telehealth.fhir.encounter import ENCOUNTER
from telehealth.fhir.observation import OBSERVATION
from telehealth.fhir.organization import ORGANIZATION
from telehealth.fhir.patient import PATIENT
from telehealth.fhir.practitioner import PRACTITIONER
from telehealth.fhir.practitioner_role import PRACTITIONER_ROLE
from telehealth.fhir.questionnaire import QUESTIONNAIRE, QUESTIONNAIRE_RESPONSE
from telehealth.fhir.registry import ResourceType
from telehealth.fhir.report import DIAGNOSTIC_REPORT
from telehealth.fhir.service_request import SERVICE_REQUEST

RESOURCE_TYPES: tuple[ResourceType, ...] = (
    PATIENT,
    APPOINTMENT,
    ENCOUNTER,
    QUESTIONNAIRE,
    QUESTIONNAIRE_RESPONSE,
    PRACTITIONER,
    PRACTITIONER_ROLE,
    ORGANIZATION,
    CONSENT,
    OBSERVATION,
    DEVICE,
    SERVICE_REQUEST,
    DIAGNOSTIC_REPORT,
    DOCUMENT_REFERENCE,
    CHARGE_ITEM,
)


def by_name(name: str) -> ResourceType | None:
    return next((kind for kind in RESOURCE_TYPES if kind.name == name), None)
