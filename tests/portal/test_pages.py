"""Portal pages: role dashboards, the hybrid pre-visit intake, the visit side panel, decision
explanations, alert handling and the coordinator/administrator pages."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from telehealth.audit.tables import AuditRow
from telehealth.visits import availability
from telehealth.visits import model as visits_model
from tests.access.matrix import decision_for_patient_a
from tests.monitoring.helpers import add_device, bp, enroll, post
from tests.portal.support import INTAKE_FORM
from tests.review.support import build_case
from tests.support import World, scope_for
from tests.support import post_form as _form
from tests.visits.support import acting, book, services_of

pytestmark = pytest.mark.db


def _page(client: TestClient, world: World, key: str, path: str) -> tuple[int, str]:
    response = client.get(path, headers=world[key].headers, follow_redirects=False)
    return response.status_code, response.text


def _nav(html: str) -> list[str]:
    nav = html.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    return re.findall(r'<a href="[^"]+"[^>]*>([^<]+)</a>', nav)


def test_each_role_gets_its_dashboard_and_navigation(client: TestClient, world: World) -> None:
    status, html = _page(client, world, "patient_a", "/")
    assert status == 200
    assert "Your upcoming visits" in html
    assert _nav(html) == ["Home", "Visits", "My cases", "My readings"]
    status, html = _page(client, world, "clinician_a", "/")
    assert "s schedule and waiting room</h2>" in html
    assert _nav(html) == ["Home", "Visits", "Review queue", "Monitoring", "Alerts"]
    _, html = _page(client, world, "coordinator", "/")
    assert "Overdue store-and-forward cases" in html
    assert "Audit log" not in _nav(html)
    assert "FHIR clients" not in _nav(html)
    _, html = _page(client, world, "admin", "/")
    assert _nav(html)[-2:] == ["Audit log", "FHIR clients"]
    assert 'aria-current="page">Home' in html


def test_intake_links_questionnaire_to_the_visit_and_reaches_the_clinician(
    app: FastAPI, client: TestClient, world: World
) -> None:
    visit_id = book(services_of(app), world)
    path = f"/portal/visits/{visit_id}/intake"
    status, html = _page(client, world, "patient_a", path)
    assert status == 200
    assert 'name="q_body_site"' in html
    # The patient reads the decision in plain words; the clinician keeps the rules and sources.
    assert "About your visit" in html
    assert "Your visit will be a video call with your clinician." in html
    _assert_no_engine_words(html)
    _, staff = _page(client, world, "clinician_a", path)
    assert "Why this modality" in staff
    assert "Rule set" in staff
    assert "About your visit" not in staff

    assert _form(client, world, "patient_a", path, INTAKE_FORM)[0] == 303
    status, html = _page(client, world, "patient_a", path)
    assert 'id="upload-form"' in html
    assert "Itchy rash" in html
    again, html = _form(client, world, "patient_a", path, INTAKE_FORM)
    assert again == 409
    assert "already has an intake" in html

    _, board = _page(client, world, "clinician_a", "/")
    assert f'/portal/visits/{visit_id}/intake">Started' in board
    assert _form(client, world, "patient_a", f"{path}/complete")[0] == 303
    _, board = _page(client, world, "clinician_a", "/")
    assert f'/portal/visits/{visit_id}/intake">Ready' in board
    notes = client.get("/v1/notifications", headers=world["clinician_a"].headers).json()
    assert any(n["kind"] == "visit_intake" for n in notes)

    status, panel = _page(client, world, "clinician_a", f"/portal/visits/{visit_id}/context")
    assert status == 200
    assert "Itchy rash" in panel
    assert "Prior specialist reports" in panel
    _, fragment = _page(
        client, world, "clinician_a", f"/portal/visits/{visit_id}/context?fragment=1"
    )
    assert fragment.lstrip().startswith('<div class="context-panel"')
    # The intake case is not listed among the patient's specialist cases.
    _, board = _page(client, world, "patient_a", "/")
    assert "Read the report" not in board


def test_the_schedules_day_is_the_clinicians_own_not_utcs(
    app: FastAPI, client: TestClient, world: World
) -> None:
    # Friday 27 November, 04:00 in Los Angeles (12:00 UTC). A 17:00 visit there starts at
    # 01:00 UTC on Saturday: still today's schedule for the clinician and the coordinator.
    services = services_of(app)
    clinician = world["clinician_a"].user_id
    with acting(services, world["coordinator"].user_id) as scope:
        availability.add_window(
            scope,
            clinician,
            visits_model.WeeklyWindow("America/Los_Angeles", 4, time(15, 0), time(20, 0), 30),
        )
    evening = book(services, world, slot=datetime(2026, 11, 28, 1, 0, tzinfo=UTC))
    next_week = book(services, world, slot=datetime(2026, 12, 5, 1, 0, tzinfo=UTC))
    for key in ("clinician_a", "coordinator"):
        _, board = _page(client, world, key, "/")
        schedule = board.split('id="today-h"', 1)[1]
        today, _, coming_up = schedule.partition("<details>")
        assert f'href="/visits/{evening}"' in today
        assert f'href="/visits/{next_week}"' not in today
        if key == "clinician_a":
            assert f'href="/visits/{next_week}"' in coming_up
        # Shown on the clinician's clock, named.
        assert ">Fri 27 Nov, 17:00 PST</time>" in today
    # The visit record is the reader's: its instant, shown in the browser's zone by the page.
    _, page = _page(client, world, "patient_a", f"/visits/{evening}")
    assert '<time datetime="2026-11-28T01:00:00+00:00" data-show="datetime">' in page


def test_intake_is_hidden_from_outsiders_like_a_missing_visit(
    app: FastAPI, client: TestClient, world: World
) -> None:
    visit_id = book(services_of(app), world)
    path = f"/portal/visits/{visit_id}/intake"
    assert _form(client, world, "patient_a", path, INTAKE_FORM)[0] == 303
    missing = f"/portal/visits/{uuid.uuid4()}/intake"
    for key in ("patient_b", "clinician_x", "other_admin"):
        hidden, hidden_html = _page(client, world, key, path)
        absent, absent_html = _page(client, world, key, missing)
        assert (hidden, absent) == (404, 404)
        assert "Itchy rash" not in hidden_html
        assert hidden_html.split("<main", 1)[1] == absent_html.split("<main", 1)[1]
    # Only the patient fills it in, even for staff who may read it.
    status, _ = _form(client, world, "clinician_a", f"{path}/complete")
    assert status == 403
    with scope_for(world.settings, world.clock) as scope:
        denied = scope.session.query(AuditRow).filter(AuditRow.action == "access_denied").count()
    assert denied >= 6


def _assert_no_engine_words(html: str) -> None:
    main = html.split("<main", 1)[1].split("</main>", 1)[0]
    text = re.sub(r"<[^>]+>", " ", main)
    assert "Rule set" not in text
    assert "§" not in text
    assert "<cite" not in main
    assert "Recommended:" not in text
    assert "store-and-forward" not in text
    assert not re.search(r"\b[a-z]+_[a-z_]+\b|[0-9a-f]{8}-[0-9a-f]{4}-", text)


def test_decision_page_explains_each_modality_with_citations(
    client: TestClient, world: World
) -> None:
    decision_id = decision_for_patient_a(world)
    status, html = _page(client, world, "clinician_a", f"/portal/decisions/{decision_id}")
    assert status == 200
    assert "Asynchronous (store-and-forward) review" in html
    assert "Decision boundaries" in html  # a citation is shown with its reason
    assert "Discouraged" in html
    status, html = _page(client, world, "patient_a", f"/portal/decisions/{decision_id}")
    assert status == 200
    assert "About your visit" in html
    _assert_no_engine_words(html)
    assert _page(client, world, "patient_b", f"/portal/decisions/{decision_id}")[0] == 404


def test_alert_over_threshold_is_listed_and_acknowledged(client: TestClient, world: World) -> None:
    enrollment = enroll(client, world)
    _, device = add_device(client, world, enrollment["id"])
    at = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    assert len(post(client, device, bp(190, 95, at)).json()["alerts"]) == 1
    status, html = _page(client, world, "clinician_a", "/portal/alerts")
    assert status == 200
    assert "Systolic above its limit" in html
    alert_id = re.search(r'action="/portal/alerts/([0-9a-f-]+)"', html)
    assert alert_id is not None
    assert (
        _form(client, world, "clinician_a", f"/portal/alerts/{alert_id[1]}", {"do": "acknowledge"})[
            0
        ]
        == 303
    )
    alert = client.get(
        f"/v1/monitoring/alerts/{alert_id[1]}", headers=world["clinician_a"].headers
    ).json()
    assert alert["status"] == "acknowledged"
    again, html = _form(
        client, world, "clinician_a", f"/portal/alerts/{alert_id[1]}", {"do": "acknowledge"}
    )
    assert again == 409
    assert 'role="alert"' in html
    assert (
        _form(client, world, "patient_a", f"/portal/alerts/{alert_id[1]}", {"do": "resolve"})[0]
        == 403
    )
    _, board = _page(client, world, "clinician_a", "/")
    assert "Systolic above" not in board  # handled alerts leave the dashboard


def test_users_page_invites_staff_and_patients(client: TestClient, world: World) -> None:
    assert _page(client, world, "patient_a", "/admin/users")[0] == 403
    status, html = _page(client, world, "coordinator", "/admin/users")
    assert status == 200
    assert "clinician_a@example.test" in html
    assert "other_admin@example.test" not in html
    status, html = _form(
        client,
        world,
        "coordinator",
        "/admin/users",
        {"email": "new.doc@example.test", "display_name": "New Doc", "role": "clinician"},
    )
    assert status == 201
    assert "/invite#token=thi" in html
    status, html = _form(
        client,
        world,
        "coordinator",
        "/admin/users",
        {"email": "boss@example.test", "display_name": "Boss", "role": "admin"},
    )
    assert status == 403
    assert "only administrators" in html
    status, html = _form(
        client,
        world,
        "coordinator",
        "/admin/patients",
        {
            "given_name": "Pat",
            "family_name": "Newcomer",
            "birth_date": "1980-02-03",
            "home_state": "NY",
            "email": "pat@example.test",
        },
    )
    assert status == 201
    assert "Invitation created for Pat Newcomer" in html
    duplicate, html = _form(
        client,
        world,
        "coordinator",
        "/admin/users",
        {"email": "new.doc@example.test", "display_name": "Again", "role": "clinician"},
    )
    assert duplicate == 409


def test_licenses_and_dea_registrations_are_viewed_and_added(
    client: TestClient, world: World
) -> None:
    clinician = world["clinician_a"].user_id
    path = f"/admin/clinicians/{clinician}"
    status, html = _page(client, world, "coordinator", path)
    assert status == 200
    assert "TX-1" in html
    added = _form(
        client,
        world,
        "coordinator",
        f"{path}/licenses",
        {"state": "NY", "kind": "full", "number": "NY-77", "expires_on": "2028-01-31"},
    )
    assert added[0] == 303
    dea = client.post(
        f"{path}/dea",
        data={"state": "TX", "number": "FA1234563", "schedules": ["II", "IV"]},
        headers=world["coordinator"].headers,
        follow_redirects=False,
    )
    assert dea.status_code == 303
    _, html = _page(client, world, "coordinator", path)
    assert "NY-77" in html
    assert "II, IV" in html
    bad, html = _form(
        client,
        world,
        "coordinator",
        f"{path}/licenses",
        {"state": "NY", "kind": "full", "number": "X"},
    )
    assert bad == 409
    assert _page(client, world, "other_admin", path)[0] == 404
    assert _page(client, world, "clinician_a", path)[0] == 403


def test_schedules_and_queues_for_coordinators(
    app: FastAPI, client: TestClient, world: World
) -> None:
    clinician = world["clinician_x"].user_id
    added = _form(
        client,
        world,
        "coordinator",
        f"/admin/schedules/{clinician}/windows",
        {"time_zone": "America/Chicago", "weekday": "2", "start": "09:00", "end": "12:00"},
    )
    assert added[0] == 303
    book(services_of(app), world)
    status, html = _page(client, world, "coordinator", "/admin/schedules")
    assert status == 200
    assert "In the clinician's time zone, America/Chicago." in html
    assert "Wednesday 09:00\u201312:00, 30-minute slots" in html
    assert "booked" in html
    bad, html = _form(
        client,
        world,
        "coordinator",
        f"/admin/schedules/{clinician}/windows",
        {"time_zone": "Mars/Olympus", "weekday": "2", "start": "13:00", "end": "14:00"},
    )
    assert bad in (409, 422)
    assert _page(client, world, "coordinator", "/admin/queues")[0] == 200
    assert _page(client, world, "clinician_a", "/admin/queues")[0] == 403
    assert _page(client, world, "patient_a", "/admin/schedules")[0] == 403


def test_audit_search_is_for_administrators_and_is_audited(
    client: TestClient, world: World
) -> None:
    assert _page(client, world, "coordinator", "/admin/audit")[0] == 403
    status, html = _page(client, world, "admin", "/admin/audit")
    assert status == 200
    patient = str(world["patient_a"].patient_id)
    read = client.get(f"/v1/patients/{patient}", headers=world["clinician_a"].headers)
    assert read.status_code == 200
    status, html = _form(
        client, world, "admin", "/admin/audit", {"patient_id": patient, "action": "read"}
    )
    assert status == 200
    assert "1 matching events" in html
    clinician = world["clinician_a"].user_id.hex[:8]
    assert (
        f"<td>read</td><td>success</td><td>patient <code>{patient[:8]}</code></td>"
        f"<td><code>{clinician}</code> clinician</td><td><code>{patient[:8]}</code></td>"
    ) in html
    bad, html = _form(client, world, "admin", "/admin/audit", {"patient_id": "not-an-id"})
    assert bad == 422
    assert "not a valid identifier" in html
    _, other = _form(client, world, "other_admin", "/admin/audit", {"patient_id": patient})
    assert "0 matching events" in other
    assert "No events match." in other
    with scope_for(world.settings, world.clock) as scope:
        exports = (
            scope.session.query(AuditRow)
            .filter(AuditRow.action == "export", AuditRow.object_type == "audit_log")
            .count()
        )
    assert exports == 4  # the refused search still showed the latest events


def test_invite_page_is_public_and_keeps_the_token_out_of_the_request(
    client: TestClient,
) -> None:
    response = client.get("/invite")
    assert response.status_code == 200
    assert '<script src="/static/portal/invite.js"' in response.text
    assert response.headers["cache-control"] == "no-store"


def test_side_panel_lists_signed_reports_and_audits_each_read(
    app: FastAPI, client: TestClient, world: World
) -> None:
    signed = build_case(world, "signed")
    queued = build_case(world, "queued")
    visit_id = book(services_of(app), world)
    status, panel = _page(client, world, "clinician_a", f"/portal/visits/{visit_id}/context")
    assert status == 200
    assert f'/review/cases/{signed}">' in panel
    assert "Benign naevus" in panel
    assert f'/review/cases/{queued}">' not in panel
    with scope_for(world.settings, world.clock) as scope:
        reads = {
            row.object_id
            for row in scope.session.query(AuditRow).filter(
                AuditRow.action == "read", AuditRow.object_type == "review_case"
            )
            if row.detail.get("via") == "portal"
        }
    assert reads == {str(signed)}
    # An amendment is the report the panel shows from then on.
    amendment = {
        "findings": "Regular pigmented macule",
        "assessment": "Benign naevus; recheck in 6 months",
        "diagnosis_codes": ["D22.5"],
        "recommendation": "self_care",
        "minutes": 5,
        "reason": "Follow-up interval added",
    }
    amended = client.post(
        f"/v1/cases/{signed}/amendments", json=amendment, headers=world["clinician_a"].headers
    )
    assert amended.status_code == 201, amended.text
    _, panel = _page(client, world, "clinician_a", f"/portal/visits/{visit_id}/context")
    assert "Benign naevus; recheck in 6 months" in panel
    assert panel.count(f'/review/cases/{signed}">') == 1
