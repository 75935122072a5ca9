"""Booking, cancelling and rescheduling from the pages, the hours editor and clinicians'
languages (SQLite and PostgreSQL). Each form calls the same services as the API: a refusal is
told beside the form in plain words, with the choices kept, and writes nothing."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from telehealth.identity import queries as identity_queries
from telehealth.visits import repository
from tests.support import World
from tests.support import post_form as form
from tests.visits.support import (
    acting,
    book,
    ensure_availability,
    next_free_slot,
    services_of,
)

pytestmark = pytest.mark.db

SLOT = re.compile(r'name="slot_start" value="([^"]+)"')
VISIT = re.compile(r"/visits/([0-9a-f-]{36})\?done=booked")


def _get(client: TestClient, world: World, key: str, path: str) -> tuple[int, str]:
    response = client.get(path, headers=world[key].headers, follow_redirects=False)
    return response.status_code, response.text


def _choices(world: World, **changes: str) -> dict[str, str]:
    values = {
        "located_state": "TX",
        "purpose": "follow_up",
        "specialty": "dermatology",
        "language": "",
        "video_capable": "yes",
        "consents_to_video": "yes",
        "clinician_id": str(world["clinician_a"].user_id),
    }
    values.update(changes)
    return values


def _posted(client: TestClient, world: World, key: str, **values: str) -> Any:
    return client.post(
        "/visits/book", data=values, headers=world[key].headers, follow_redirects=False
    )


@pytest.fixture
def hours(app: FastAPI, world: World) -> None:
    ensure_availability(services_of(app), world)


def _visits_of(app: FastAPI, world: World, patient: str) -> list[Any]:
    with acting(services_of(app), world["coordinator"].user_id) as scope:
        patient_id = world[patient].patient_id
        assert patient_id is not None
        return list(repository.visits_of_patient(scope.session, patient_id, None, 50, 0))


def test_a_patient_books_step_by_step_and_lands_on_the_visit(
    client: TestClient, world: World, app: FastAPI, hours: None
) -> None:
    status, html = _get(client, world, "patient_a", "/visits/book")
    assert status == 200
    assert '<option value="TX" selected>' in html  # the home state, by default
    assert "Which state will you be in" in html
    assert ">Dermatology</option>" in html  # read as plain words

    found = _posted(client, world, "patient_a", step="clinicians", **_choices(world))
    assert found.status_code == 200
    assert "clinician_a" in found.text
    assert "clinician_x" not in found.text  # not of the specialty, nor licensed in Texas
    assert "English" in found.text  # languages by name

    slots = _posted(client, world, "patient_a", step="slots", **_choices(world))
    offered = SLOT.findall(slots.text)
    assert len(offered) > 10
    assert "Monday 30 November" in slots.text
    chosen = offered[0]

    confirm = _posted(
        client, world, "patient_a", step="confirm", slot_start=chosen, **_choices(world)
    )
    assert "Check and book" in confirm.text
    assert "checked> <span><strong>clinician_a" in confirm.text  # the choices are kept

    done = _posted(client, world, "patient_a", step="book", slot_start=chosen, **_choices(world))
    assert done.status_code == 303
    match = VISIT.search(done.headers["location"])
    assert match
    status, page = _get(client, world, "patient_a", done.headers["location"])
    assert status == 200
    assert "The visit is booked" in page
    assert "Cancel the visit" in page
    assert "Choose another time" in page
    [visit] = _visits_of(app, world, "patient_a")
    assert str(visit.id) == match.group(1)
    assert visit.slot_start.isoformat() == chosen
    assert visit.intake["purpose"] == "follow_up"


def test_free_times_come_a_week_to_a_page_and_a_later_week_books(
    client: TestClient, world: World, app: FastAPI, hours: None
) -> None:
    this_week = _posted(client, world, "patient_a", step="slots", **_choices(world))
    assert 'name="week" value="1"' in this_week.text  # "Later times"
    assert 'name="week" value="0"' not in this_week.text  # nothing earlier than now
    first = SLOT.findall(this_week.text)
    later = _posted(client, world, "patient_a", week="1", **_choices(world))
    assert later.status_code == 200
    assert "Earlier times" in later.text
    second = SLOT.findall(later.text)
    assert second
    assert not set(first) & set(second)
    assert min(second) > max(first)

    # A time from the later week is confirmed against that week and booked.
    confirm = _posted(
        client, world, "patient_a", step="confirm", slot_start=second[0], **_choices(world)
    )
    assert "Check and book" in confirm.text
    done = _posted(client, world, "patient_a", step="book", slot_start=second[0], **_choices(world))
    assert done.status_code == 303
    [visit] = _visits_of(app, world, "patient_a")
    assert visit.slot_start.isoformat() == second[0]

    last = _posted(client, world, "patient_a", week="3", **_choices(world))
    assert "Later times" not in last.text  # four weeks are offered
    beyond = _posted(client, world, "patient_a", week="9", **_choices(world))
    assert SLOT.findall(beyond.text) == first  # a week not offered: this week


def test_the_move_page_links_to_later_weeks(client: TestClient, world: World, app: FastAPI) -> None:
    visit_id = book(services_of(app), world)
    status, html = _get(client, world, "patient_a", f"/visits/{visit_id}/reschedule")
    assert status == 200
    assert 'href="?week=1"' in html
    assert re.search(r"<h2>\w+day \d\d \w+</h2>", html)  # days under the page's h1
    status, later = _get(client, world, "patient_a", f"/visits/{visit_id}/reschedule?week=1")
    assert status == 200
    assert 'href="?week=0"' in later
    assert min(SLOT.findall(later)) > max(SLOT.findall(html))
    status, cancel = _get(client, world, "patient_a", f"/visits/{visit_id}/cancel")
    assert status == 200
    assert 'name="slot_start"' not in cancel  # confirming a cancellation offers no times


def test_only_clinicians_licensed_where_the_patient_will_be_are_offered(
    client: TestClient, world: World, hours: None
) -> None:
    away = _posted(
        client, world, "patient_a", step="clinicians", **_choices(world, located_state="CA")
    )
    assert away.status_code == 200
    assert "No clinician can see you" in away.text
    assert "clinician_a" not in away.text


def test_booking_refused_by_the_rules_keeps_the_choices_and_says_why(
    client: TestClient, world: World, app: FastAPI, hours: None
) -> None:
    slot = next_free_slot(services_of(app), world).isoformat()
    refused = _posted(
        client,
        world,
        "patient_a",
        step="book",
        slot_start=slot,
        **_choices(world, located_state="CA"),
    )
    assert refused.status_code == 409
    assert 'role="alert"' in refused.text
    assert "A live visit with this clinician is not possible while in CA" in refused.text
    assert '<option value="CA" selected>' in refused.text
    assert "sync_audio_video" not in refused.text
    assert _visits_of(app, world, "patient_a") == []


def test_a_slot_just_taken_is_a_conflict_with_the_times_free_now(
    client: TestClient, world: World, app: FastAPI, hours: None
) -> None:
    slot = next_free_slot(services_of(app), world)
    book(services_of(app), world, patient="patient_b", slot=slot)
    taken = _posted(
        client, world, "patient_a", step="book", slot_start=slot.isoformat(), **_choices(world)
    )
    assert taken.status_code == 409
    assert "That time was just taken" in taken.text
    assert slot.isoformat() not in SLOT.findall(taken.text)
    assert SLOT.findall(taken.text)  # the times still free, to choose again


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"purpose": "astrology"}, "Choose what the visit is for."),
        ({"located_state": "ZZ"}, "Choose the state you will be in"),
        ({"specialty": "cardiology"}, "Choose the kind of care."),
        ({"language": "xx"}, "Choose a language from the list."),
    ],
)
def test_bad_answers_are_told_in_words_and_keep_the_form(
    client: TestClient, world: World, hours: None, changes: dict[str, str], words: str
) -> None:
    response = _posted(client, world, "patient_a", step="clinicians", **_choices(world, **changes))
    assert response.status_code == 422
    assert 'role="alert"' in response.text
    assert words in response.text
    assert 'name="purpose"' in response.text  # the intake is still there to correct


def test_a_slot_not_offered_is_refused_in_words(
    client: TestClient, world: World, app: FastAPI, hours: None
) -> None:
    bad = _posted(
        client,
        world,
        "patient_a",
        step="confirm",
        slot_start="2026-12-01T03:07:00+00:00",
        **_choices(world),
    )
    assert bad.status_code == 422
    assert "Choose a time from the list." in bad.text
    garbage = _posted(
        client, world, "patient_a", step="book", slot_start="tomorrow", **_choices(world)
    )
    assert garbage.status_code == 422
    assert _visits_of(app, world, "patient_a") == []


def test_another_patients_booking_is_not_found(
    client: TestClient, world: World, app: FastAPI, hours: None
) -> None:
    slot = next_free_slot(services_of(app), world).isoformat()
    theirs = str(world["patient_a"].patient_id)
    for step in ("intake", "book"):
        response = _posted(
            client,
            world,
            "patient_b",
            step=step,
            slot_start=slot,
            patient_id=theirs,
            **_choices(world),
        )
        assert response.status_code == 404
    other_org = _posted(client, world, "other_coordinator", step="intake", patient_id=theirs)
    assert other_org.status_code == 404
    assert _visits_of(app, world, "patient_a") == []


def test_a_coordinator_picks_a_patient_of_the_organization_and_books(
    client: TestClient, world: World, app: FastAPI, hours: None
) -> None:
    status, html = _get(client, world, "coordinator", "/visits/book")
    assert status == 200
    assert "SecretA, CanaryA" in html
    assert "SecretB, CanaryB" in html
    status, html = _get(client, world, "other_coordinator", "/visits/book")
    assert "SecretA" not in html
    patient_b = str(world["patient_b"].patient_id)
    intake = _posted(client, world, "coordinator", step="intake", patient_id=patient_b)
    assert "Which state will the patient be in" in intake.text
    slots = _posted(
        client, world, "coordinator", step="slots", patient_id=patient_b, **_choices(world)
    )
    assert "We do not know the patient's time zone" in slots.text
    # Days and times read the clinician's clock then, each time saying which it is.
    zone = re.search(r'data-zone="([^"]+)"', slots.text)
    assert zone
    assert zone.group(1).split("/")[-1].replace("_", " ") + " time" in slots.text
    chosen = SLOT.findall(slots.text)[0]
    done = _posted(
        client,
        world,
        "coordinator",
        step="book",
        patient_id=patient_b,
        slot_start=chosen,
        **_choices(world),
    )
    assert done.status_code == 303, done.text
    [visit] = _visits_of(app, world, "patient_b")
    assert visit.booked_by == world["coordinator"].user_id


def test_an_administrator_is_told_that_coordinators_book(
    client: TestClient, world: World, hours: None
) -> None:
    status, html = _get(client, world, "admin", "/visits/book")
    assert status == 200
    assert "Administrators do not book visits" in html
    assert 'action="/visits/book"' not in html


def test_slots_show_in_the_patients_own_time_zone(
    client: TestClient, world: World, app: FastAPI, hours: None
) -> None:
    with acting(services_of(app), world["coordinator"].user_id) as scope:
        user = identity_queries.user_by_id(scope.session, world["patient_a"].user_id)
        assert user is not None
        user.time_zone = "America/New_York"
    patient_a = str(world["patient_a"].patient_id)
    slots = _posted(
        client, world, "coordinator", step="slots", patient_id=patient_a, **_choices(world)
    )
    assert "Times are shown in the patient&#39;s time zone" in slots.text
    # 09:00 in Chicago is 10:00 in New York, the fallback text before the page's script.
    assert 'data-zone="America/New_York">10:00 EST</time>' in slots.text


def test_cancel_asks_first_then_cancels(client: TestClient, world: World, app: FastAPI) -> None:
    visit_id = book(services_of(app), world)
    status, html = _get(client, world, "patient_a", f"/visits/{visit_id}/cancel")
    assert status == 200
    assert "Cancel this visit?" in html
    assert [v.status for v in _visits_of(app, world, "patient_a")] == ["booked"]
    status, _ = form(client, world, "patient_a", f"/visits/{visit_id}/cancel")
    assert status == 303
    assert [v.status for v in _visits_of(app, world, "patient_a")] == ["cancelled"]
    status, html = form(client, world, "patient_a", f"/visits/{visit_id}/cancel")
    assert status == 409  # already cancelled: told beside the form, not a 500
    assert 'role="alert"' in html
    _, page = _get(client, world, "patient_a", f"/visits/{visit_id}")
    assert "Cancel the visit" not in page


def test_cancel_and_reschedule_of_another_patients_visit_are_not_found(
    client: TestClient, world: World, app: FastAPI
) -> None:
    visit_id = book(services_of(app), world)
    for path in (f"/visits/{visit_id}/cancel", f"/visits/{visit_id}/reschedule"):
        assert _get(client, world, "patient_b", path)[0] == 404
        assert form(client, world, "patient_b", path, {"expected_version": "1"})[0] == 404
    assert _get(client, world, "patient_b", f"/visits/{uuid.uuid4()}/cancel")[0] == 404
    assert [v.status for v in _visits_of(app, world, "patient_a")] == ["booked"]


def test_reschedule_with_a_stale_page_is_a_conflict(
    client: TestClient, world: World, app: FastAPI
) -> None:
    visit_id = book(services_of(app), world)
    status, html = _get(client, world, "coordinator", f"/visits/{visit_id}/reschedule")
    assert status == 200
    assert 'name="expected_version" value="1"' in html
    first, second = SLOT.findall(html)[2:4]
    moved = form(
        client,
        world,
        "coordinator",
        f"/visits/{visit_id}/reschedule",
        {"slot_start": first, "expected_version": "1"},
    )
    assert moved[0] == 303
    stale, html = form(
        client,
        world,
        "patient_a",
        f"/visits/{visit_id}/reschedule",
        {"slot_start": second, "expected_version": "1"},
    )
    assert stale == 409
    assert "The visit changed, or that time was taken" in html
    assert 'name="expected_version" value="2"' in html  # the page as it is now
    [visit] = _visits_of(app, world, "patient_a")
    assert visit.slot_start.isoformat() == first
    bad, html = form(
        client,
        world,
        "patient_a",
        f"/visits/{visit_id}/reschedule",
        {"slot_start": "soon", "expected_version": "2"},
    )
    assert bad == 422
    assert "That time is no longer offered" in html


def _new_clinician(client: TestClient, world: World) -> str:
    created = client.post(
        "/v1/users",
        json={"email": "newdoc@example.test", "display_name": "Dr New", "role": "clinician"},
        headers=world["admin"].headers,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["user"]["id"])


def _add_hours(client: TestClient, world: World, clinician: str, **changes: Any) -> Any:
    """The coordinator's hours form for ``clinician``: 08:00-12:00 in 20-minute slots."""
    body = {"time_zone": "America/Chicago", "start": "08:00", "end": "12:00"}
    body = {**body, "weekday": ["0", "1"], "slot_minutes": "20", **changes}
    return client.post(
        f"/admin/schedules/{clinician}/windows",
        data=body,
        headers=world["coordinator"].headers,
        follow_redirects=False,
    )


def test_hours_for_several_weekdays_at_once_and_removed_one_by_one(
    client: TestClient, world: World, app: FastAPI
) -> None:
    clinician = _new_clinician(client, world)
    status, html = _get(client, world, "coordinator", "/admin/schedules")
    assert status == 200
    assert '<datalist id="time-zones"><option value="America/New_York">' in html
    response = _add_hours(
        client, world, clinician, time_zone="America/New_York", weekday=["0", "2", "4"]
    )
    assert response.status_code == 303
    with acting(services_of(app), world["coordinator"].user_id) as scope:
        rows = repository.windows_of(scope.session, uuid.UUID(clinician))
        assert sorted(r.weekday for r in rows) == [0, 2, 4]
        window_id = rows[0].id
    _, html = _get(client, world, "coordinator", "/admin/schedules")
    assert "In the clinician's time zone, America/New York" in html
    assert "Wednesday 08:00\N{EN DASH}12:00, 20-minute slots" in html
    path = f"/admin/schedules/windows/{window_id}/delete"
    assert form(client, world, "patient_a", path)[0] == 403
    assert form(client, world, "other_coordinator", path)[0] == 404
    assert form(client, world, "coordinator", path)[0] == 303
    with acting(services_of(app), world["coordinator"].user_id) as scope:
        assert len(repository.windows_of(scope.session, uuid.UUID(clinician))) == 2


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"weekday": []}, "tick one or more weekdays"),
        ({"time_zone": "Mars/Olympus"}, "IANA time zone"),
        ({"start": "nine"}, "HH:MM"),
        ({"end": "07:00"}, "end must be after start"),
        ({"slot_minutes": "ten"}, "whole number"),
    ],
)
def test_bad_hours_are_told_and_none_are_added(
    client: TestClient, world: World, app: FastAPI, changes: dict[str, Any], words: str
) -> None:
    clinician = _new_clinician(client, world)
    response = _add_hours(client, world, clinician, **changes)
    assert response.status_code == 422
    assert words in response.text
    with acting(services_of(app), world["coordinator"].user_id) as scope:
        assert list(repository.windows_of(scope.session, uuid.UUID(clinician))) == []


def test_languages_are_set_by_a_manager_and_filter_the_clinicians(
    client: TestClient, world: World, hours: None
) -> None:
    path = f"/admin/clinicians/{world['clinician_a'].user_id}/languages"
    status, html = form(client, world, "admin", path, {"languages": "xx"})
    assert status == 422
    assert "choose one or more languages" in html
    assert form(client, world, "patient_a", path, {"languages": "es"})[0] == 403
    assert form(client, world, "other_admin", path, {"languages": "es"})[0] == 404
    response = client.post(
        path,
        data={"languages": ["es", "en"]},
        headers=world["admin"].headers,
        follow_redirects=False,
    )
    assert response.status_code == 303
    _, html = _get(client, world, "admin", f"/admin/clinicians/{world['clinician_a'].user_id}")
    assert 'value="es" checked' in html
    found = _posted(client, world, "patient_a", step="clinicians", **_choices(world, language="es"))
    assert "English, Spanish" in found.text
    client.post(path, data={"languages": "es"}, headers=world["admin"].headers)
    none = _posted(client, world, "patient_a", step="clinicians", **_choices(world, language="en"))
    assert "clinician_a" not in none.text
    assert "No clinician can see you for this kind of care while in TX in English" in none.text
