"""Headless Chromium through the main journeys against a real server, an axe-core scan of every
page signed in as the right role, and a browser-storage check after sign-out.

Screenshots of each step are written to ``test-artifacts/portal/``.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image

from telehealth.identity.model import age_on
from tests.access.matrix import decision_for_patient_a
from tests.browser import chromium, eventually, frames_decoded, need_browser
from tests.portal.live import AXE, Live, live_server, scan, shot
from tests.review.support import case_body
from tests.visits.live import Live as VisitsLive
from tests.visits.live import book_through_pages, open_room, through_intake

pytestmark = pytest.mark.slow

PHONE = {"width": 375, "height": 812}


VIEWER_ZONE = "America/Chicago"


@pytest.fixture(scope="module")
def live(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    need_browser()
    with live_server(sqlite_template, tmp_path_factory.mktemp("portal-live")) as server:
        yield server


@pytest.fixture(scope="module")
def browser(live: Live) -> Iterator[Any]:
    with chromium() as found:
        yield found


@pytest.fixture(scope="module")
def signed_in(live: Live, browser: Any) -> Iterator[Callable[[str], Any]]:
    """One signed-in browser context per person for the module (each signs in once)."""
    contexts: dict[str, Any] = {}

    def page_for(key: str) -> Any:
        if key not in contexts:
            # The clinic's people read times in their own zone, not the server's (UTC).
            context = browser.new_context(timezone_id=VIEWER_ZONE)
            contexts[key] = context
            live.sign_in(context.new_page(), key)
        context = contexts[key]
        page = context.pages[0]
        return page

    yield page_for
    for context in contexts.values():
        context.close()


def photo(tmp_path: Path, name: str = "rash.png") -> Path:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 110)).save(buffer, format="PNG")
    path = tmp_path / name
    path.write_bytes(buffer.getvalue())
    return path


def api(live: Live, key: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, live.url(path), headers=live.world[key].headers, **kwargs)


def fill_derm_questionnaire(page: Any) -> None:
    page.select_option("#q_body_site", "arm")
    page.select_option("#q_duration", "1_to_4_weeks")
    page.check("input[name=q_changed][value=no]")
    page.check("input[name=q_symptoms][value=itch]")
    page.fill("#q_lesion_count", "1")


def upload_photo(page: Any, path: Path) -> None:
    if not page.is_visible("#upload-files"):
        shot(page, "debug-upload")
        raise AssertionError(page.inner_text("main")[:2000])
    page.set_input_files("#upload-files", str(path))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("ul.media img", timeout=30_000)


def _who_is_patient_a(live: Live) -> tuple[str, ...]:
    """Records patient A as female: the words that name them to staff (the live server reads
    the real clock, so the age is counted on today's date)."""
    path = f"/v1/patients/{live.world['patient_a'].patient_id}"
    version = api(live, "coordinator", "GET", path).json()["version"]
    record = api(live, "coordinator", "PATCH", path, json={"sex": "female", "version": version})
    assert record.status_code == 200, record.text
    age = age_on(date(1970, 1, 1), datetime.now(UTC).date())
    return ("CanaryA SecretA", f"{age}", "Female", record.json()["record_number"])


# --- journey 1: hybrid intake, then a live visit ------------------------------------------------


def test_patient_books_sends_intake_has_the_visit_reads_the_summary_and_reschedules(
    live: Live, browser: Any, signed_in: Callable[[str], Any], tmp_path: Path
) -> None:
    VisitsLive(live.base_url, live.app, live.world).open_hours()
    who = _who_is_patient_a(live)
    patient = signed_in("patient_a")
    errors: list[str] = []
    patient.on("pageerror", lambda exc: errors.append(str(exc)))
    # The patient books the first free time with clinician A from their dashboard.
    patient.goto(live.url("/"))
    patient.click("a[href='/visits/book']")
    patient.wait_for_selector("#what-h")
    booked = book_through_pages(patient, 0, lambda part: shot(patient, f"1-00-booking-{part}"))
    visit_id = booked.rsplit("/", 1)[1]
    patient.goto(live.url("/"))
    patient.click(f"a[href='/portal/visits/{visit_id}/intake']")
    shot(patient, "1-01-patient-dashboard-intake")
    patient.fill("#reason", "Itchy patch on my arm")
    fill_derm_questionnaire(patient)
    patient.click("form[action$='/intake'] button[type=submit]")
    upload_photo(patient, photo(tmp_path))
    patient.click("#intake-send")
    patient.wait_for_selector("text=sent to your clinician")
    shot(patient, "1-02-intake-sent")

    clinician = signed_in("clinician_a")
    clinician.on("pageerror", lambda exc: errors.append(str(exc)))
    clinician.goto(live.url("/"))
    assert clinician.is_visible(f"a[href='/portal/visits/{visit_id}/intake']:has-text('Ready')")
    shot(clinician, "1-03-clinician-schedule-intake-ready")

    patient.goto(live.url(f"/visits/{visit_id}"))
    patient.click("#join-visit")
    patient.wait_for_selector("#step-location:not([hidden])")
    assert "#token" not in patient.url
    through_intake(patient)
    shot(patient, "1-04-patient-waiting-room")

    clinician.goto(live.url(f"/visits/{visit_id}"))
    clinician.click("#join-visit")
    clinician.wait_for_selector("#visit-context img[alt^='Intake photo']", timeout=30_000)
    open_room(clinician)
    shot(clinician, "1-05-clinician-waiting-room-with-intake")
    # Who the patient is, beside the call and in the waiting list: name, age, sex, number.
    panel = " ".join(clinician.inner_text("#visit-context .patient-banner").split())
    waiting = " ".join(clinician.inner_text("#waiting-list tr").split())
    for words in who:
        assert words in panel, (words, panel)
        assert words in waiting, (words, waiting)
    assert "1970" in panel  # the panel gives the date of birth; the waiting list does not
    assert "1970" not in waiting
    clinician.click("button.admit")
    connected = eventually(lambda: frames_decoded(patient) > 10 and frames_decoded(clinician) > 10)
    if not connected:
        shot(clinician, "debug-clinician")
        shot(patient, "debug-patient")
    assert connected, (errors, frames_decoded(patient), frames_decoded(clinician))
    # The tiles name the people in the call, not only their roles.
    assert eventually(lambda: "CanaryA SecretA · Patient" in clinician.inner_text("#remote-videos"))
    assert eventually(lambda: "clinician_a · Clinician" in patient.inner_text("#remote-videos"))
    shot(clinician, "1-06-clinician-in-call")
    shot(patient, "1-07-patient-in-call")

    clinician.fill("#note-body", "Eczema on the forearm. Emollients; review in four weeks.")
    clinician.click("#note-sign")
    clinician.wait_for_selector("#note-status:has-text('Signed')")
    clinician.click("#end-visit")
    clinician.wait_for_selector("#end-dialog[open] #end-levels input")
    shot(clinician, "1-08-end-dialog")
    assert scan(clinician) == []  # the call's controls, tiles and the open dialog
    clinician.click("#end-later")
    clinician.wait_for_selector("#room[data-state='ended']", state="attached")
    # The level was left for later: the record says so and offers the choice, with the
    # measured session time beside the total-time thresholds.
    clinician.goto(live.url(f"/visits/{visit_id}"))
    clinician.wait_for_selector("#billing:has-text('No E/M level was chosen')")
    assert clinician.is_visible("#em-form:has-text('Measured session time')")
    clinician.check("input[name=em_code][value='99213']")
    clinician.check("input[name=em_basis][value='mdm']")
    clinician.click("#em-form button[type=submit]")
    clinician.wait_for_selector("td:has-text('99213')")
    shot(clinician, "1-09-billing-lines")
    # After the call the signed note takes amendments from the record page.
    clinician.fill("#amendment-body", "Addendum: the photo matches the call.")
    clinician.click("#amend-form button[type=submit]")
    clinician.wait_for_selector("#note:has-text('Addendum: the photo matches the call.')")
    assert errors == []
    # The patient reads the record in plain words, with times in their browser's zone.
    patient.goto(live.url(f"/visits/{visit_id}"))
    started = patient.locator("time[data-localized]").first
    instant = datetime.fromisoformat(started.get_attribute("datetime"))
    assert started.inner_text().endswith(instant.astimezone(ZoneInfo(VIEWER_ZONE)).tzname())
    assert "UTC" not in patient.inner_text("main")
    # The signed note is the patient's visit summary, with who signed it.
    summary = patient.inner_text("#note")
    assert "Visit summary" in summary
    assert "Eczema on the forearm" in summary
    assert "Signed by clinician_a" in summary
    shot(patient, "1-10-patient-visit-record")

    # Then books another visit and moves it to a later time.
    patient.goto(live.url("/visits/book"))
    patient.wait_for_selector("#what-h")
    another = book_through_pages(patient, 1)
    before = patient.locator("h1 time").get_attribute("datetime")
    patient.click("text=Choose another time")
    patient.wait_for_selector("#move-form")
    patient.locator("input[name=slot_start]").nth(2).check()
    shot(patient, "1-11-patient-reschedules")
    patient.click("#move-confirm")
    patient.wait_for_url(f"**{another}?done=rescheduled")
    assert patient.is_visible("text=The visit is moved to its new time")
    assert patient.locator("h1 time").get_attribute("datetime") != before
    shot(patient, "1-12-patient-rescheduled")
    assert errors == []


# --- journey 2: store-and-forward ---------------------------------------------------------------


def test_photo_case_is_reported_and_read(
    live: Live, signed_in: Callable[[str], Any], tmp_path: Path
) -> None:
    patient = signed_in("patient_a")
    patient.goto(live.url("/review/cases/new"))
    patient.fill("#reason", "A mole on my arm has grown")
    patient.select_option("#location_state", "TX")
    fill_derm_questionnaire(patient)
    patient.click("form[action='/review/cases'] button[type=submit]")
    patient.wait_for_url("**/review/cases/*")
    case_path = patient.url.removeprefix(live.base_url)
    upload_photo(patient, photo(tmp_path, "mole.png"))
    shot(patient, "2-01-patient-case-with-photo")
    patient.click("text=Send for review")
    patient.wait_for_selector("h2:has-text('Status: queued')")
    shot(patient, "2-02-case-queued")

    reviewer = signed_in("clinician_a")
    reviewer.goto(live.url("/review"))
    reviewer.click(f"a[href='{case_path}']")
    shot(reviewer, "2-03-reviewer-case-with-media")
    reviewer.click("text=Claim this case")
    reviewer.fill("#findings", "Symmetric brown macule, 5 mm, regular border.")
    reviewer.fill("#assessment", "Benign naevus.")
    reviewer.select_option("#recommendation", "self_care")
    reviewer.click("text=Save draft")
    reviewer.click("text=Sign and send the report")
    reviewer.wait_for_selector("h2:has-text('Status: reported')")
    shot(reviewer, "2-04-report-signed")

    patient.goto(live.url(case_path))
    assert patient.is_visible("h2:has-text('Specialist report')")
    assert patient.is_visible("text=Benign naevus.")
    shot(patient, "2-05-patient-reads-report")


# --- journey 3: remote monitoring ---------------------------------------------------------------


def enrol_with_alert(live: Live) -> tuple[str, str]:
    patient_id = live.world["patient_a"].patient_id
    today = datetime.now(UTC).date()
    enrollment = api(
        live,
        "clinician_a",
        "POST",
        f"/v1/monitoring/patients/{patient_id}/enrollments",
        json={
            "program": "hypertension",
            "episode_start": (today - timedelta(days=5)).isoformat(),
            "consent": {"given_by": "patient", "method": "verbal", "at": f"{today}T00:00:00Z"},
        },
    )
    assert enrollment.status_code == 201, enrollment.text
    enrollment_id = enrollment.json()["id"]
    device = api(
        live,
        "clinician_a",
        "POST",
        f"/v1/monitoring/enrollments/{enrollment_id}/devices",
        json={
            "device_type": "blood_pressure_monitor",
            "manufacturer": "Acme",
            "model": "BP-1",
            "serial": f"SN-{uuid.uuid4().hex[:8]}",
            "meets_fda_definition": True,
        },
    )
    assert device.status_code == 201, device.text
    token = device.json()["token"]
    readings = []
    for hours, systolic in ((30, 128), (20, 131), (2, 192)):
        at = (datetime.now(UTC) - timedelta(hours=hours)).isoformat()
        readings += [
            {"code": "8480-6", "value": systolic, "unit": "mm[Hg]", "effective": at},
            {"code": "8462-4", "value": 84, "unit": "mm[Hg]", "effective": at},
        ]
    sent = httpx.post(
        live.url("/v1/monitoring/ingest/readings"),
        json={"readings": readings},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert sent.status_code == 200, sent.text
    alerts = sent.json()["alerts"]
    assert len(alerts) == 1
    return enrollment_id, alerts[0]


def enrollment_of_patient_a(live: Live) -> str:
    """Patient A's enrollment, made (with an alert) if an earlier test has not."""
    listed = api(
        live,
        "clinician_a",
        "GET",
        f"/v1/monitoring/patients/{live.world['patient_a'].patient_id}/enrollments",
    ).json()
    return str(listed[0]["id"]) if listed else enrol_with_alert(live)[0]


def test_reading_over_threshold_raises_an_alert_that_is_acknowledged(
    live: Live, signed_in: Callable[[str], Any]
) -> None:
    enrollment_id, alert_id = enrol_with_alert(live)
    clinician = signed_in("clinician_a")
    clinician.goto(live.url("/"))
    assert clinician.is_visible("td:has-text('systolic above')")
    shot(clinician, "3-01-dashboard-alert")
    clinician.goto(live.url(f"/monitoring/enrollments/{enrollment_id}"))
    shot(clinician, "3-02-readings-plot")
    clinician.goto(live.url("/portal/alerts"))
    clinician.click(f"form[action='/portal/alerts/{alert_id}'] button[value=acknowledge]")
    clinician.wait_for_url(live.url("/portal/alerts"))
    shot(clinician, "3-03-alert-acknowledged")
    alert = api(live, "clinician_a", "GET", f"/v1/monitoring/alerts/{alert_id}").json()
    assert alert["status"] == "acknowledged"
    patient = signed_in("patient_a")
    patient.goto(live.url("/monitoring/me"))
    shot(patient, "3-04-patient-readings")
    assert patient.is_visible("text=Hypertension monitoring")


def test_enrollment_panels_arrive_after_the_page_and_a_redirect_lands_on_its_panel(
    live: Live, signed_in: Callable[[str], Any]
) -> None:
    enrollment_id = enrollment_of_patient_a(live)
    clinician = signed_in("clinician_a")
    errors: list[str] = []
    clinician.on("pageerror", lambda exc: errors.append(str(exc)))
    path = f"/monitoring/enrollments/{enrollment_id}"
    clinician.goto(live.url(path))
    # The alerts are in the page itself; the later panels replace their placeholders.
    assert clinician.locator("#alerts .mon-alert-row").count() >= 1
    clinician.wait_for_selector("section[data-panel]", state="detached")
    assert clinician.locator("#billing table").count() == 1
    assert clinician.locator("#time form[action$='/time']").count() == 1
    assert clinician.locator("#messages #message-body").count() == 1
    clinician.fill("#message-body", "Please measure again after lunch.")
    clinician.click("#messages button[type=submit]")
    clinician.wait_for_url(f"**{path}#messages")
    clinician.wait_for_selector("#messages li:has-text('Please measure again after lunch.')")
    # Its time is shown in the viewer's zone, as in the page itself.
    message = clinician.locator("#messages li", has_text="Please measure again after lunch.")
    assert message.locator("time[data-localized='1']").count() == 1
    # The form's redirect names the panel: once the panels above it have arrived, it is in view.
    assert eventually(
        lambda: clinician.evaluate(
            "(() => { const box = document.getElementById('messages').getBoundingClientRect();"
            " return box.top < window.innerHeight && box.bottom > 0; })()"
        ),
        seconds=10,
    )
    assert errors == []


# --- accessibility ------------------------------------------------------------------------------


def objects_for_scan(live: Live) -> dict[str, str]:
    """One of everything the pages show, for patient A."""
    visit_id, _, _ = VisitsLive(live.base_url, live.app, live.world).book_now()
    case = api(
        live,
        "patient_a",
        "POST",
        "/v1/cases",
        json=case_body(reason="Scan case"),
    )
    assert case.status_code == 201, case.text
    enrollment_id = enrollment_of_patient_a(live)
    return {
        "visit": str(visit_id),
        "case": case.json()["id"],
        "enrollment": enrollment_id,
        "decision": decision_for_patient_a(live.world),
        "clinician": str(live.world["clinician_a"].user_id),
    }


PAGES: dict[str, tuple[str, ...]] = {
    "anonymous": ("/login", "/invite#token=not-a-token", "/visits/join"),
    "patient_a": (
        "/",
        "/visits",
        "/visits/{visit}",
        "/portal/visits/{visit}/intake",
        "/review",
        "/review/cases/new",
        "/review/cases/{case}",
        "/monitoring/me",
        "/notifications",
    ),
    "clinician_a": (
        "/",
        "/visits",
        "/visits/{visit}",
        "/portal/visits/{visit}/intake",
        "/portal/visits/{visit}/context",
        "/portal/decisions/{decision}",
        "/portal/alerts",
        "/review",
        "/review/cases/{case}",
        "/monitoring",
        "/monitoring/enrollments/{enrollment}",
        "/monitoring/enrollments/{enrollment}/billing",
        "/notifications",
    ),
    "coordinator": (
        "/",
        "/admin/users",
        "/admin/clinicians/{clinician}",
        "/admin/schedules",
        "/admin/queues",
    ),
    "admin": ("/", "/admin/audit", "/admin/fhir-clients"),
}


def test_every_page_has_no_serious_accessibility_violations(
    live: Live, browser: Any, signed_in: Callable[[str], Any]
) -> None:
    assert AXE.exists(), "run `npm ci` for axe-core"
    ids = objects_for_scan(live)
    violations: list[str] = []
    scanned = 0
    anonymous = browser.new_context(viewport=PHONE).new_page()
    for role, paths in PAGES.items():
        page = anonymous if role == "anonymous" else signed_in(role)
        page.set_viewport_size(PHONE)
        for template in paths:
            response = page.goto(live.url(template.format(**ids)))
            assert response is not None
            assert response.status == 200, (role, template)
            page.wait_for_load_state("networkidle")
            violations += scan(page)
            scanned += 1
            name = template.strip("/").replace("/", "_").split("#")[0] or "home"
            shot(page, f"axe-{role}-{name.replace('{', '').replace('}', '')}")
    anonymous.context.close()
    assert scanned == sum(len(p) for p in PAGES.values())
    assert violations == [], "\n".join(violations)


# --- PHI residue after sign-out -----------------------------------------------------------------

DUMP_STORAGE = """async () => {
  const dump = { local: {}, session: {}, idb: [], caches: [] };
  for (const [store, into] of [[localStorage, dump.local], [sessionStorage, dump.session]]) {
    for (let i = 0; i < store.length; i++) into[store.key(i)] = store.getItem(store.key(i));
  }
  if (indexedDB.databases) dump.idb = (await indexedDB.databases()).map((d) => d.name);
  if (window.caches) {
    for (const name of await caches.keys()) {
      const cache = await caches.open(name);
      for (const request of await cache.keys()) {
        const response = await cache.match(request);
        dump.caches.push(request.url + " " + (response ? await response.text() : ""));
      }
    }
  }
  return JSON.stringify(dump);
}"""


def test_no_phi_stays_in_the_browser_after_sign_out(live: Live, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    live.sign_in(page, "patient_b")
    page.goto(live.url("/visits"))
    page.goto(live.url("/monitoring/me"))
    page.goto(live.url(f"/v1/patients/{live.world['patient_b'].patient_id}"))
    assert "CanaryB" in page.content()  # the canary was shown to the signed-in patient
    page.goto(live.url("/"))
    page.click("form[action='/logout'] button")
    page.wait_for_url(live.url("/login"))
    dump = page.evaluate(DUMP_STORAGE)
    cookies = context.cookies()
    shot(page, "storage-after-sign-out")
    context.close()
    for canary in ("CanaryB", "SecretB", "CanaryA", "SecretA"):
        assert canary not in dump
        assert all(canary not in c["value"] for c in cookies)
    assert [c["name"] for c in cookies if c["name"] == "th_session"] == []
    assert dump == '{"local":{},"session":{},"idb":[],"caches":[]}'
