"""Decisions as records: decide with the loaded rule set, store what was decided and why."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from telehealth.access import service as access
from telehealth.audit.model import Action
from telehealth.db.base import RawJSON
from telehealth.errors import not_found
from telehealth.identity.model import Actor, Role
from telehealth.policy.decision import Decision
from telehealth.policy.engine import decide
from telehealth.policy.explain import rules_fired
from telehealth.policy.facts import Facts, masked_facts, parse_facts
from telehealth.policy.loader import RuleSet
from telehealth.policy.records import DecisionRecord
from telehealth.scope import Scope


def decide_and_record(
    scope: Scope,
    facts: Facts | Mapping[str, Any],
    *,
    patient_id: uuid.UUID | None = None,
    ruleset: RuleSet | None = None,
) -> tuple[Decision, DecisionRecord]:
    """Decide and store the decision record in the caller's transaction.

    When the decision concerns a known patient, the actor must be able to read that patient.
    """
    actor = scope.require_actor()
    if patient_id is not None:
        access.readable_patient(scope, patient_id)
    decision, values = prepare_decision(
        actor,
        parse_facts(facts),
        ruleset or scope.ports.ruleset,
        now=scope.clock.now(),
        patient_id=patient_id,
    )
    record = DecisionRecord(**values)
    scope.session.add(record)
    scope.session.flush()
    scope.audit.record(
        Action.CREATE,
        "decision",
        record.id,
        patient_id=patient_id,
        detail=creation_detail(decision),
    )
    return decision, record


def prepare_decision(
    actor: Actor,
    facts: Facts,
    ruleset: RuleSet,
    *,
    now: datetime,
    patient_id: uuid.UUID | None = None,
    serialized: bool = False,
) -> tuple[Decision, dict[str, Any]]:
    """Decides and builds the column values of the record to store. ``serialized`` gives the
    decision as the JSON text to store and send, not a dict."""
    record_id = uuid.uuid4()
    decision = decide(facts, ruleset, evaluated_at=now, decision_id=str(record_id))
    values = {
        "id": record_id,
        "org_id": actor.org_id,
        "requested_by": actor.user_id,
        "patient_id": patient_id,
        "ruleset_revision": decision.ruleset_revision,
        "masked_facts": masked_facts(facts),
        "decision": (
            RawJSON(decision.model_dump_json()) if serialized else decision.model_dump(mode="json")
        ),
        "rules_fired": list(rules_fired(decision)),
        "created_at": now,
    }
    return decision, values


def creation_detail(decision: Decision) -> dict[str, str | int | bool]:
    """What the audit row of a stored decision says about it (never the facts)."""
    return {"revision": decision.ruleset_revision[:16]}


def readable_decision(scope: Scope, decision_id: uuid.UUID) -> DecisionRecord:
    """Requester, and coordinators/admins of the same organization; patient-linked records
    also follow the patient's access rules."""
    actor = scope.require_actor()
    record = scope.session.get(DecisionRecord, decision_id)
    if record is None or not _may_read_decision(scope, actor, record):
        access.record_denial(scope, "decision", decision_id)
        raise not_found("decision")
    scope.audit.record(Action.READ, "decision", record.id, patient_id=record.patient_id)
    return record


def _may_read_decision(scope: Scope, actor: Actor, record: DecisionRecord) -> bool:
    if record.org_id != actor.org_id:
        return False
    if record.requested_by == actor.user_id:
        return True
    if record.patient_id is None:
        return actor.role in (Role.COORDINATOR, Role.ADMIN)
    if actor.role is Role.PATIENT and record.patient_id != actor.patient_id:
        return False
    # A decision about a patient the actor may not read is hidden like a missing one (never
    # "patient not found", which would tell the two apart).
    return access.patient_if_readable(scope, record.patient_id) is not None
