"""Pure access rules over facts about the actor and the object."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from telehealth.identity.model import Actor, Role


@dataclass(frozen=True, slots=True)
class PatientFacts:
    """What access needs to know about a patient's record, gathered by the caller."""

    patient_id: uuid.UUID
    org_id: uuid.UUID
    in_care_of_actor: bool = False
    break_glass_active: bool = False

    @classmethod
    def of(
        cls, patient_id: uuid.UUID, org_id: uuid.UUID, *, in_care: bool, grant: bool
    ) -> PatientFacts:
        """Care and an active break-glass grant as the actor has them; a grant only counts
        (and is recorded as break-glass use) where care does not already give access."""
        return cls(patient_id, org_id, in_care, grant and not in_care)


def may_read_patient(actor: Actor, facts: PatientFacts) -> bool:
    if actor.role is Role.PATIENT:
        return actor.patient_id == facts.patient_id
    if actor.org_id != facts.org_id:
        return False
    if actor.role is Role.CLINICIAN:
        return facts.in_care_of_actor or facts.break_glass_active
    # Coordinators and administrators work across their organization's patients.
    return actor.role in (Role.COORDINATOR, Role.ADMIN)


def may_start_care(actor: Actor, facts: PatientFacts) -> bool:
    """Whether the actor may do what leaves a clinician lastingly tied to the patient (booking a
    visit, which joins the care team; enrolling in monitoring; originating a case).

    That needs a standing relationship: the patient themself, a coordinator of their
    organization, or a clinician already caring for them. Break-glass access is time-limited
    and must stay so; it never reaches this, or it would outlive its grant.
    """
    if actor.role is Role.CLINICIAN:
        return actor.org_id == facts.org_id and facts.in_care_of_actor
    if actor.role is Role.ADMIN:
        return False
    return may_read_patient(actor, facts)


def may_update_patient(actor: Actor, facts: PatientFacts) -> bool:
    # Demographics are maintained by the patient, their clinicians and coordinators;
    # administrators manage accounts, not records.
    if actor.role is Role.ADMIN:
        return False
    return may_read_patient(actor, facts)


def may_manage_org(actor: Actor, org_id: uuid.UUID) -> bool:
    return actor.role in (Role.ADMIN, Role.COORDINATOR) and actor.org_id == org_id


def may_manage_users(actor: Actor) -> bool:
    return actor.role is Role.ADMIN


def may_break_glass(actor: Actor) -> bool:
    return actor.role is Role.CLINICIAN


def may_see_clinician(actor: Actor, clinician_org_id: uuid.UUID) -> bool:
    """A clinician's public profile (name, specialties) is for their own organization; to
    anyone else they answer as missing."""
    return actor.org_id == clinician_org_id


def may_see_organization(actor: Actor, org_id: uuid.UUID) -> bool:
    """An organization's own record (its name) is for its members; to anyone else it answers
    as missing."""
    return actor.org_id == org_id


def may_see_credentials(actor: Actor, clinician_id: uuid.UUID, clinician_org_id: uuid.UUID) -> bool:
    """Licenses, compacts, DEA registrations and the NPI are for the clinician themself and
    the people who manage their organization's staff."""
    if not may_see_clinician(actor, clinician_org_id):
        return False
    return actor.user_id == clinician_id or may_manage_org(actor, clinician_org_id)
