"""Monitoring pages: an accessible server-side chart with a table fallback, and the panel."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from telehealth.clock import FrozenClock
from telehealth.monitoring import pages as monitoring_pages
from tests.monitoring.helpers import add_device, bp, enroll, post
from tests.support import World

pytestmark = pytest.mark.db


def test_enrollment_page_draws_readings_limits_and_alerts(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    enrollment = enroll(client, world)
    _, device = add_device(client, world, enrollment["id"])
    post(
        client,
        device,
        [
            *bp(130, 85, clock.now() - timedelta(days=2)),
            *bp(190, 100, clock.now() - timedelta(days=1)),
        ],
    )
    page = client.get(
        f"/monitoring/enrollments/{enrollment['id']}", headers=world["clinician_a"].headers
    )
    assert page.status_code == 200
    html = page.text
    assert 'role="img"' in html
    assert "<desc" in html
    assert 'class="mon-limit"' in html
    assert "systolic limit 180" in html
    assert "mon-alert mon-alert-open" in html
    assert "<table>" in html
    assert "Readings as a table (4)" in html
    # Each time is a <time> element the browser shows in the viewer's zone (UTC without scripts).
    assert _table_rows(html) == [
        [
            '<time datetime="{}" data-show="datetime">{} UTC</time>'.format(
                (clock.now() - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:00Z"),
                (clock.now() - timedelta(days=days)).strftime("%Y-%m-%d %H:%M"),
            ),
            metric,
            value,
            "mm[Hg]",
            "",
        ]
        for days, metric, value in [
            (2, "diastolic", "85"),
            (2, "systolic", "130"),
            (1, "diastolic", "100"),
            (1, "systolic", "190"),
        ]
    ]
    # Drawn on the server: the scripts only show times in the viewer's zone (the layout's), fetch
    # the panels that come after the page, tick a running timer and name the viewer's zone in
    # the consent form.
    assert re.findall(r"<script[^>]*>", html) == [
        '<script src="/static/localtime.js">',
        '<script src="/static/monitoring/panels.js">',
        '<script src="/static/monitoring/timer.js">',
        '<script src="/static/monitoring/zone.js">',
    ]
    assert "style=" not in html


def _table_rows(html: str) -> list[list[str]]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [cell.split("</td>", 1)[0] for cell in row.split("<td>")[1:]]
        for row in body.split("<tr>")[1:]
    ]


def test_patient_sees_own_readings_page(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    enrollment = enroll(client, world)
    _, device = add_device(client, world, enrollment["id"])
    post(client, device, bp(120, 80, clock.now() - timedelta(hours=3)))
    mine = client.get("/monitoring/me", headers=world["patient_a"].headers)
    assert mine.status_code == 200
    assert "Hypertension monitoring" in mine.text
    assert 'role="img"' in mine.text
    other = client.get("/monitoring/me", headers=world["patient_b"].headers)
    assert "not enrolled" in other.text
    hidden = client.get(
        f"/monitoring/enrollments/{enrollment['id']}", headers=world["patient_b"].headers
    )
    assert hidden.status_code == 404


def test_panel_page_lists_patients(client: TestClient, world: World) -> None:
    enroll(client, world)
    page = client.get("/monitoring", headers=world["coordinator"].headers)
    assert page.status_code == 200
    assert "SecretA, CanaryA" in page.text
    anonymous = client.get("/monitoring", follow_redirects=False)
    assert anonymous.status_code == 303


def test_readings_table_cells_are_escaped() -> None:
    html = str(monitoring_pages._table_rows([("2026-01-01 00:00", "<b>x", "1", "a&b", True)]))
    assert "<b>" not in html
    assert "<td>&lt;b&gt;x</td>" in html
    assert '<time datetime="2026-01-01T00:00:00Z" data-show="datetime">' in html
    assert "<td>a&amp;b</td>" in html
    assert "<td>device clock ahead</td>" in html
