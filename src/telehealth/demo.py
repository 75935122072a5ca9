"""The demo organization: clearly marked sample people in a living clinic, for trying the
platform locally.

Everything is made through the capabilities' own actions, acting as the demo's people, so it is
checked and audited as any other work: clinicians' weekly hours, visits (two completed with
signed notes, the day's still ahead, one of them minutes away), store-and-forward cases in the
queue (one claimed, one reported), patients in remote monitoring with sixty days of readings and
open alerts, and the notifications all of that sends. History is made on a clock set back to
when it happened; the audit trail keeps the real time of the load.

Loading again tops up the day: today's visits (once a day) and the readings devices would have
sent since their last upload.
"""

from __future__ import annotations

import io
import json
import os
import random
import secrets
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw

from telehealth.clock import FrozenClock, ensure_utc
from telehealth.identity import queries as identity_queries
from telehealth.identity import repository
from telehealth.identity import service as identity
from telehealth.identity.model import AdministrativeSex, CareSource, LicenseKind, Role
from telehealth.identity.tables import Organization, Patient, User
from telehealth.monitoring import ingest as monitoring_ingest
from telehealth.monitoring import model as monitoring_model
from telehealth.monitoring import service as monitoring
from telehealth.monitoring.tables import Device, Enrollment
from telehealth.review import service as review
from telehealth.review import uploads
from telehealth.review.model import Recommendation
from telehealth.scope import Scope
from telehealth.visits import availability, booking, consent, links, notes, waiting_room
from telehealth.visits import model as visits_model
from telehealth.visits.access import readable_visits, writable_visit
from telehealth.visits.session_record import end_visit
from telehealth.vocabulary import Discipline

DEMO_ORG_NAME = "Demo Clinic (DEMO DATA - not real people)"
DOMAIN = "demo.telehealth.test"
# The zone whose calendar day the demo keeps: "today's visits" are booked once per day in it.
CLINIC_ZONE = ZoneInfo("America/Chicago")
# Days of monitoring readings, today included.
READING_DAYS = 60


@dataclass(frozen=True)
class DemoAccount:
    email: str
    role: str
    password: str
    display_name: str
    totp_secret: str | None = None


@dataclass(frozen=True)
class _Hours:
    """Weekly availability: these weekdays (0 = Monday), from start to end in the zone."""

    time_zone: str
    weekdays: tuple[int, ...]
    start: time
    end: time
    slot_minutes: int


_WEEKDAYS = (0, 1, 2, 3, 4)


@dataclass(frozen=True)
class _Clinician:
    key: str
    name: str
    specialties: tuple[str, ...]
    licenses: tuple[tuple[str, LicenseKind], ...]
    hours: _Hours
    languages: tuple[str, ...] = ("en",)
    dea: tuple[tuple[str, tuple[str, ...]], ...] = ()
    compacts: tuple[tuple[str, str], ...] = ()
    # Every demo clinician is a doctor (MD/DO): the IMLC compact and telehealth registrations
    # count for physicians only.
    discipline: Discipline = "physician"


_CLINICIANS = (
    _Clinician(
        "dr.derm",
        "Dr. Dana Derm (demo)",
        ("dermatology",),
        (
            ("TX", LicenseKind.FULL),
            ("CA", LicenseKind.FULL),
            ("FL", LicenseKind.TELEHEALTH_REGISTRATION),
        ),
        _Hours("America/Los_Angeles", _WEEKDAYS, time(8, 0), time(17, 0), 20),
        languages=("en", "es"),
    ),
    _Clinician(
        "dr.psych",
        "Dr. Parker Psych (demo)",
        ("psychiatry",),
        (("NY", LicenseKind.FULL), ("NJ", LicenseKind.FULL)),
        _Hours("America/New_York", (0, 1, 2, 3), time(9, 0), time(18, 0), 30),
        dea=(("NY", ("II", "III", "IV", "V")),),
    ),
    # The virtual urgent-care desk: every day, around the clock, so the demo always has a
    # visit minutes away.
    _Clinician(
        "dr.pcp",
        "Dr. Pat Primary (demo)",
        ("primary_care",),
        (("FL", LicenseKind.FULL), ("TX", LicenseKind.FULL), ("AK", LicenseKind.FULL)),
        _Hours("America/Chicago", (0, 1, 2, 3, 4, 5, 6), time(0, 0), time(23, 59), 10),
        languages=("en", "es"),
        dea=(("FL", ("II", "III", "IV", "V")), ("TX", ("III", "IV", "V"))),
    ),
    _Clinician(
        "dr.rad",
        "Dr. Robin Rad (demo)",
        ("radiology",),
        (("CO", LicenseKind.FULL), ("TX", LicenseKind.COMPACT), ("NY", LicenseKind.FULL)),
        _Hours("America/Denver", _WEEKDAYS, time(7, 0), time(15, 0), 30),
        languages=("en", "fr"),
        compacts=(("IMLC", "CO"),),
    ),
)


@dataclass(frozen=True)
class _Patient:
    key: str
    given: str
    family: str
    born: date
    state: str
    carers: tuple[str, ...]
    sex: AdministrativeSex
    time_zone: str


_PATIENTS = (
    _Patient(
        "pat.tx",
        "Taylor",
        "Texan",
        date(1980, 4, 2),
        "TX",
        ("dr.derm", "dr.pcp", "dr.rad"),
        AdministrativeSex.FEMALE,
        "America/Chicago",
    ),
    _Patient(
        "pat.ca",
        "Casey",
        "Californian",
        date(1992, 9, 14),
        "CA",
        ("dr.derm",),
        AdministrativeSex.MALE,
        "America/Los_Angeles",
    ),
    _Patient(
        "pat.ny",
        "Noor",
        "Newyorker",
        date(1975, 1, 30),
        "NY",
        ("dr.psych", "dr.rad"),
        AdministrativeSex.FEMALE,
        "America/New_York",
    ),
    _Patient(
        "pat.fl",
        "Frankie",
        "Floridian",
        date(1958, 6, 21),
        "FL",
        ("dr.pcp", "dr.derm"),
        AdministrativeSex.MALE,
        "America/New_York",
    ),
    _Patient(
        "pat.ak",
        "Alex",
        "Alaskan",
        date(1969, 11, 5),
        "AK",
        ("dr.pcp",),
        AdministrativeSex.OTHER,
        "America/Anchorage",
    ),
)
_STATE_OF = {p.key: p.state for p in _PATIENTS}


def credentials_file(data_dir: Path) -> Path:
    return data_dir / "demo-accounts.json"


def load_demo(scope: Scope, data_dir: Path) -> tuple[list[DemoAccount], bool]:
    """Creates the demo organization and its clinic once; later calls top up the day and return
    the saved accounts."""
    saved = credentials_file(data_dir)
    org = repository.demo_organization(scope.session)
    if org is not None:
        _top_up(scope, _Clinic.of(scope, org))
        if saved.exists():
            return [DemoAccount(**item) for item in json.loads(saved.read_text())], False
        return [], False
    org = identity.create_organization(scope, DEMO_ORG_NAME, is_demo=True)
    accounts: list[DemoAccount] = []

    def account(key: str, role: Role, name: str) -> identity.NewUser:
        password = secrets.token_urlsafe(12)
        created = identity.create_user(
            scope,
            org_id=org.id,
            email=f"{key}@{DOMAIN}",
            role=role,
            display_name=name,
            password=password,
        )
        accounts.append(
            DemoAccount(created.user.email, role.value, password, name, created.totp_secret)
        )
        return created

    account("admin", Role.ADMIN, "Avery Admin (demo)")
    account("coordinator", Role.COORDINATOR, "Corey Coordinator (demo)")
    clinician_ids = {}
    for spec in _CLINICIANS:
        user = account(spec.key, Role.CLINICIAN, spec.name).user
        clinician_ids[spec.key] = user.id
        identity.set_clinician_profile(
            scope,
            user.id,
            specialties=list(spec.specialties),
            video_capable=True,
            languages=list(spec.languages),
            discipline=spec.discipline,
        )
        for state, kind in spec.licenses:
            identity.add_license(
                scope,
                user.id,
                state=state,
                kind=kind,
                number=f"DEMO-{state}-{secrets.randbelow(10**6):06d}",
                # Valid for years from the load: an expired license is no license.
                expires_on=date(scope.clock.now().year + 3, 12, 31),
            )
        for state, schedules in spec.dea:
            identity.add_dea_registration(
                scope,
                user.id,
                state=state,
                number=f"XD{secrets.randbelow(10**7):07d}",
                schedules=list(schedules),
                expires_on=date(scope.clock.now().year + 3, 6, 30),
            )
        for compact, principal in spec.compacts:
            identity.add_compact(scope, user.id, compact=compact, principal_state=principal)
    for spec_p in _PATIENTS:
        name = f"{spec_p.given} {spec_p.family} (demo)"
        user = account(spec_p.key, Role.PATIENT, name).user
        patient = identity.create_patient(
            scope,
            org_id=org.id,
            given_name=spec_p.given,
            family_name=spec_p.family,
            birth_date=spec_p.born,
            home_state=spec_p.state,
            user_id=user.id,
            sex=spec_p.sex,
        )
        for carer in spec_p.carers:
            # Seeded directly: the demo's organization is set up by no one in it.
            identity.assign_care(
                scope,
                clinician_ids[carer],
                patient.id,
                source=CareSource.COORDINATOR,
                granted_by=None,
            )
    clinic = _Clinic.of(scope, org)
    _open_clinic(scope, clinic)
    _history(scope, clinic)
    _top_up(scope, clinic)
    _save(saved, accounts)
    return accounts, True


# --- the living clinic -----------------------------------------------------------------------


@dataclass
class _Clinic:
    """The demo's people, by key (``dr.pcp``, ``pat.tx``...)."""

    org: Organization
    users: dict[str, User]
    patients: dict[str, Patient]

    @classmethod
    def of(cls, scope: Scope, org: Organization) -> _Clinic:
        keys = ["admin", "coordinator", *(c.key for c in _CLINICIANS), *(p.key for p in _PATIENTS)]
        users: dict[str, User] = {}
        patients: dict[str, Patient] = {}
        for key in keys:
            user = repository.user_by_email(scope.session, f"{key}@{DOMAIN}")
            if user is None or user.org_id != org.id:
                continue
            users[key] = user
            patient_id = repository.patient_id_of_user(scope.session, user.id)
            patient = (
                identity_queries.patient_by_id(scope.session, patient_id) if patient_id else None
            )
            if patient is not None:
                patients[key] = patient
        return cls(org, users, patients)

    def acting(self, scope: Scope, key: str, at: datetime | None = None) -> Scope:
        """A scope in the same unit of work acting as ``key``: on a clock set to ``at`` when
        given, to make history (the audit trail keeps its own, real, clock)."""
        ports = scope.ports if at is None else replace(scope.ports, clock=FrozenClock(at))
        acting = Scope(
            uow=scope.uow,
            ports=ports,
            audit=scope.audit,
            request_id=scope.request_id,
            source_ip=scope.source_ip,
        )
        acting.act_as(identity.system_actor_for(acting, self.users[key]))
        return acting


def _open_clinic(scope: Scope, clinic: _Clinic) -> None:
    """Everyone's time zone, and each clinician's weekly hours (set by the coordinator)."""
    for spec_p in _PATIENTS:
        identity.set_time_zone(clinic.acting(scope, spec_p.key), spec_p.time_zone)
    coordinator = clinic.acting(scope, "coordinator")
    for spec in _CLINICIANS:
        identity.set_time_zone(clinic.acting(scope, spec.key), spec.hours.time_zone)
        hours = spec.hours
        for weekday in hours.weekdays:
            availability.add_window(
                coordinator,
                clinic.users[spec.key].id,
                visits_model.WeeklyWindow(
                    hours.time_zone, weekday, hours.start, hours.end, hours.slot_minutes
                ),
            )


def _local(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=CLINIC_ZONE).astimezone(UTC)


def _history(scope: Scope, clinic: _Clinic) -> None:
    today = scope.clock.now().astimezone(CLINIC_ZONE).date()
    _completed_visit(
        scope,
        clinic,
        "pat.tx",
        _local(today - timedelta(days=6), time(10, 0)),
        "Subjective: follow-up of blood pressure. Plan: continue home monitoring.",
    )
    _completed_visit(
        scope,
        clinic,
        "pat.fl",
        _local(today - timedelta(days=2), time(14, 30)),
        "Subjective: ankle swelling, weight up. Plan: daily weights, review in a week.",
    )
    now = scope.clock.now()
    _case(scope, clinic, "pat.fl", "A dry patch on my elbow that will not clear", now - DAY)
    claimed = _case(scope, clinic, "pat.ca", "A mole on my back has changed shape", now - 3 * HOUR)
    review.claim_case(clinic.acting(scope, "dr.derm", now - 5 * MINUTE), claimed)
    reported = _case(scope, clinic, "pat.tx", "A spot on my arm got darker", now - 3 * DAY)
    reviewer = clinic.acting(scope, "dr.derm", now - 2 * DAY)
    review.claim_case(reviewer, reported)
    review.write_report(
        reviewer,
        reported,
        review.ReportInput(
            findings="Regular pigmented macule, even border, one colour.",
            assessment="Benign naevus.",
            diagnosis_codes=["D22.6"],
            recommendation=Recommendation.SELF_CARE,
            minutes=12,
        ),
    )
    review.sign_report(clinic.acting(scope, "dr.derm", now - 2 * DAY + 15 * MINUTE), reported)
    for key, program, devices, limits in _MONITORED:
        _enroll(scope, clinic, key, program, devices, limits)


MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _completed_visit(
    scope: Scope, clinic: _Clinic, patient_key: str, slot: datetime, note: str
) -> None:
    """A visit with Dr. Primary at ``slot``, held, ended and its note signed."""
    settings = scope.settings.visits
    state = _STATE_OF[patient_key]
    visit, _ = booking.book(
        clinic.acting(scope, "coordinator", slot - 2 * DAY),
        patient_id=clinic.patients[patient_key].id,
        clinician_id=clinic.users["dr.pcp"].id,
        slot_start=slot,
        intake=booking.Intake(located_state=state, acuity="routine", purpose="follow_up"),
    )
    arriving = clinic.acting(scope, patient_key, slot - 5 * MINUTE)
    guest = links.resolve_participant(
        arriving, links.issue_own_link(arriving, visit.id, settings).token
    )
    links.confirm_location(arriving, guest, state)
    if consent.consent_outstanding(arriving, guest.visit):
        consent.record_consent(
            arriving, guest, given_by="patient", method=visits_model.ConsentMethod.WRITTEN
        )
    waiting_room.enter_waiting_room(arriving, guest, settings)
    opening = clinic.acting(scope, "dr.pcp", slot + MINUTE)
    host = links.resolve_participant(
        opening, links.issue_own_link(opening, visit.id, settings).token
    )
    waiting_room.enter_waiting_room(opening, host, settings)
    waiting_room.admit(opening, host, guest.participant.id)
    ending = clinic.acting(scope, "dr.pcp", slot + 18 * MINUTE)
    end_visit(ending, host, visit, em_code="99213", em_basis="mdm")
    signing = clinic.acting(scope, "dr.pcp", slot + 30 * MINUTE)
    held = writable_visit(signing, visit.id)
    notes.write_note(signing, held, note, None)
    notes.sign_note(signing, held, settings)


_DERM_ANSWERS = {
    "duration": "1_to_6_months",
    "changed": True,
    "change_details": "darker and larger",
    "symptoms": ["itch"],
    "lesion_count": 1,
}


def _case(scope: Scope, clinic: _Clinic, patient_key: str, reason: str, at: datetime) -> uuid.UUID:
    """A patient's dermatology self-referral with one photo, submitted to the queue."""
    patient = clinic.acting(scope, patient_key, at)
    case = review.create_case(
        patient,
        review.CaseInput(
            specialty="dermatology",
            reason=reason,
            urgency="routine",
            acuity="routine",
            purpose="new_problem",
            location_state=_STATE_OF[patient_key],
            payer="commercial",
            setting="home",
            questionnaire_id="dermatology_lesion",
            questionnaire_version=2,
            answers={"body_site": "arm", **_DERM_ANSWERS},
        ),
    )
    _upload(patient, case.id, _photo(patient_key))
    review.submit_case(patient, case.id)
    return case.id


def _photo(seed: str) -> bytes:
    """A small made-up skin photo: a brown spot on a skin-coloured ground."""
    rng = random.Random(seed)  # noqa: S311 -- a picture's shape, not a secret
    image = Image.new("RGB", (160, 120), (224, 172, 140))
    draw = ImageDraw.Draw(image)
    x, y, r = rng.randint(50, 110), rng.randint(40, 80), rng.randint(10, 22)
    draw.ellipse((x - r, y - r, x + r, y + r), fill=(110, 70, 45))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _upload(scope: Scope, case_id: uuid.UUID, data: bytes) -> None:
    """The photo through the resumable upload's own steps, as the page's client sends it."""
    metadata = uploads.encode_metadata(
        {"case_id": str(case_id), "filename": "photo.png", "filetype": "image/png"}
    )
    upload = uploads.create_upload(scope, str(len(data)), metadata, False)
    patch = uploads.begin_patch(scope, upload.id, "0", str(len(data)), None)
    healthy = False
    try:
        uploads.feed(patch, data)
        uploads.finish(scope, patch)
        healthy = True
    finally:
        uploads.end_patch(patch, healthy=healthy)


# (patient, program, devices, the patient's own alert limits)
_MONITORED: tuple[
    tuple[str, monitoring_model.Program, tuple[str, ...], dict[str, float | int | None]], ...
] = (
    (
        "pat.tx",
        monitoring_model.Program.HYPERTENSION,
        ("blood_pressure_monitor",),
        {"systolic_above": 150, "diastolic_above": 95},
    ),
    (
        "pat.fl",
        monitoring_model.Program.HEART_FAILURE,
        ("weight_scale", "blood_pressure_monitor", "pulse_oximeter"),
        {"weight_gain_day_kg": 1.0},
    ),
    ("pat.ak", monitoring_model.Program.COPD, ("pulse_oximeter",), {"spo2_below": 88}),
)


def _enroll(
    scope: Scope,
    clinic: _Clinic,
    key: str,
    program: monitoring_model.Program,
    device_types: tuple[str, ...],
    limits: dict[str, float | int | None],
) -> None:
    today = scope.clock.now().astimezone(CLINIC_ZONE).date()
    start = today - timedelta(days=READING_DAYS - 1)
    enrolling = clinic.acting(scope, "dr.pcp", _local(start, time(7, 0)) - HOUR)
    enrollment = monitoring.enroll(
        enrolling,
        clinic.patients[key].id,
        monitoring.EnrollmentInput(
            program=program,
            payer="medicare",
            episode_start=start,
            episode_end=None,
            consent_given_by="patient",
            consent_method="verbal",
            consent_at=enrolling.clock.now(),
        ),
    )
    monitoring.set_patient_thresholds(enrolling, enrollment.id, limits)
    for number, device_type in enumerate(device_types, start=1):
        monitoring.add_device(
            enrolling,
            enrollment.id,
            monitoring.DeviceInput(
                device_type=device_type,
                manufacturer="Demo Devices",
                model=device_type.replace("_", " ").title(),
                serial=f"DEMO-{key.upper()}-{number}",
                meets_fda_definition=True,
            ),
        )


def _top_up(scope: Scope, clinic: _Clinic) -> None:
    """Today's visits (once a day) and the readings due since each device's last upload."""
    if not _booked_today(scope, clinic):
        _book_today(scope, clinic)
    for key, _program, _devices, _limits in _MONITORED:
        _send_readings(scope, clinic, key)


def _booked_today(scope: Scope, clinic: _Clinic) -> bool:
    """Whether the demo's coordinator booked visits today (the clinic's day) already."""
    coordinator = clinic.acting(scope, "coordinator")
    today = scope.clock.now().astimezone(CLINIC_ZONE).date()
    offset = 0
    while True:
        page = readable_visits(coordinator, limit=200, offset=offset)
        if any(
            v.booked_by == clinic.users["coordinator"].id
            and ensure_utc(v.created_at).astimezone(CLINIC_ZONE).date() == today
            for v in page
        ):
            return True
        if len(page) < 200:
            return False
        offset += 200


# (patient, clinician, earliest start from now): the first is the visit minutes away.
_TODAY = (
    ("pat.tx", "dr.pcp", 2 * MINUTE),
    ("pat.fl", "dr.pcp", 90 * MINUTE),
    ("pat.ca", "dr.derm", 2 * HOUR),
    ("pat.ny", "dr.psych", 2 * HOUR),
    ("pat.ak", "dr.pcp", 4 * HOUR),
)


def _book_today(scope: Scope, clinic: _Clinic) -> None:
    coordinator = clinic.acting(scope, "coordinator")
    now = scope.clock.now()
    # The day ahead: a clinician with no hours left in it has no visit today.
    horizon = now + 12 * HOUR
    for patient_key, clinician_key, after in _TODAY:
        clinician_id = clinic.users[clinician_key].id
        slots = availability.free_slots(coordinator, clinician_id, now + after, horizon)
        if not slots:
            continue
        state = _STATE_OF[patient_key]
        booking.book(
            coordinator,
            patient_id=clinic.patients[patient_key].id,
            clinician_id=clinician_id,
            slot_start=slots[0][0],
            intake=booking.Intake(located_state=state, acuity="routine", purpose="follow_up"),
        )


def _send_readings(scope: Scope, clinic: _Clinic, key: str) -> None:
    """What each of the patient's devices measured since it last sent (up to sixty days)."""
    clinician = clinic.acting(scope, "dr.pcp")
    now = scope.clock.now()
    for enrollment in monitoring.list_enrollments(clinician, clinic.patients[key].id):
        if enrollment.status != "active":
            continue
        for device in monitoring.devices(clinician, enrollment):
            if device.revoked_at is not None:
                continue
            since = ensure_utc(device.last_received_at) if device.last_received_at else None
            raws = [
                raw
                for raw in _measured(key, enrollment, device, now)
                if since is None or raw.effective_at > since
            ]
            raws = [replace(raw, index=index) for index, raw in enumerate(raws)]
            if raws:
                monitoring_ingest.ingest(clinician, device, enrollment, raws)


# Each patient's usual values, and how the last days stray from them (days ago -> values).
_USUAL: dict[str, dict[str, float]] = {
    "pat.tx": {"systolic": 136, "diastolic": 84, "heart_rate": 72},
    "pat.fl": {"systolic": 126, "diastolic": 76, "heart_rate": 78, "spo2": 95, "weight": 88.0},
    "pat.ak": {"heart_rate": 84, "spo2": 92},
}
_STRAYING: dict[str, dict[int, dict[str, float]]] = {
    # Blood pressure up these three days: over her own limits.
    "pat.tx": {d: {"systolic": 158 - d, "diastolic": 98 - d} for d in (0, 1, 2)},
    # Fluid: 1.4 kg in a day, and staying up.
    "pat.fl": {0: {"weight": 89.5}, 1: {"weight": 89.4}},
    # One low oxygen reading.
    "pat.ak": {2: {"spo2": 86}},
}
# What each device measures, and at what local time of day.
_MEASURES: dict[str, tuple[time, tuple[str, ...]]] = {
    "blood_pressure_monitor": (time(7, 30), ("systolic", "diastolic", "heart_rate")),
    "weight_scale": (time(7, 0), ("weight",)),
    "pulse_oximeter": (time(7, 45), ("spo2", "heart_rate")),
}
_NOISE = {"systolic": 4.0, "diastolic": 3.0, "heart_rate": 3.0, "spo2": 0.6, "weight": 0.15}


def _measured(
    key: str, enrollment: Enrollment, device: Device, now: datetime
) -> list[monitoring_model.RawReading]:
    """The readings a device took each morning of the last sixty days, up to ``now``: the
    same values every time they are made, so a reading sent twice is the same reading."""
    zone = ZoneInfo(next(p.time_zone for p in _PATIENTS if p.key == key))
    at, metrics = _MEASURES[device.device_type]
    today = now.astimezone(zone).date()
    first = max(enrollment.episode_start, today - timedelta(days=READING_DAYS - 1))
    raws: list[monitoring_model.RawReading] = []
    day = first
    while day <= today:
        moment = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
        if moment > now:
            break
        rng = random.Random(f"{key}:{device.device_type}:{day}")  # noqa: S311 -- sample data
        strayed = _STRAYING[key].get((today - day).days, {})
        for name in metrics:
            metric = monitoring_model.Metric(name)
            value = strayed.get(name, _USUAL[key][name] + rng.uniform(-1, 1) * _NOISE[name])
            value = round(min(value, 100.0), 1) if metric is monitoring_model.Metric.SPO2 else value
            raws.append(
                monitoring_model.RawReading(
                    index=len(raws),
                    code=monitoring_model.CODE_OF[metric],
                    value=round(value, 1),
                    unit=monitoring_model.CANONICAL_UNIT[metric],
                    effective_at=moment,
                )
            )
        day += DAY
    return raws


def _save(path: Path, accounts: list[DemoAccount]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump([asdict(a) for a in accounts], handle, indent=2)


def public_view(accounts: list[DemoAccount]) -> list[dict[str, str]]:
    """The ``demo --json`` shape: email, role, password, and totp_secret for MFA roles."""
    out: list[dict[str, str]] = []
    for a in accounts:
        item = {"email": a.email, "role": a.role, "password": a.password}
        if a.totp_secret:
            item["totp_secret"] = a.totp_secret
        out.append(item)
    return out
