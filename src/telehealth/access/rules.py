"""One pure access rule per kind of object: given the actor and the relationship facts, whether
the actor may reach the object and how the access is recorded; beside the read rules, the rules
of actions on an object (``change_visit``, ``conduct_visit``, ``join_visit``), which the loader
applies only to an actor the read rule lets see the object.

The facts are gathered by :mod:`telehealth.access.loader` (at the request's time: a care
assignment that has ended, or a break-glass grant that has expired, is no fact any more).
Each object kind names its rule in :data:`READ_RULES`; a kind whose rule is its patient's says
so there, in one line. See docs/access.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from telehealth.access.policy import PatientFacts, may_manage_org, may_read_patient
from telehealth.identity.model import Actor, Role


class Recorded(StrEnum):
    """How an allowed access goes into the audit log."""

    READ = "read"
    # Reached only through an emergency grant: audited as break-glass use, reviewed later.
    BREAK_GLASS = "break_glass"


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    recorded: Recorded = Recorded.READ


DENY = Verdict(False)
ALLOW = Verdict(True)
GLASS = Verdict(True, Recorded.BREAK_GLASS)


@dataclass(frozen=True, slots=True)
class ObjectFacts:
    """What access needs to know about one object.

    ``named`` are the users the object itself names as working on it (a visit's clinician, a
    case's originator and reviewer, the enrolling clinician, a decision's requester): they
    reach it whatever the care team says. ``patient`` is None for objects of no patient.
    """

    org_id: uuid.UUID
    patient: PatientFacts | None
    named: frozenset[uuid.UUID] = frozenset()


Rule = Callable[[Actor, ObjectFacts], Verdict]


def patient(actor: Actor, facts: ObjectFacts) -> Verdict:
    """A patient's record: the patient, coordinators and administrators of the organization,
    and clinicians caring for the patient (or holding an emergency grant)."""
    if facts.patient is None or not may_read_patient(actor, facts.patient):
        return DENY
    return GLASS if facts.patient.break_glass_active else ALLOW


def named_or_patient(actor: Actor, facts: ObjectFacts) -> Verdict:
    """An object of a patient that names who works on it: those named (in its organization),
    and whoever may read the patient's record, recorded the same way. An object of no patient
    is for those named and the organization's coordinators and administrators."""
    if actor.role is not Role.PATIENT and actor.org_id != facts.org_id:
        return DENY
    if actor.user_id in facts.named:
        return ALLOW
    if facts.patient is None:
        return ALLOW if may_manage_org(actor, facts.org_id) else DENY
    return patient(actor, facts)


def change_visit(actor: Actor, facts: ObjectFacts) -> Verdict:
    """Booking changes: the patient, the visit's clinician and coordinators; administrators
    manage accounts, not care, and other clinicians (even caring ones) do not move a
    colleague's visit."""
    if actor.role is Role.ADMIN:
        return DENY
    if actor.role is Role.CLINICIAN:
        return ALLOW if actor.user_id in facts.named and actor.org_id == facts.org_id else DENY
    return named_or_patient(actor, facts)


def conduct_visit(actor: Actor, facts: ObjectFacts) -> Verdict:
    """Notes and ending a visit: only the clinician who conducts it."""
    named = actor.user_id in facts.named and actor.org_id == facts.org_id
    return ALLOW if actor.role is Role.CLINICIAN and named else DENY


def work_case(actor: Actor, facts: ObjectFacts) -> Verdict:
    """A reviewer's work on a store-and-forward case (release it, ask, write and sign the
    report, amend it): clinicians of its organization whom the case names or who care for
    its patient. Readers who are not (the patient, coordinators, administrators, a clinician
    holding only an emergency grant) are refused; which of the permitted holds the claim is
    the case's state, decided after this."""
    if actor.role is not Role.CLINICIAN or actor.org_id != facts.org_id:
        return DENY
    in_care = facts.patient is not None and facts.patient.in_care_of_actor
    return ALLOW if actor.user_id in facts.named or in_care else DENY


def own_record(actor: Actor, facts: ObjectFacts) -> Verdict:
    """What only the patient does with an object of theirs (the pre-visit intake)."""
    own = facts.patient is not None and actor.patient_id == facts.patient.patient_id
    return ALLOW if actor.role is Role.PATIENT and own else DENY


def join_visit(actor: Actor, facts: ObjectFacts) -> Verdict:
    """A link of one's own into the call: the visit's patient and its clinician; coordinators,
    administrators and other clinicians who may read the visit take no part in it."""
    if actor.role is Role.PATIENT:
        return own_record(actor, facts)
    return conduct_visit(actor, facts)


def manage_availability(actor: Actor, facts: ObjectFacts) -> Verdict:
    """A clinician's weekly availability (``named``: the clinician): the clinician, and the
    coordinators and administrators of their organization."""
    if actor.org_id != facts.org_id:
        return DENY
    return ALLOW if actor.user_id in facts.named or may_manage_org(actor, facts.org_id) else DENY


def recipient(actor: Actor, facts: ObjectFacts) -> Verdict:
    """A notification: its recipient only (the one user it names)."""
    return ALLOW if actor.user_id in facts.named and actor.org_id == facts.org_id else DENY


def review_grant(actor: Actor, facts: ObjectFacts) -> Verdict:
    """A break-glass grant is reviewed by an administrator of its organization; the grant is
    about access, not a read of the patient's record, so no patient rule applies."""
    return ALLOW if actor.role is Role.ADMIN and actor.org_id == facts.org_id else DENY


# The read rule of every object kind. Kinds reached through a parent (a case's media and
# reports, a visit's participants, an enrollment's readings, devices and alerts, a visit's or
# case's encounter and billing lines) are loaded through that parent and take its rule.
READ_RULES: dict[str, Rule] = {
    "patient": patient,
    "visit": named_or_patient,
    "review_case": named_or_patient,
    "monitoring_enrollment": named_or_patient,
    "decision": named_or_patient,
    "review_media": named_or_patient,  # same as its case's
    "review_report": named_or_patient,  # same as its case's
    "visit_participant": named_or_patient,  # same as its visit's
    "visit_intake": named_or_patient,  # same as its visit's
    "visit_consent": named_or_patient,  # same as its visit's
    "monitoring_reading": named_or_patient,  # same as its enrollment's
    "monitoring_device": named_or_patient,  # same as its enrollment's
    "monitoring_alert": named_or_patient,  # same as its enrollment's
    "encounter": named_or_patient,  # same as its visit's or case's
    "billing_line": named_or_patient,  # same as its visit's or case's
    "notification": recipient,
    "break_glass_grant": review_grant,
}
# Kinds not loaded by id here: clinician profiles (access.policy's may_see_clinician and
# may_see_credentials) and availability (manage_availability above; read by the
# organization).
