"""The patient row and access facts are read once per unit of work, never handed out stale."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import event

from telehealth.access import service as access
from telehealth.identity import service as identity
from telehealth.scope import Scope, open_scope
from tests.support import World

pytestmark = pytest.mark.db


@contextmanager
def acting_as(app: FastAPI, world: World, who: str) -> Iterator[tuple[Scope, list[str]]]:
    services = app.state.services
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    scope = open_scope(services.sessions, services.ports, request_id="test")
    try:
        scope.act_as(identity.resolve_token(scope, world[who].token))
        event.listen(services.engine, "before_cursor_execute", seen)
        yield scope, statements
    finally:
        event.remove(services.engine, "before_cursor_execute", seen)
        scope.uow.close()


def patient_reads(statements: list[str]) -> int:
    return sum(1 for s in statements if "FROM patients" in s)


def test_facts_and_row_of_a_patient_are_read_once(app: FastAPI, world: World) -> None:
    patient_id = world["patient_a"].patient_id
    assert patient_id is not None
    with acting_as(app, world, "clinician_a") as (scope, statements):
        actor = scope.require_actor()
        facts = access.facts_about(scope, actor, patient_id)
        assert facts is not None
        assert facts.in_care_of_actor
        assert access.facts_about(scope, actor, patient_id) is facts
        assert access.readable_patient(scope, patient_id).id == patient_id
        assert patient_reads(statements) == 1


def test_a_missing_patient_has_no_facts(app: FastAPI, world: World) -> None:
    with acting_as(app, world, "clinician_a") as (scope, _):
        missing = world["clinician_a"].user_id  # a user id is no patient's id
        assert access.facts_about(scope, scope.require_actor(), missing) is None


def test_a_row_from_before_a_rollback_is_read_again(app: FastAPI, world: World) -> None:
    patient_id = world["patient_a"].patient_id
    assert patient_id is not None
    with acting_as(app, world, "coordinator") as (scope, statements):
        first = access.patient_record(scope, patient_id)
        scope.uow.rollback()
        again = access.patient_record(scope, patient_id)
        assert again is not None
        assert again is not first
        assert again.id == patient_id
        assert patient_reads(statements) == 2
