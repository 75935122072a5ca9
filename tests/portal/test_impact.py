"""The cliff report: the service on SQLite and PostgreSQL, and its page and CSV download."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from telehealth.audit.tables import AuditRow
from telehealth.clock import FrozenClock
from telehealth.errors import DomainError
from telehealth.notifications.tables import Notification
from telehealth.policy.records import DecisionRecord
from telehealth.portal import impact
from telehealth.portal.pages import CLIFFS
from telehealth.visits import booking
from telehealth.visits.jobs import REVISION_NOTICE, tell_coordinators_of_rule_changes
from telehealth.visits.tables import Visit
from tests.monitoring.helpers import enroll
from tests.support import World
from tests.visits.support import acting, book, services_of

pytestmark = pytest.mark.db

# Medicare at home, a routine follow-up: covered by the waivers until 2027-12-31 only.
MEDICARE_HOME = booking.Intake(
    located_state="TX", acuity="routine", purpose="follow_up", payer="medicare"
)
AFTER_MEDICARE = date(2028, 1, 2)


def _report(app: FastAPI, world: World, first: date, later: date) -> impact.ImpactReport:
    with acting(services_of(app), world["coordinator"].user_id) as scope:
        return impact.impact(scope, first, later)


def test_medicare_visit_loses_coverage_after_the_waivers(app: FastAPI, world: World) -> None:
    visit_id = book(services_of(app), world, intake=MEDICARE_HOME)
    report = _report(app, world, date(2026, 12, 1), AFTER_MEDICARE)
    rows = [r for r in report.rows if r.object_id == visit_id]
    assert rows, "the Medicare home visit changes after the waivers end"
    lost = {(r.change.modality, r.change.after) for r in rows if r.change.kind == "coverage"}
    assert ("sync_audio_video", "not_covered") in lost
    for row in rows:
        assert row.change.citation
        assert row.change.rule
        assert row.change.on == AFTER_MEDICARE
        assert row.object_kind == "visit"
        assert row.record_number
    (group,) = [g for g in report.by_patient() if g.record_number == rows[0].record_number]
    assert group.clinicians[0].rows


def test_commercial_visit_unchanged_within_the_waivers(app: FastAPI, world: World) -> None:
    visit_id = book(services_of(app), world)
    report = _report(app, world, date(2026, 12, 1), date(2026, 12, 20))
    assert report.examined >= 1
    assert [r for r in report.rows if r.object_id == visit_id] == []


def test_report_is_for_managers_and_audited(app: FastAPI, world: World) -> None:
    visit_id = book(services_of(app), world, intake=MEDICARE_HOME)
    with (
        pytest.raises(DomainError),
        acting(services_of(app), world["clinician_a"].user_id) as scope,
    ):
        impact.impact(scope, date(2026, 12, 1), AFTER_MEDICARE)
    _report(app, world, date(2026, 12, 1), AFTER_MEDICARE)
    with acting(services_of(app), None) as scope:
        reads = scope.session.query(AuditRow).filter_by(object_id=str(visit_id)).all()
    assert any(r.action == "read" and r.detail.get("via") == "list" for r in reads)


def test_page_lists_changes_and_downloads_csv(
    app: FastAPI, client: TestClient, world: World
) -> None:
    book(services_of(app), world, intake=MEDICARE_HOME)
    headers = world["coordinator"].headers
    response = client.get("/admin/impact?from=2026-12-01&to=2028-01-02", headers=headers)
    assert response.status_code == 200
    assert "Policy impact" in response.text
    assert "not covered" in response.text
    assert "/admin/impact.csv?from=2026-12-01&amp;to=2028-01-02" in response.text
    download = client.get("/admin/impact.csv?from=2026-12-01&to=2028-01-02", headers=headers)
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert rows
    assert all(r["citation"] and r["date"] == "2028-01-02" for r in rows)
    assert {"patient", "clinician", "object_kind", "modality", "before", "after", "rule"} <= set(
        rows[0]
    )


def test_page_defaults_and_bad_dates(client: TestClient, world: World, clock: FrozenClock) -> None:
    headers = world["coordinator"].headers
    today = clock.now().date()
    cliff = next((c for c in CLIFFS if c > today), today + timedelta(days=365))
    response = client.get("/admin/impact", headers=headers)
    assert response.status_code == 200
    assert f'name="from" type="date" value="{today.isoformat()}"' in response.text
    assert f'name="to" type="date" value="{cliff.isoformat()}"' in response.text
    response = client.get("/admin/impact?from=2027-02-01&to=2027-01-01", headers=headers)
    assert response.status_code == 200
    assert "The later date must be after the first date." in response.text
    response = client.get("/admin/impact?from=nonsense", headers=headers)
    assert response.status_code == 200
    assert "YYYY-MM-DD" in response.text
    assert 'value="nonsense"' in response.text


def test_dashboard_links_the_report(client: TestClient, world: World) -> None:
    html = client.get("/", headers=world["coordinator"].headers).text
    assert 'href="/admin/impact"' in html


def _plan_under_older_rules(app: FastAPI, visit_id: object) -> None:
    """As if the visit had been decided under an earlier, more permissive revision."""
    with acting(services_of(app), None) as scope:
        visit = scope.session.get(Visit, visit_id)
        assert visit is not None
        record = scope.session.get(DecisionRecord, visit.current_decision_id)
        assert record is not None
        decision = dict(record.decision)
        decision["modalities"] = {
            m: {**a, "status": "allowed"} for m, a in decision["modalities"].items()
        }
        decision["coverage"] = dict.fromkeys(decision["coverage"], "covered")
        record.decision = decision
        record.ruleset_revision = "an-older-revision"


def test_rule_update_tells_coordinators_once_and_the_page_lists_it(
    app: FastAPI, client: TestClient, world: World
) -> None:
    visit_id = book(services_of(app), world, intake=MEDICARE_HOME)
    book(services_of(app), world)  # decided under the rules in force: not told of
    _plan_under_older_rules(app, visit_id)
    with acting(services_of(app), None) as scope:
        assert tell_coordinators_of_rule_changes(scope) == 1
    with acting(services_of(app), None) as scope:
        assert tell_coordinators_of_rule_changes(scope) == 0
        notes = (
            scope.session.query(Notification)
            .filter_by(user_id=world["coordinator"].user_id, kind=REVISION_NOTICE)
            .all()
        )
    (note,) = notes
    assert note.title == "A rule update changes 1 upcoming visit"
    assert note.link is not None
    html = client.get(note.link, headers=world["coordinator"].headers).text
    assert "Changed by the rule update" in html
    section = html.split("Changed by the rule update", 1)[1].split("</section>", 1)[0]
    assert "Rule " in section
    assert "→" in section
    with acting(services_of(app), world["coordinator"].user_id) as scope:
        rows = impact.revision_rows(scope)
    assert {r.object_id for r in rows} == {visit_id}
    assert all(r.change.citation for r in rows)


def _set_discipline(client: TestClient, world: World, discipline: str | None) -> None:
    response = client.patch(
        f"/v1/clinicians/{world['clinician_a'].user_id}",
        json={"discipline": discipline},
        headers=world["coordinator"].headers,
    )
    assert response.status_code == 200, response.text


def test_active_enrollments_are_decided_with_the_clinicians_discipline(
    app: FastAPI, client: TestClient, world: World
) -> None:
    enrollment = enroll(client, world, payer="medicare")
    enrollment_id = uuid.UUID(enrollment["id"])
    ended = enroll(client, world, program="heart_failure", payer="medicare")
    ending = client.post(
        f"/v1/monitoring/enrollments/{ended['id']}/end",
        json={"episode_end": "2026-11-20"},
        headers=world["clinician_a"].headers,
    )
    assert ending.status_code == 200, ending.text

    def enrollment_rows() -> list[impact.ImpactRow]:
        report = _report(app, world, date(2026, 12, 1), AFTER_MEDICARE)
        assert str(ended["id"]) not in {str(r.object_id) for r in report.rows}
        return [r for r in report.rows if r.object_id == enrollment_id]

    rows = enrollment_rows()
    assert rows, "Medicare telehealth coverage ends for the monitored patient too"
    assert {r.object_kind for r in rows} == {"enrollment"}
    assert all(r.change.citation and r.clinician == "clinician_a" for r in rows)
    lost = {(r.change.modality, r.change.after) for r in rows if r.change.kind == "coverage"}
    # A dermatologist's discipline is not known: store-and-forward stays covered.
    assert ("async_store_and_forward", "not_covered") not in lost
    # Recorded as a physical therapist, whom Medicare pays for telehealth only through 2027.
    _set_discipline(client, world, "pt")
    lost = {
        (r.change.modality, r.change.after)
        for r in enrollment_rows()
        if r.change.kind == "coverage"
    }
    assert ("async_store_and_forward", "not_covered") in lost
    with acting(services_of(app), None) as scope:
        reads = scope.session.query(AuditRow).filter_by(object_id=str(enrollment_id)).all()
    assert any(r.action == "read" and r.detail.get("via") == "list" for r in reads)
    headers = world["coordinator"].headers
    html = client.get("/admin/impact?from=2026-12-01&to=2028-01-02", headers=headers).text
    assert "<strong>Enrollment</strong>" in html
    download = client.get("/admin/impact.csv?from=2026-12-01&to=2028-01-02", headers=headers)
    csv_rows = list(csv.DictReader(io.StringIO(download.text)))
    assert {r["object_kind"] for r in csv_rows if r["object_id"] == str(enrollment_id)} == {
        "enrollment"
    }


def test_the_page_lists_patients_a_page_at_a_time(
    app: FastAPI, client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    book(services_of(app), world, intake=MEDICARE_HOME)
    book(services_of(app), world, patient="patient_b", intake=MEDICARE_HOME)
    monkeypatch.setattr(impact, "PATIENTS_PER_PAGE", 1)
    headers = world["coordinator"].headers
    dates = "from=2026-12-01&to=2028-01-02"
    first = client.get(f"/admin/impact?{dates}", headers=headers).text
    assert "Page 1 of 2 (2 patients)" in first
    assert f'href="/admin/impact?{dates.replace("&", "&amp;")}&amp;page=2" rel="next"' in first
    assert 'rel="prev"' not in first
    second = client.get(f"/admin/impact?{dates}&page=2", headers=headers).text
    assert "Page 2 of 2" in second
    assert f'href="/admin/impact?{dates.replace("&", "&amp;")}&amp;page=1" rel="prev"' in second
    assert 'rel="next"' not in second
    # Each page names one patient; together they name both.
    names = {"CanaryA SecretA", "CanaryB SecretB"}
    shown = [{n for n in names if n in html} for html in (first, second)]
    assert all(len(s) == 1 for s in shown)
    assert shown[0] | shown[1] == names
    # Past the end: the last page. The CSV keeps every patient's rows.
    assert "Page 2 of 2" in client.get(f"/admin/impact?{dates}&page=9", headers=headers).text
    download = client.get(f"/admin/impact.csv?{dates}", headers=headers).text
    assert {r["patient"] for r in csv.DictReader(io.StringIO(download))} == names
    assert client.get(f"/admin/impact?{dates}&page=0", headers=headers).status_code == 422
