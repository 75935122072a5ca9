"""Helpers for review tests: acting as a seeded person, building cases in any state, files."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

from PIL import Image, ImageDraw

from telehealth.identity import service as identity
from telehealth.identity.model import LicenseKind, Role
from telehealth.review import service, uploads
from telehealth.review.model import Recommendation
from telehealth.review.tables import ReviewMedia
from telehealth.scope import Scope, open_scope
from telehealth.web.scoped import Services
from tests.support import Person, World, services_for

DERM_ANSWERS: dict[str, Any] = {
    "body_site": "arm",
    "duration": "1_to_6_months",
    "changed": True,
    "change_details": "darker",
    "symptoms": ["itch"],
    "lesion_count": 1,
}


def case_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "specialty": "dermatology",
        "reason": "Mole on my arm got darker",
        "urgency": "routine",
        "location_state": "TX",
        "payer": "commercial",
        "questionnaire": {"id": "dermatology_lesion", "version": 2},
        "answers": DERM_ANSWERS,
    }
    body.update(overrides)
    return body


@contextmanager
def acting(services: Services, person: Person) -> Iterator[Scope]:
    scope = open_scope(services.sessions, services.ports, request_id="test")
    try:
        scope.act_as(identity.resolve_token(scope, person.token))
        yield scope
        scope.uow.commit()
    finally:
        scope.uow.close()


def case_input(patient_id: uuid.UUID | None = None, **overrides: Any) -> service.CaseInput:
    values: dict[str, Any] = {
        "specialty": "dermatology",
        "reason": "Mole on my arm got darker",
        "urgency": "routine",
        "acuity": "routine",
        "purpose": "new_problem",
        "location_state": "TX",
        "payer": "commercial",
        "setting": "home",
        "questionnaire_id": "dermatology_lesion",
        "questionnaire_version": 2,
        "answers": dict(DERM_ANSWERS),
        "patient_id": patient_id,
    }
    values.update(overrides)
    return service.CaseInput(**values)


REPORT = service.ReportInput(
    findings="Regular pigmented macule",
    assessment="Benign naevus",
    diagnosis_codes=["D22.5"],
    recommendation=Recommendation.SELF_CARE,
    minutes=12,
)


def build_case(world: World, stage: str) -> uuid.UUID:
    """Patient A's self-referral advanced to ``stage``: draft, queued, claimed, asked,
    drafted (report written), signed. Claims and reports are clinician A's."""
    with services_for(world) as services:
        with acting(services, world["patient_a"]) as scope:
            case_id = service.create_case(scope, case_input()).id
        if stage == "draft":
            return case_id
        with acting(services, world["patient_a"]) as scope:
            service.submit_case(scope, case_id)
        if stage == "queued":
            return case_id
        with acting(services, world["clinician_a"]) as scope:
            service.claim_case(scope, case_id)
            if stage == "asked":
                service.request_info(scope, case_id, "Is it raised?")
            if stage in ("drafted", "signed"):
                service.write_report(scope, case_id, REPORT)
            if stage == "signed":
                service.sign_report(scope, case_id)
    return case_id


def signed_report_id(world: World, case_id: uuid.UUID) -> uuid.UUID:
    """The id of a case's report (its first version), read as its reviewer."""
    with services_for(world) as services, acting(services, world["clinician_a"]) as scope:
        return service.case_view(scope, case_id, record_read=False).reports[0].id


def add_media(
    world: World,
    case_id: uuid.UUID,
    data: bytes = b"%PDF-1.7 canary",
    content_type: str = "application/pdf",
    *,
    kind: str = "document",
    filename: str = "lab.pdf",
) -> uuid.UUID:
    blobs = world.ports.uploads.blobs
    stored = blobs.put([data], content_type=content_type)
    with services_for(world) as services, acting(services, world["patient_a"]) as scope:
        case = service.readable_case(scope, case_id)
        item = ReviewMedia(
            case_id=case.id,
            patient_id=case.patient_id,
            kind=kind,
            content_type=content_type,
            filename=filename,
            size=stored.size,
            sha256=stored.sha256,
            upload_sha256=stored.sha256,
            blob_id=stored.blob_id,
            uploaded_by=world["patient_a"].user_id,
            created_at=scope.clock.now(),
        )
        scope.session.add(item)
        scope.session.flush()
        return item.id


def open_upload(world: World, case_id: uuid.UUID | None = None, length: int = 1000) -> str:
    case_id = case_id or build_case(world, "draft")
    with services_for(world) as services, acting(services, world["patient_a"]) as scope:
        return uploads.create_upload(
            scope,
            str(length),
            uploads.encode_metadata({"case_id": str(case_id), "filename": "x.pdf"}),
            False,
        ).id


def add_reviewer(
    scope: Scope,
    world: World,
    key: str,
    *,
    specialty: str,
    state: str | None,
    expires_on: date | None = None,
) -> Person:
    """Another clinician of the organization, not on patient A's care team."""
    created = identity.create_user(
        scope,
        org_id=world.org_id,
        email=f"{key}@example.test",
        role=Role.CLINICIAN,
        display_name=key,
        password=None,
    )
    identity.set_clinician_profile(scope, created.user.id, specialties=[specialty])
    if state:
        identity.add_license(
            scope,
            created.user.id,
            state=state,
            kind=LicenseKind.FULL,
            number=f"{state}-{key}",
            expires_on=expires_on,
        )
    token = identity.issue_token(scope, created.user, label="test", minutes=None, mfa_verified=True)
    person = Person(created.user.id, created.user.email, Role.CLINICIAN, token.secret)
    world.people[key] = person
    return person


def image_with_gps(fmt: str = "JPEG", size: tuple[int, int] = (64, 48)) -> bytes:
    """An image carrying EXIF with a GPS position (and a textual canary in the EXIF)."""
    image = Image.new("RGB", size, (200, 120, 80))
    exif = Image.Exif()
    exif[0x010E] = "CanaryExifDescription"  # ImageDescription
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (51.0, 30.0, 0.0)
    gps[3] = "W"
    gps[4] = (0.0, 7.0, 0.0)
    out = io.BytesIO()
    image.save(out, format=fmt, exif=exif)
    return out.getvalue()


def photo_bytes(color: tuple[int, int, int], size: tuple[int, int] = (96, 64)) -> bytes:
    """A PNG photo: a field of one colour with a lighter disc, so that zooming shows."""
    image = Image.new("RGB", size, color)
    width, height = size
    light = tuple(min(255, c + 90) for c in color)
    ImageDraw.Draw(image).ellipse(
        (width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=light, outline=(0, 0, 0)
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def add_photos(
    world: World, case_id: uuid.UUID, count: int, size: tuple[int, int] = (96, 64)
) -> list[uuid.UUID]:
    """``count`` PNG photos of the case, each a different colour, a second apart (the case
    lists its files in the order they arrived)."""
    colors = [(200, 60, 60), (60, 140, 60), (60, 90, 200), (160, 120, 20)]
    added = []
    for n in range(count):
        world.clock.advance(timedelta(seconds=1))
        added.append(
            add_media(
                world,
                case_id,
                photo_bytes(colors[n % len(colors)], size),
                "image/png",
                kind="image",
                filename=f"photo-{n + 1}.png",
            )
        )
    return added


def observation(**overrides: Any) -> bytes:
    import json

    doc: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
        "valueQuantity": {"value": 13.2, "unit": "g/dL"},
    }
    doc.update(overrides)
    return json.dumps(doc).encode()
