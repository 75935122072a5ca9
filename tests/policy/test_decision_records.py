"""POST/GET /v1/decisions: validated, decided, stored with masked facts, revision and requester."""

from __future__ import annotations

import copy

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from telehealth.cli import app as cli
from telehealth.config import Settings
from tests.access.matrix import SAMPLE_FACTS
from tests.support import World

pytestmark = pytest.mark.db


def test_decision_is_stored_and_fetched_by_its_requester(client: TestClient, world: World) -> None:
    clinician = world["clinician_a"]
    created = client.post("/v1/decisions", json=SAMPLE_FACTS, headers=clinician.headers)
    assert created.status_code == 201, created.text
    decision = created.json()
    assert decision["modalities"]["sync_audio_video"]["status"] == "allowed"
    assert created.headers["location"] == f"/v1/decisions/{decision['decision_id']}"
    fetched = client.get(created.headers["location"], headers=clinician.headers)
    assert fetched.status_code == 200
    assert fetched.json() == decision
    # Another clinician of the same organization did not ask and the record names no patient.
    other = client.get(created.headers["location"], headers=world["clinician_x"].headers)
    assert other.status_code == 404
    assert (
        client.get(created.headers["location"], headers=world["other_admin"].headers).status_code
        == 404
    )


def test_invalid_facts_name_the_field_and_store_nothing(
    client: TestClient, world: World, settings: Settings
) -> None:
    facts = copy.deepcopy(SAMPLE_FACTS)
    facts["patient"]["location_state"] = "ZZ"
    response = client.post("/v1/decisions", json=facts, headers=world["clinician_a"].headers)
    assert response.status_code == 422
    assert "patient.location_state" in response.json()["detail"]


def test_linking_a_decision_to_a_patient_needs_access_to_that_patient(
    client: TestClient, world: World
) -> None:
    target = world["patient_a"].patient_id
    refused = client.post(
        "/v1/decisions",
        params={"patient_id": str(target)},
        json=SAMPLE_FACTS,
        headers=world["clinician_x"].headers,
    )
    assert refused.status_code == 404
    allowed = client.post(
        "/v1/decisions",
        params={"patient_id": str(target)},
        json=SAMPLE_FACTS,
        headers=world["clinician_a"].headers,
    )
    assert allowed.status_code == 201


def test_stored_record_masks_dates_and_explain_prints_citations(
    client: TestClient, world: World, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import create_engine, text

    created = client.post(
        "/v1/decisions", json=SAMPLE_FACTS, headers=world["clinician_a"].headers
    ).json()
    engine = create_engine(settings.effective_database_url)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT masked_facts, rules_fired, ruleset_revision FROM decision_records")
        ).one()
    engine.dispose()
    masked = row[0] if isinstance(row[0], dict) else __import__("json").loads(row[0])
    assert masked["date_of_service"] == "2026-12"
    assert row[2] == created["ruleset_revision"]
    monkeypatch.setenv("TELEHEALTH_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("TELEHEALTH_DATA_DIR", str(settings.data_dir))
    result = CliRunner().invoke(cli, ["policy", "explain", created["decision_id"]])
    assert result.exit_code == 0, result.output
    assert "sync_audio_video" in result.output
    assert "rules fired" in result.output
