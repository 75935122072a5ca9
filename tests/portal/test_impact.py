"""The cliff report: the service on SQLite and PostgreSQL, and its page and CSV download."""

from __future__ import annotations

import csv
import io
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
