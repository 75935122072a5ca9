"""The fast lane for patient reads answers exactly as the route does, or lets the route answer."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from telehealth import app as app_module
from telehealth.access import fast
from telehealth.app import create_app
from telehealth.clock import FrozenClock
from telehealth.config import Settings
from telehealth.identity import lanes as identity_lanes
from telehealth.policy import lanes as policy_lanes
from telehealth.web.lane import Lane
from tests.access.matrix import SAMPLE_FACTS
from tests.support import World

pytestmark = pytest.mark.db

READERS = ["patient_a", "clinician_a", "coordinator", "admin"]


@pytest.fixture
def lane_answers(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records, per request, whether the lane answered (True) or let the route answer."""
    answers: list[bool] = []
    original = fast.read_patient

    async def spy(*args: Any, **kwargs: Any) -> fast.FastPatientRead | None:
        read = await original(*args, **kwargs)
        answers.append(read is not None)
        return read

    monkeypatch.setattr(fast, "read_patient", spy)
    return answers


@pytest.fixture
def routes_only(
    settings: Settings, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """The same application with no lanes: every request takes the route."""
    monkeypatch.setattr(app_module, "LANES", ())
    application = create_app(settings, clock=clock)
    with TestClient(application) as client:
        yield client
    application.state.services.engine.dispose()


def _read_rows(
    settings: Settings, action: str = "read", object_type: str = "patient"
) -> list[tuple[Any, ...]]:
    """Audit rows about objects of a type with this action, oldest first."""
    engine = create_engine(settings.effective_database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT action, outcome, object_type, object_id, actor_id, actor_role, org_id, "
                "patient_id FROM audit_events WHERE object_type = :type AND action = :action "
                "ORDER BY at, chain, seq"
            ),
            {"action": action, "type": object_type},
        ).all()
    engine.dispose()
    return [tuple(row) for row in rows]


@pytest.mark.parametrize("reader", READERS)
def test_lane_and_route_give_the_same_answer_and_audit_row(
    client: TestClient,
    routes_only: TestClient,
    world: World,
    settings: Settings,
    lane_answers: list[bool],
    reader: str,
) -> None:
    target = f"/v1/patients/{world['patient_a'].patient_id}"
    headers = world[reader].headers

    before = len(_read_rows(settings))
    via_lane = client.get(target, headers=headers)
    assert lane_answers == [True]
    lane_rows = _read_rows(settings)[before:]
    via_route = routes_only.get(target, headers=headers)
    assert lane_answers == [True]  # the lane-less app never consulted it
    route_rows = _read_rows(settings)[before + len(lane_rows) :]

    assert via_lane.status_code == via_route.status_code == 200
    assert via_lane.json() == via_route.json()
    assert via_lane.headers["content-type"] == via_route.headers["content-type"]
    for name in ("cache-control", "content-security-policy", "x-content-type-options"):
        assert via_lane.headers[name] == via_route.headers[name]
    assert via_lane.headers["x-request-id"] != via_route.headers["x-request-id"]
    assert len(lane_rows) == len(route_rows) == 1
    assert lane_rows[0] == route_rows[0]
    assert lane_rows[0][:3] == ("read", "success", "patient")


@pytest.mark.parametrize("reader", ["patient_b", "clinician_x", "other_admin"])
def test_hidden_patients_fall_through_to_the_route_and_its_404(
    client: TestClient, world: World, settings: Settings, lane_answers: list[bool], reader: str
) -> None:
    hidden = client.get(
        f"/v1/patients/{world['patient_a'].patient_id}", headers=world[reader].headers
    )
    missing = client.get(f"/v1/patients/{uuid.uuid4()}", headers=world[reader].headers)
    assert lane_answers == [False, False]
    assert hidden.status_code == missing.status_code == 404
    strip = {"request_id"}
    assert {k: v for k, v in hidden.json().items() if k not in strip} == {
        k: v for k, v in missing.json().items() if k not in strip
    }
    denials = _read_rows(settings, "access_denied")
    assert [row[1] for row in denials] == ["denied", "denied"]


def test_invalid_expired_and_mfa_less_credentials_take_the_route(
    client: TestClient, world: World, clock: FrozenClock, lane_answers: list[bool]
) -> None:
    target = f"/v1/patients/{world['patient_a'].patient_id}"
    assert client.get(target, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get(target, headers={"Authorization": "Basic abc"}).status_code == 401
    assert lane_answers == [False]  # a malformed header never reaches the statement
    clock.advance(timedelta(days=2))
    expired = client.get(target, headers=world["patient_a"].headers)
    assert expired.status_code == 401
    assert lane_answers == [False, False]


def test_a_lane_that_fails_lets_the_route_answer(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(fast, "read_patient", broken)
    answer = client.get(
        f"/v1/patients/{world['patient_a'].patient_id}", headers=world["patient_a"].headers
    )
    assert answer.status_code == 200
    assert answer.json()["id"] == str(world["patient_a"].patient_id)


@pytest.fixture
def decision_lane_answers(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    answers: list[bool] = []
    original = policy_lanes.create_decision

    async def spy(*args: Any) -> Any:
        response = await original(*args)
        answers.append(response is not None)
        return response

    monkeypatch.setattr(policy_lanes, "create_decision", spy)
    monkeypatch.setattr(
        app_module,
        "LANES",
        (*identity_lanes.LANES, Lane("POST", "/v1/decisions", spy, max_body=policy_lanes.MAX_BODY)),
    )
    return answers


def test_decision_lane_stores_and_audits_like_the_route(
    settings: Settings, clock: FrozenClock, world: World, decision_lane_answers: list[bool]
) -> None:
    application = create_app(settings, clock=clock)
    with TestClient(application) as client:
        headers = world["clinician_a"].headers
        created = client.post("/v1/decisions", json=SAMPLE_FACTS, headers=headers)
        assert decision_lane_answers == [True]
        assert created.status_code == 201
        fetched = client.get(created.headers["location"], headers=headers)
        assert fetched.status_code == 200
        assert fetched.json() == created.json()
        via_route = client.post(
            "/v1/decisions",
            json=SAMPLE_FACTS,
            params={"patient_id": str(world["patient_a"].patient_id)},
            headers=headers,
        )
        assert decision_lane_answers == [True, False]
        assert via_route.status_code == 201
        strip = {"decision_id", "evaluated_at"}
        assert {k: v for k, v in via_route.json().items() if k not in strip} == {
            k: v for k, v in created.json().items() if k not in strip
        }
    application.state.services.engine.dispose()
    created_rows = _read_rows(settings, "create", "decision")
    assert len(created_rows) == 2
    assert {row[1] for row in created_rows} == {"success"}


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"date_of_service": "2026-12-01"}', b"[1, 2]"],
)
def test_decision_lane_leaves_bad_input_to_the_route(
    client: TestClient, world: World, body: bytes
) -> None:
    answer = client.post(
        "/v1/decisions",
        content=body,
        headers={**world["clinician_a"].headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_decision_lane_and_route_refuse_a_body_that_is_not_json_alike(
    client: TestClient,
    routes_only: TestClient,
    world: World,
    content_type: str,
) -> None:
    """A JSON document sent as another media type is refused by the route; the lane must
    not accept it either."""
    request = {
        "content": json.dumps(SAMPLE_FACTS).encode(),
        "headers": {**world["clinician_a"].headers, "Content-Type": content_type},
    }
    via_lane = client.post("/v1/decisions", **request)
    via_route = routes_only.post("/v1/decisions", **request)
    assert via_route.status_code == 422
    assert via_lane.status_code == via_route.status_code
    strip = {"request_id"}
    assert {k: v for k, v in via_lane.json().items() if k not in strip} == {
        k: v for k, v in via_route.json().items() if k not in strip
    }
