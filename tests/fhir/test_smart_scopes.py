"""SMART scope grammar (pure): v2 permissions, v1 read/write, contexts, what each grants."""

from __future__ import annotations

import pytest

from telehealth.fhir.smart import Context, Interaction, parse_scope, parse_scopes, permits
from telehealth.identity.model import Role


def test_v2_and_v1_scopes_grant_the_same_interactions() -> None:
    v2 = parse_scope("patient/Observation.rs")
    v1 = parse_scope("patient/Observation.read")
    assert v2 is not None
    assert v1 is not None
    assert v2.interactions == v1.interactions == {Interaction.READ, Interaction.SEARCH}
    assert v2.context is Context.PATIENT


@pytest.mark.parametrize(
    "text", ["openid", "launch/patient", "patient/Observation", "user/*.sr", "user/*.x", "x/*.rs"]
)
def test_scopes_granting_no_resource_access_are_none(text: str) -> None:
    assert parse_scope(text) is None


def test_patient_scopes_hold_for_a_patient_on_their_record_only() -> None:
    grants = parse_scopes("openid patient/*.rs")
    assert permits(
        grants, Role.PATIENT, "Observation", Interaction.SEARCH, patient_compartment=True
    )
    assert not permits(
        grants, Role.CLINICIAN, "Observation", Interaction.SEARCH, patient_compartment=True
    )
    assert not permits(
        grants, Role.PATIENT, "Questionnaire", Interaction.READ, patient_compartment=False
    )
    assert not permits(
        grants, Role.PATIENT, "Observation", Interaction.CREATE, patient_compartment=True
    )


def test_user_scopes_name_their_types() -> None:
    grants = parse_scopes("user/Patient.rs user/Observation.c")
    assert permits(grants, Role.CLINICIAN, "Patient", Interaction.READ, patient_compartment=True)
    assert permits(
        grants, Role.CLINICIAN, "Observation", Interaction.CREATE, patient_compartment=True
    )
    assert not permits(
        grants, Role.CLINICIAN, "Observation", Interaction.READ, patient_compartment=True
    )
