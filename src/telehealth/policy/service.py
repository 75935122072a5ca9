"""Decisions as records: decide with the loaded rule set, store what was decided and why."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from telehealth.access import loader
from telehealth.access import service as access
from telehealth.audit.model import Action
from telehealth.db.base import RawJSON
from telehealth.identity.model import Actor
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


def _decision(session: Session, decision_id: uuid.UUID, _lock: bool) -> DecisionRecord | None:
    return session.get(DecisionRecord, decision_id)


def _subject(record: DecisionRecord) -> loader.Subject:
    return loader.Subject(record.org_id, record.patient_id, frozenset({record.requested_by}))


DECISION = loader.register(loader.Kind("decision", "decision", _decision, _subject))


def readable_decision(scope: Scope, decision_id: uuid.UUID) -> DecisionRecord:
    """Requester, and coordinators/admins of the same organization; patient-linked records
    also follow the patient's access rules."""
    record = loader.load(scope, DECISION, decision_id)
    scope.audit.record(Action.READ, "decision", record.id, patient_id=record.patient_id)
    return record


def decision_record(scope: Scope, decision_id: uuid.UUID) -> DecisionRecord | None:
    """A stored decision, for the capability it was recorded for: that capability has already
    decided who may see its own object, and so the decision made for it."""
    return scope.session.get(DecisionRecord, decision_id)
