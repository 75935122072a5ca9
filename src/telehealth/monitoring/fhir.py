"""FHIR R4 Observation bundles to raw readings (pure).

Only what a device reading needs is read: the LOINC code, the effective time, the quantity and
its UCUM unit, and the components of a blood-pressure panel. Devices send many other elements
(ids, meta, subject, device references); those are ignored rather than refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from telehealth.bounds import Moment
from telehealth.monitoring.model import BP_PANEL, RawReading, Rejection

LOINC_SYSTEM = "http://loinc.org"
UCUM_SYSTEM = "http://unitsofmeasure.org"
MAX_ENTRIES = 1000


class _Fhir(BaseModel):
    # FHIR resources carry many optional elements a reading does not use.
    model_config = ConfigDict(extra="ignore")


class Coding(_Fhir):
    system: str | None = None
    code: str = Field(max_length=32)


class CodeableConcept(_Fhir):
    coding: list[Coding] = Field(default_factory=list, max_length=20)


class Quantity(_Fhir):
    value: float
    unit: str | None = Field(default=None, max_length=40)
    system: str | None = None
    code: str | None = Field(default=None, max_length=40)


class Component(_Fhir):
    code: CodeableConcept
    valueQuantity: Quantity | None = None


class FhirPeriod(_Fhir):
    start: Moment


class Observation(_Fhir):
    resourceType: Literal["Observation"]
    status: str = "final"
    code: CodeableConcept
    effectiveDateTime: Moment | None = None
    effectiveInstant: Moment | None = None
    effectivePeriod: FhirPeriod | None = None
    valueQuantity: Quantity | None = None
    component: list[Component] = Field(default_factory=list, max_length=10)


class Entry(_Fhir):
    resource: Observation


class Bundle(_Fhir):
    resourceType: Literal["Bundle"]
    type: Literal["batch", "collection", "transaction"]
    entry: list[Entry] = Field(default_factory=list, max_length=MAX_ENTRIES)


def _loinc(concept: CodeableConcept) -> str | None:
    for coding in concept.coding:
        if coding.system in (None, LOINC_SYSTEM):
            return coding.code
    return None


def _unit(quantity: Quantity) -> str:
    # The UCUM code is authoritative; the display unit is a fallback for terse devices.
    if quantity.system not in (None, UCUM_SYSTEM):
        return ""
    return quantity.code or quantity.unit or ""


def _effective(obs: Observation) -> datetime | None:
    if obs.effectiveDateTime is not None:
        return obs.effectiveDateTime
    if obs.effectiveInstant is not None:
        return obs.effectiveInstant
    return obs.effectivePeriod.start if obs.effectivePeriod is not None else None


def _entry_readings(index: int, obs: Observation) -> tuple[list[RawReading], list[Rejection]]:
    code = _loinc(obs.code) or "unknown"
    at = _effective(obs)
    if at is None:
        return [], [Rejection(index, code, "no effective time")]
    if obs.status in ("entered-in-error", "cancelled"):
        return [], []
    if code == BP_PANEL:
        parts = [(_loinc(c.code) or "unknown", c.valueQuantity) for c in obs.component]
    else:
        parts = [(code, obs.valueQuantity)]
    readings: list[RawReading] = []
    problems: list[Rejection] = []
    for part_code, quantity in parts:
        if quantity is None:
            problems.append(Rejection(index, part_code, "no valueQuantity"))
            continue
        readings.append(RawReading(index, part_code, quantity.value, _unit(quantity), at))
    if code == BP_PANEL and not parts:
        problems.append(Rejection(index, code, "blood-pressure panel without components"))
    return readings, problems


def bundle_readings(bundle: Bundle) -> tuple[list[RawReading], list[Rejection]]:
    """Every reading in the bundle, each carrying its entry index; and what could not be read."""
    readings: list[RawReading] = []
    problems: list[Rejection] = []
    for index, entry in enumerate(bundle.entry):
        found, wrong = _entry_readings(index, entry.resource)
        readings.extend(found)
        problems.extend(wrong)
    return readings, problems


def observation_readings(obs: Observation) -> tuple[list[RawReading], list[Rejection]]:
    """The readings of one Observation (a create of the FHIR API), read as a bundle's entry."""
    return _entry_readings(0, obs)
