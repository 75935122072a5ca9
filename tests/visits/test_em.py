"""Ending a visit honestly: no E/M line without a chosen level or without two-way media, and
the clinician's work after the call on the visit record page (E/M choice, note, signing,
amending) from their own signed-in session (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from telehealth.clock import FrozenClock
from tests.support import World
from tests.support import post_form as _form
from tests.visits.support import in_call, link_for, services_of

pytestmark = pytest.mark.db


def _end(client: TestClient, world: World, visit_id: uuid.UUID, body: dict[str, Any]) -> Any:
    path = f"/v1/visits/{visit_id}/end"
    ended = client.post(path, json=body, headers=world["clinician_a"].headers)
    assert ended.status_code == 200, ended.text
    detail = client.get(f"/v1/visits/{visit_id}", headers=world["clinician_a"].headers)
    return detail.json()["session"]


def _rules(session: dict[str, Any]) -> list[str]:
    return [f["rule"] for f in session["billing"]["findings"]]


def test_ending_without_a_level_is_a_finding_not_a_99213_line(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    session = _end(client, world, in_call(app, world, clock, media="video"), {})
    assert session["billing"]["lines"] == []
    [missing] = [f for f in session["billing"]["findings"] if f["severity"] == "error"]
    assert missing["rule"] == "encounter.em_level_missing"
    assert "No E/M level was chosen" in missing["message"]
    assert session["em_code"] is None


def test_the_chosen_level_and_basis_reach_the_billing_line(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    visit_id = in_call(app, world, clock, media="video")
    session = _end(client, world, visit_id, {"em_code": "99214", "em_basis": "time"})
    [line] = session["billing"]["lines"]
    assert line["code"] == "99214"
    assert "level chosen by total time: 25 min (30 min or more)" in line["rationale"]
    # 25 minutes of session is under 99214's 30: billed, with a warning to document the time.
    assert "encounter.em_time_short" in _rules(session)
    assert (session["em_code"], session["em_basis"]) == ("99214", "time")


def test_the_room_offers_the_levels_and_the_time_so_far_and_ends_with_the_chosen_one(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    visit_id = in_call(app, world, clock, media="video")
    services = services_of(app)
    host = {"X-Visit-Token": link_for(services, visit_id, world["clinician_a"].user_id)}
    patient = {"X-Visit-Token": link_for(services, visit_id, world["patient_a"].user_id)}
    offer = client.get("/v1/visit-session", headers=host).json()["em"]
    # The same levels and thresholds as the record page's form, from the code set.
    assert offer["minutes"] == 25
    assert offer["new_patient"] is False
    assert [(c["code"], c["minutes"]) for c in offer["choices"]] == [
        ("99212", 10),
        ("99213", 20),
        ("99214", 30),
        ("99215", 40),
    ]
    assert all(c["descriptor"] for c in offer["choices"])
    assert client.get("/v1/visit-session", headers=patient).json()["em"] is None
    # Only an offered level ends the visit: a new patient's level is refused, the call goes on.
    new_level = {"em_code": "99203", "em_basis": "mdm"}
    refused = client.post("/v1/visit-session/end", json=new_level, headers=host)
    assert refused.status_code == 422
    assert client.get("/v1/visit-session", headers=host).json()["status"] == "in_progress"
    ended = client.post(
        "/v1/visit-session/end", json={"em_code": "99215", "em_basis": "mdm"}, headers=host
    )
    assert ended.status_code == 200, ended.text
    session = client.get(f"/v1/visits/{visit_id}", headers=world["clinician_a"].headers).json()
    assert [line["code"] for line in session["session"]["billing"]["lines"]] == ["99215"]


@pytest.mark.parametrize(
    ("media", "two_way", "lines"),
    [("none", False, []), ("audio", True, [("99213", ["93"])])],
)
def test_a_session_is_billable_only_with_two_way_media(
    app: FastAPI,
    client: TestClient,
    world: World,
    clock: FrozenClock,
    media: str,
    two_way: bool,
    lines: list[tuple[str, list[str]]],
) -> None:
    """Nobody connected: a finding, no line. Both connected without video: audio-only."""
    visit_id = in_call(app, world, clock, media=media)
    session = _end(client, world, visit_id, {"em_code": "99213", "em_basis": "mdm"})
    assert session["two_way_media"] is two_way
    assert [(line["code"], line["modifiers"]) for line in session["billing"]["lines"]] == lines
    refused = [
        f for f in session["billing"]["findings"] if f["rule"] == "encounter.no_two_way_media"
    ]
    assert [f["message"].split(":")[0] for f in refused] == (
        [] if two_way else ["No two-way audio or video was recorded"]
    )


# --- the visit record page after the call -------------------------------------------------------


def _page(client: TestClient, world: World, key: str, visit_id: uuid.UUID) -> str:
    response = client.get(f"/visits/{visit_id}", headers=world[key].headers)
    assert response.status_code == 200
    return response.text


def test_the_clinician_chooses_the_level_on_the_record_after_the_call(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    visit_id = in_call(app, world, clock, media="video")
    _end(client, world, visit_id, {})
    html = _page(client, world, "clinician_a", visit_id)
    assert 'id="em-form"' in html
    assert "Measured session time: <strong>25 minutes</strong>" in html
    # Established patient: 99212-99215 with their total-time thresholds, no new-patient codes.
    levels = re.findall(r'name="em_code" value="(\d+)"', html)
    assert levels == ["99212", "99213", "99214", "99215"]
    assert "<td>40 min</td>" in html

    def choose(key: str, code: str, basis: str) -> tuple[int, str]:
        return _form(
            client, world, key, f"/visits/{visit_id}/em", {"em_code": code, "em_basis": basis}
        )

    wrong, html = choose("clinician_a", "99203", "mdm")  # a new patient's level
    assert wrong == 422
    assert "choose one of the levels offered" in html
    assert choose("patient_a", "99213", "mdm")[0] == 403
    assert choose("clinician_a", "99213", "mdm")[0] == 303
    html = _page(client, world, "clinician_a", visit_id)
    assert 'id="em-form"' not in html
    assert "<td>99213</td>" in html
    assert "No E/M level was chosen" not in html
    assert choose("clinician_a", "99214", "time")[0] == 409
    # The patient reads the visit in plain words: no codes, no billing, no forms.
    patient_view = _page(client, world, "patient_a", visit_id)
    assert "99213" not in patient_view
    assert "Live video visit" in patient_view
    assert 'id="billing"' not in patient_view
    assert "<form" not in patient_view.split('id="note"', 1)[1]


def test_the_clinician_writes_signs_and_amends_the_note_from_the_record_after_the_call(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    visit_id = in_call(app, world, clock, media="video")
    _end(client, world, visit_id, {"em_code": "99213", "em_basis": "mdm"})
    clock.advance(timedelta(hours=3))
    base = f"/visits/{visit_id}/note"
    assert _form(client, world, "clinician_a", base, {"body": "Rash, improving"})[0] == 303
    assert 'name="version" value="1"' in _page(client, world, "clinician_a", visit_id)
    stale, html = _form(client, world, "clinician_a", base, {"body": "Other", "version": "7"})
    assert stale == 409
    assert "the note changed since it was read" in html
    update = {"body": "Rash, improving. Emollients.", "version": "1"}
    assert _form(client, world, "clinician_a", base, update)[0] == 303
    assert _form(client, world, "patient_a", f"{base}/sign")[0] == 403
    assert _form(client, world, "clinician_a", f"{base}/sign")[0] == 303
    html = _page(client, world, "clinician_a", visit_id)
    assert "Rash, improving. Emollients." in html
    assert "Signed " in html
    assert 'id="amend-form"' in html
    assert 'id="sign-form"' not in html
    assert _form(client, world, "clinician_a", f"{base}/sign")[0] == 409
    amendment = {"body": "Addendum: photo reviewed"}
    assert _form(client, world, "clinician_a", f"{base}/amendments", amendment)[0] == 303
    note = client.get(f"/v1/visits/{visit_id}", headers=world["clinician_a"].headers).json()["note"]
    assert note["signed_at"] is not None
    assert [a["body"] for a in note["amendments"]] == ["Addendum: photo reviewed"]


# --- the record in plain words ----------------------------------------------------------------

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _visible_text(html: str) -> str:
    """The text a reader sees outside the staff's billing card (which keeps its codes): the
    main element without tags and attributes."""
    main = html.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    main = re.sub(r'<section class="card" id="billing">.*?</section>', "", main, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", main.split(">", 1)[1]).split())


@pytest.mark.parametrize("key", ["patient_a", "clinician_a"])
def test_the_record_names_people_and_states_in_plain_words(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock, key: str
) -> None:
    visit_id = in_call(app, world, clock, media="video")
    _end(client, world, visit_id, {"em_code": "99213", "em_basis": "mdm"})
    html = _page(client, world, key, visit_id)
    text = _visible_text(html)
    # No participant or decision ids, no stored enum values, no microsecond timestamps.
    assert UUID.findall(text) == []
    for raw in ("sync_audio_video", "in_progress", "completed", "+00:00", "admit ·", " join "):
        assert raw not in text
    # The rules' wording of a requirement is the staff's; the patient reads what it is for.
    assert ("obtain and document" in text) is (key != "patient_a")
    assert "Status: Completed" in text
    visit = client.get(f"/v1/visits/{visit_id}", headers=world["clinician_a"].headers).json()
    [patient] = [p for p in visit["participants"] if p["role"] == "patient"]
    assert f"{patient['display_name']} connected" in text
    # Every time is a <time> with its instant, shown in the viewer's zone by the page's script.
    instants = re.findall(r'<time datetime="([^"]+)" data-show="(\w+)">', html)
    assert len(instants) >= 4
    assert all(instant.endswith("+00:00") and "." not in instant for instant, _ in instants)
    shown = f'href="/portal/decisions/{visit["current_decision_id"]}"' in html
    assert shown is (key != "patient_a")


# --- who signed the note; the patient's visit summary -----------------------------------------

SIGNED_NOTE = re.compile(
    r"Signed by clinician_a, Dermatology, on <time datetime=\"[^\"]+\" data-show=\"datetime\">"
)
AMENDED_NOTE = re.compile(
    r"Amendment by clinician_a, Dermatology, on <time datetime=\"[^\"]+\" data-show=\"datetime\">"
)


def _note_card(html: str) -> str:
    return html.split('id="note"', 1)[1].split("</section>", 1)[0]


def test_the_record_names_who_signed_the_note_and_patients_read_it_as_their_summary(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    visit_id = in_call(app, world, clock, media="video")
    _end(client, world, visit_id, {"em_code": "99213", "em_basis": "mdm"})
    base = f"/visits/{visit_id}/note"
    assert _form(client, world, "clinician_a", base, {"body": "Draft: rash"})[0] == 303
    # A draft is the clinician's: the patient reads that the summary is still being written.
    draft = _note_card(_page(client, world, "patient_a", visit_id))
    assert "Visit summary" in draft
    assert "Draft: rash" not in draft
    assert "has not finished the summary" in draft
    assert "Not signed" in _note_card(_page(client, world, "clinician_a", visit_id))

    update = {"body": "Rash, improving. Emollients.", "version": "1"}
    assert _form(client, world, "clinician_a", base, update)[0] == 303
    assert _form(client, world, "clinician_a", f"{base}/sign")[0] == 303
    amendment = {"body": "Addendum: photo reviewed"}
    assert _form(client, world, "clinician_a", f"{base}/amendments", amendment)[0] == 303

    staff = _note_card(_page(client, world, "clinician_a", visit_id))
    assert "Visit note" in staff
    assert SIGNED_NOTE.search(staff)
    assert AMENDED_NOTE.search(staff)
    patient = _note_card(_page(client, world, "patient_a", visit_id))
    assert "Visit summary" in patient
    assert "Rash, improving. Emollients." in patient
    assert SIGNED_NOTE.search(patient)
    assert AMENDED_NOTE.search(patient)
    assert not UUID.search(_visible_text(_page(client, world, "patient_a", visit_id)))

    note = client.get(f"/v1/visits/{visit_id}", headers=world["clinician_a"].headers).json()["note"]
    clinician = {
        "id": str(world["clinician_a"].user_id),
        "name": "clinician_a",
        "specialty": "Dermatology",
    }
    assert note["signed_by"] == clinician
    assert [a["author"] for a in note["amendments"]] == [clinician]
