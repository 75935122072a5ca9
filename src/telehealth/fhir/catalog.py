"""The resource types the FHIR API serves, in the CapabilityStatement's order."""

from __future__ import annotations

from telehealth.fhir.device import DEVICE
from telehealth.fhir.observation import OBSERVATION
from telehealth.fhir.patient import PATIENT
from telehealth.fhir.registry import ResourceType

RESOURCE_TYPES: tuple[ResourceType, ...] = (PATIENT, OBSERVATION, DEVICE)


def by_name(name: str) -> ResourceType | None:
    return next((kind for kind in RESOURCE_TYPES if kind.name == name), None)
