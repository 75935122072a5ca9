"""The pure access rules, one per object kind (no database)."""

from __future__ import annotations

import uuid

from telehealth.access import rules
from telehealth.access.policy import PatientFacts
from telehealth.identity.model import Actor, CredentialKind, Role

ORG = uuid.uuid4()
OTHER_ORG = uuid.uuid4()
PATIENT = uuid.uuid4()
# Kinds that are no patient's record, so no emergency grant reaches them.
NOT_PHI = {"notification", "break_glass_grant", "fhir_export"}


def actor(role: Role, org: uuid.UUID = ORG, patient: uuid.UUID | None = None) -> Actor:
    return Actor(
        user_id=uuid.uuid4(),
        role=role,
        org_id=org,
        patient_id=patient,
        mfa_verified=True,
        credential=CredentialKind.SESSION,
    )


def facts(
    *, in_care: bool = False, grant: bool = False, named: frozenset[uuid.UUID] = frozenset()
) -> rules.ObjectFacts:
    patient = PatientFacts.of(PATIENT, ORG, in_care=in_care, grant=grant)
    return rules.ObjectFacts(ORG, patient, named)


def test_a_read_through_an_emergency_grant_is_recorded_as_break_glass_for_every_kind() -> None:
    clinician = actor(Role.CLINICIAN)
    of_patients = {kind: rule for kind, rule in rules.READ_RULES.items() if kind not in NOT_PHI}
    assert len(of_patients) == len(rules.READ_RULES) - len(NOT_PHI)
    for kind, rule in of_patients.items():
        assert rule(clinician, facts(grant=True)) == rules.GLASS, kind
        assert rule(clinician, facts(in_care=True, grant=True)) == rules.ALLOW, kind
        assert rule(clinician, facts()) == rules.DENY, kind


def test_those_an_object_names_reach_it_within_their_organization_only() -> None:
    clinician = actor(Role.CLINICIAN)
    named = frozenset({clinician.user_id})
    assert rules.named_or_patient(clinician, facts(named=named)) == rules.ALLOW
    outsider = actor(Role.CLINICIAN, OTHER_ORG)
    elsewhere = facts(named=frozenset({outsider.user_id}))
    assert rules.named_or_patient(outsider, elsewhere) == rules.DENY


def test_an_object_of_no_patient_is_for_its_named_users_and_the_organizations_managers() -> None:
    requester = actor(Role.CLINICIAN)
    record = rules.ObjectFacts(ORG, None, frozenset({requester.user_id}))
    assert rules.named_or_patient(requester, record) == rules.ALLOW
    assert rules.named_or_patient(actor(Role.COORDINATOR), record) == rules.ALLOW
    assert rules.named_or_patient(actor(Role.ADMIN), record) == rules.ALLOW
    assert rules.named_or_patient(actor(Role.CLINICIAN), record) == rules.DENY
    assert rules.named_or_patient(actor(Role.ADMIN, OTHER_ORG), record) == rules.DENY
    assert rules.patient(actor(Role.ADMIN), record) == rules.DENY


def test_a_patient_reaches_only_their_own_objects() -> None:
    assert rules.named_or_patient(actor(Role.PATIENT, patient=PATIENT), facts()) == rules.ALLOW
    assert rules.named_or_patient(actor(Role.PATIENT, patient=uuid.uuid4()), facts()) == rules.DENY


def test_only_the_visits_clinician_changes_or_conducts_it_among_clinicians() -> None:
    conducting = actor(Role.CLINICIAN)
    visit = facts(in_care=True, named=frozenset({conducting.user_id}))
    caring = actor(Role.CLINICIAN)
    assert rules.change_visit(conducting, visit) == rules.ALLOW
    assert rules.conduct_visit(conducting, visit) == rules.ALLOW
    assert rules.named_or_patient(caring, facts(in_care=True)) == rules.ALLOW
    assert rules.change_visit(caring, facts(in_care=True)) == rules.DENY
    assert rules.conduct_visit(caring, facts(in_care=True)) == rules.DENY
    assert rules.change_visit(actor(Role.COORDINATOR), visit) == rules.ALLOW
    assert rules.change_visit(actor(Role.ADMIN), visit) == rules.DENY
    assert rules.conduct_visit(actor(Role.COORDINATOR), visit) == rules.DENY


def test_only_the_visits_patient_and_clinician_join_it() -> None:
    conducting = actor(Role.CLINICIAN)
    visit = facts(in_care=True, named=frozenset({conducting.user_id}))
    assert rules.join_visit(conducting, visit) == rules.ALLOW
    assert rules.join_visit(actor(Role.PATIENT, patient=PATIENT), visit) == rules.ALLOW
    assert rules.join_visit(actor(Role.PATIENT, patient=uuid.uuid4()), visit) == rules.DENY
    for reader in (actor(Role.CLINICIAN), actor(Role.COORDINATOR), actor(Role.ADMIN)):
        assert rules.join_visit(reader, facts(in_care=True, grant=True)) == rules.DENY


def test_a_notification_is_its_recipients_and_a_grant_its_organizations_administrators() -> None:
    recipient = actor(Role.PATIENT, patient=PATIENT)
    note = rules.ObjectFacts(ORG, None, frozenset({recipient.user_id}))
    assert rules.READ_RULES["notification"](recipient, note) == rules.ALLOW
    assert rules.READ_RULES["notification"](actor(Role.ADMIN), note) == rules.DENY
    grant = rules.ObjectFacts(ORG, None, frozenset({uuid.uuid4()}))
    assert rules.READ_RULES["break_glass_grant"](actor(Role.ADMIN), grant) == rules.ALLOW
    assert rules.READ_RULES["break_glass_grant"](actor(Role.COORDINATOR), grant) == rules.DENY
    assert rules.READ_RULES["break_glass_grant"](actor(Role.ADMIN, OTHER_ORG), grant) == rules.DENY


def test_only_the_patient_does_what_is_theirs_alone() -> None:
    own = actor(Role.PATIENT, patient=PATIENT)
    assert rules.own_record(own, facts()) == rules.ALLOW
    assert rules.own_record(actor(Role.PATIENT, patient=uuid.uuid4()), facts()) == rules.DENY
    for role in (Role.CLINICIAN, Role.COORDINATOR, Role.ADMIN):
        assert rules.own_record(actor(role), facts(in_care=True)) == rules.DENY, role


def test_availability_is_managed_by_its_clinician_and_the_organizations_managers() -> None:
    clinician = actor(Role.CLINICIAN)
    theirs = rules.ObjectFacts(ORG, None, frozenset({clinician.user_id}))
    assert rules.manage_availability(clinician, theirs) == rules.ALLOW
    assert rules.manage_availability(actor(Role.CLINICIAN), theirs) == rules.DENY
    for role in (Role.COORDINATOR, Role.ADMIN):
        assert rules.manage_availability(actor(role), theirs) == rules.ALLOW, role
        assert rules.manage_availability(actor(role, OTHER_ORG), theirs) == rules.DENY, role
    assert rules.manage_availability(actor(Role.PATIENT, patient=PATIENT), theirs) == rules.DENY
