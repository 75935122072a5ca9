"""Remote-monitoring set-up from the pages: enrolment with consent, a device and its pairing
token, thresholds, management time, billing, and follow-up from an alert. Each form calls the
API's service functions: refused input is told beside the form and writes nothing."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from telehealth.clock import FrozenClock
from tests.monitoring.helpers import add_device, bp, enroll, post, reading
from tests.support import World
from tests.support import post_form as form

pytestmark = pytest.mark.db


def _get(client: TestClient, world: World, key: str, path: str) -> tuple[int, str]:
    response = client.get(path, headers=world[key].headers, follow_redirects=False)
    return response.status_code, response.text


def _api(client: TestClient, world: World, path: str) -> object:
    response = client.get(path, headers=world["clinician_a"].headers)
    assert response.status_code == 200, response.text
    return response.json()


def _enrol_form(world: World, **changes: str) -> dict[str, str]:
    values = {
        "patient_id": str(world["patient_a"].patient_id),
        "program": "heart_failure",
        "payer": "medicare",
        "episode_start": "2026-11-01",
        "consent_given_by": "patient",
        "consent_method": "verbal",
        "consent_at": "2026-11-01T09:30",
        "time_zone": "America/Chicago",
        "consent_confirmed": "on",
    }
    values.update(changes)
    return values


def _enrollments(client: TestClient, world: World) -> list[dict[str, object]]:
    found = _api(
        client, world, f"/v1/monitoring/patients/{world['patient_a'].patient_id}/enrollments"
    )
    assert isinstance(found, list)
    return found


def test_enrol_page_lists_the_clinicians_patients_and_records_consent(
    client: TestClient, world: World
) -> None:
    status, html = _get(client, world, "clinician_a", "/monitoring/enrol")
    assert status == 200
    assert "SecretA, CanaryA" in html
    assert "SecretB" not in html  # not in this clinician's care
    status, _ = form(client, world, "clinician_a", "/monitoring/enrol", _enrol_form(world))
    assert status == 303
    [made] = _enrollments(client, world)
    assert made["program"] == "heart_failure"
    assert made["consent_given_by"] == "patient"
    assert made["consent_method"] == "verbal"
    # Typed on the clinician's clock (Chicago, UTC-6 in November).
    assert made["consent_at"].startswith("2026-11-01T15:30:00")  # type: ignore[union-attr]
    again, html = form(client, world, "clinician_a", "/monitoring/enrol", _enrol_form(world))
    assert again == 409
    assert "already enrolled" in html


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"consent_confirmed": ""}, "Consent: confirm"),
        ({"consent_given_by": ""}, "Consent given by"),
        ({"program": "astrology"}, "Program"),
        ({"episode_start": ""}, "Episode start"),
        ({"patient_id": ""}, "Patient: choose a patient"),
        ({"episode_end": "2026-10-01"}, "the episode ends before it starts"),
        ({"consent_at": "2099-01-01T00:00"}, "consent cannot be recorded in the future"),
    ],
)
def test_enrol_form_refuses_bad_input_in_words_and_writes_nothing(
    client: TestClient, world: World, changes: dict[str, str], words: str
) -> None:
    status, html = form(
        client, world, "clinician_a", "/monitoring/enrol", _enrol_form(world, **changes)
    )
    assert status == 422
    assert 'role="alert"' in html
    assert words in html
    assert _enrollments(client, world) == []


def test_enrol_is_for_the_patients_own_clinician(client: TestClient, world: World) -> None:
    body = _enrol_form(world)
    assert form(client, world, "clinician_x", "/monitoring/enrol", body)[0] == 404
    assert form(client, world, "other_admin", "/monitoring/enrol", body)[0] == 404
    assert form(client, world, "coordinator", "/monitoring/enrol", body)[0] == 403
    assert _get(client, world, "patient_a", "/monitoring/enrol")[0] == 403
    assert _enrollments(client, world) == []


def test_device_form_shows_the_token_once_with_a_qr_code(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    enrollment = enroll(client, world)["id"]
    path = f"/monitoring/enrollments/{enrollment}/devices"
    body = {
        "device_type": "weight_scale",
        "manufacturer": "Acme",
        "model_name": "W-1",
        "serial": "SN-W1",
        "meets_fda_definition": "on",
    }
    status, html = form(client, world, "clinician_a", path, body)
    assert status == 201
    token = re.search(r'value="(thd_[A-Za-z0-9_-]+)"', html)
    assert token is not None
    assert "Shown only once" in html
    assert '<svg role="img" aria-label="QR code of the pairing token"' in html
    weight = reading("29463-7", 80.5, "kg", clock.now() - timedelta(hours=1))
    sent = post(client, {"Authorization": f"Bearer {token[1]}"}, [weight])
    assert sent.status_code == 200, sent.text
    _, page = _get(client, world, "clinician_a", f"{path}?fragment=1")
    assert "Weight scale · Acme W-1 · serial SN-W1" in page
    assert token[1] not in page  # never shown again
    status, html = form(client, world, "clinician_a", path, {**body, "manufacturer": " "})
    assert status == 422
    assert "Manufacturer" in html
    assert len(_api(client, world, f"/v1/monitoring/enrollments/{enrollment}")["devices"]) == 1  # type: ignore[index]
    assert form(client, world, "clinician_x", path, body)[0] == 404
    assert form(client, world, "other_admin", path, body)[0] == 404


def test_thresholds_editor_keeps_only_what_differs_from_the_program(
    client: TestClient, world: World
) -> None:
    enrollment = enroll(client, world)["id"]
    path = f"/monitoring/enrollments/{enrollment}/thresholds"
    limits = {"systolic_above": "170", "diastolic_above": "110", "heart_rate_above": "120"}
    limits |= {"heart_rate_below": "40", "no_data_days": "3"}  # the rest empty: off
    assert form(client, world, "clinician_a", path, limits)[0] == 303
    found = _api(client, world, f"/v1/monitoring/enrollments/{enrollment}")["thresholds"]  # type: ignore[index]
    assert found["systolic_above"] == 170
    assert found["diastolic_above"] == 110
    status, html = form(client, world, "clinician_a", path, {**limits, "systolic_above": "900"})
    assert status == 422
    assert "Systolic above" in html
    status, html = form(client, world, "clinician_a", path, {**limits, "systolic_above": "high"})
    assert status == 422
    found = _api(client, world, f"/v1/monitoring/enrollments/{enrollment}")["thresholds"]  # type: ignore[index]
    assert found["systolic_above"] == 170
    assert form(client, world, "clinician_x", path, limits)[0] == 404
    assert form(client, world, "patient_b", path, limits)[0] == 404
    assert form(client, world, "coordinator", path, limits)[0] == 403


def test_timer_and_manual_time_add_up_in_the_months_billing(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    enrollment = enroll(client, world)["id"]
    page_path = f"/monitoring/enrollments/{enrollment}"
    timer = f"{page_path}/timer"
    assert (
        form(client, world, "clinician_a", timer, {"do": "start", "activity": "patient_call"})[0]
        == 303
    )
    _, html = _get(client, world, "clinician_a", f"{page_path}/time?fragment=1")
    assert 'id="timer-elapsed"' in html  # still running after a reload: the start is the server's
    assert form(client, world, "clinician_a", timer, {"do": "start"})[0] == 409
    clock.advance(timedelta(minutes=12, seconds=40))
    assert form(client, world, "clinician_a", timer, {"do": "stop", "interactive": "on"})[0] == 303
    manual = {"minutes": "9", "performed_on": clock.now().date().isoformat(), "interactive": ""}
    assert form(client, world, "clinician_a", f"{page_path}/time", manual)[0] == 303
    status, html = form(
        client, world, "clinician_a", f"{page_path}/time", {**manual, "minutes": "0"}
    )
    assert status == 422
    assert "Minutes" in html
    # The page leaves the care-time and billing panels to its script, which fetches each.
    _, html = _get(client, world, "clinician_a", page_path)
    assert f'data-panel="{page_path}/time?fragment=1"' in html
    assert "Call with the patient" not in html
    _, html = _get(client, world, "clinician_a", f"{page_path}/time?fragment=1")
    assert "Call with the patient" in html
    assert "<html" not in html  # the panel alone
    _, html = _get(client, world, "clinician_a", f"{page_path}/billing?fragment=1")
    assert "21 min this month with interactive communication: 99457" in html
    assert "Billing this month" in html
    assert form(client, world, "clinician_x", f"{page_path}/time", manual)[0] == 404
    assert form(client, world, "other_admin", timer, {"do": "start"})[0] == 404


def test_alert_shows_its_value_stays_until_resolved_and_leads_to_follow_up(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    enrollment = enroll(client, world)["id"]
    _, device = add_device(client, world, enrollment)
    assert (
        len(post(client, device, bp(192, 95, clock.now() - timedelta(hours=1))).json()["alerts"])
        == 1
    )
    _, html = _get(client, world, "clinician_a", "/portal/alerts")
    assert "192 mmHg" in html
    alert = re.search(r'action="/portal/alerts/([0-9a-f-]+)"', html)
    assert alert is not None
    back = {"do": "acknowledge", "back": "enrollment"}
    status, _ = form(client, world, "clinician_a", f"/portal/alerts/{alert[1]}", back)
    assert status == 303
    _, html = _get(client, world, "clinician_a", "/portal/alerts")
    assert "acknowledged" in html  # still listed until resolved
    page_path = f"/monitoring/enrollments/{enrollment}"
    message = {"body": "Please sit for five minutes and measure again.", "alert_id": alert[1]}
    assert form(client, world, "clinician_a", f"{page_path}/messages", message)[0] == 303
    status, html = form(client, world, "clinician_a", f"{page_path}/messages", {"body": " "})
    assert status == 422
    visit = f"/monitoring/alerts/{alert[1]}/visit-request"
    assert form(client, world, "clinician_x", visit, {"modality": "in_person"})[0] == 404
    assert form(client, world, "clinician_a", visit, {"modality": "astral"})[0] == 422
    assert form(client, world, "clinician_a", visit, {"modality": "in_person"})[0] == 303
    status, html = form(client, world, "clinician_a", visit, {"modality": "in_person"})
    assert status == 409
    assert "already requested" in html
    _, html = _get(client, world, "clinician_a", f"{page_path}/messages?fragment=1")
    assert "Please sit for five minutes" in html
    _, html = _get(client, world, "clinician_a", page_path)
    assert "visit requested" in html
    assert "192 mmHg" in html
    notes = client.get("/v1/notifications", headers=world["patient_a"].headers).json()
    assert {n["title"] for n in notes} >= {
        "New message from your care team",
        "Your care team would like a visit with you",
    }
    resolve = {"do": "resolve", "back": "enrollment"}
    assert form(client, world, "coordinator", f"/portal/alerts/{alert[1]}", resolve)[0] == 303
    _, html = _get(client, world, "clinician_a", "/portal/alerts")
    assert "192 mmHg" not in html
    assert form(client, world, "other_admin", f"/portal/alerts/{alert[1]}", back)[0] == 404


def test_patient_reads_the_enrollment_page_without_staff_forms(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    enrollment = enroll(client, world)["id"]
    status, html = _get(client, world, "patient_a", f"/monitoring/enrollments/{enrollment}")
    assert status == 200
    assert '<form method="post" action="/monitoring' not in html
    assert "Billing" not in html


def _read_audit(client: TestClient, world: World, key: str) -> list[str]:
    """The object types of the reads recorded for ``key``, one per event."""
    rows = client.get(
        "/v1/audit",
        params={"action": "read", "actor_id": str(world[key].user_id)},
        headers=world["admin"].headers,
    ).json()
    return [row["object_type"] for row in rows]


@pytest.mark.parametrize(
    ("panel", "heading", "audited"),
    [
        ("billing", "Billing this month", "monitoring_billing"),
        ("time", "Care-management time", "monitoring_time_entry"),
        ("devices", "Devices", "monitoring_enrollment"),
        ("messages", "Messages", "monitoring_message"),
    ],
)
def test_enrollment_panels_come_from_their_own_routes_audited_and_hidden_as_the_page(
    client: TestClient, world: World, panel: str, heading: str, audited: str
) -> None:
    enrollment = enroll(client, world)["id"]
    page_path = f"/monitoring/enrollments/{enrollment}"
    status, html = _get(client, world, "clinician_a", page_path)
    assert status == 200
    # The page holds a placeholder under the panel's anchor (a form's redirect lands on it),
    # with a link to the panel's own page for browsers without scripts.
    assert f'id="{panel}"' in html
    assert f'data-panel="{page_path}/{panel}?fragment=1"' in html
    assert f'<a href="{page_path}/{panel}">' in html
    before = _read_audit(client, world, "clinician_a").count(audited)

    status, html = _get(client, world, "clinician_a", f"{page_path}/{panel}?fragment=1")
    assert status == 200
    assert html.lstrip().startswith("<section")
    assert "<html" not in html
    assert f'id="{panel}"' in html
    assert heading in html
    assert _read_audit(client, world, "clinician_a").count(audited) == before + 1

    # Without scripts: the panel as a page of its own, who the patient is first.
    status, html = _get(client, world, "clinician_a", f"{page_path}/{panel}")
    assert status == 200
    assert "<html" in html
    assert f'href="{page_path}"' in html
    assert 'data-testid="patient-banner"' in html

    # Another clinician's or patient's enrollment answers as a missing one.
    for outsider in ("clinician_x", "patient_b", "other_admin"):
        hidden, _ = _get(client, world, outsider, f"{page_path}/{panel}?fragment=1")
        missing, _ = _get(
            client, world, outsider, f"/monitoring/enrollments/{uuid.uuid4()}/{panel}?fragment=1"
        )
        assert hidden == missing == 404, outsider
    # The patient reads their messages; billing and the care team's time are the team's own.
    status, _ = _get(client, world, "patient_a", f"{page_path}/{panel}?fragment=1")
    assert status == (200 if panel == "messages" else 403)
