"""tus uploads through the app: checks before the body, content checks, encrypted storage."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from telehealth.clock import FrozenClock
from telehealth.config import Settings
from telehealth.jobs import registered, run_job
from tests.review.support import case_body, image_with_gps, observation
from tests.support import World

pytestmark = pytest.mark.db

TUS = {"Tus-Resumable": "1.0.0"}
CANARY = b"CanaryLabValue-7f3a"


def _meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def _draft(client: TestClient, world: World, person: str = "patient_a") -> str:
    response = client.post("/v1/cases", json=case_body(), headers=world[person].headers)
    assert response.status_code == 201
    return str(response.json()["id"])


def _create(
    client: TestClient,
    world: World,
    case_id: str,
    length: int,
    person: str = "patient_a",
    **meta: str,
) -> Any:
    headers = {
        **world[person].headers,
        **TUS,
        "Upload-Length": str(length),
        "Upload-Metadata": _meta(case_id=case_id, filename="photo.jpg", **meta),
    }
    return client.post("/v1/uploads/", headers=headers)


def _patch(
    client: TestClient,
    world: World,
    url: str,
    offset: int,
    data: bytes,
    person: str = "patient_a",
    **extra: str,
) -> Any:
    headers = {
        **world[person].headers,
        **TUS,
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
        **extra,
    }
    return client.patch(url, content=data, headers=headers)


def _upload(
    client: TestClient, world: World, case_id: str, data: bytes, pieces: int = 2, **meta: str
) -> Any:
    created = _create(client, world, case_id, len(data), **meta)
    assert created.status_code == 201, created.text
    url = created.headers["location"]
    step = max(16, len(data) // pieces + 1)
    offset = 0
    response = None
    while offset < len(data):
        response = _patch(client, world, url, offset, data[offset : offset + step])
        if response.status_code != 204:
            return response
        offset = int(response.headers["upload-offset"])
    return response


def _pdf(size: int = 5000) -> bytes:
    body = b"%PDF-1.7\n" + CANARY + os.urandom(max(0, size - 40))
    return body + b"\n%%EOF\n"


def _case(client: TestClient, world: World, case_id: str, person: str = "patient_a") -> Any:
    return client.get(f"/v1/cases/{case_id}", headers=world[person].headers).json()


def _objects(settings: Settings) -> list[Path]:
    root = settings.blob_dir / "objects"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _staged(settings: Settings) -> list[str]:
    root = settings.blob_dir / "staging"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_options_advertise_the_tus_extensions(client: TestClient, world: World) -> None:
    response = client.options("/v1/uploads/", headers=world["patient_a"].headers)
    assert response.status_code == 204
    assert response.headers["tus-version"] == "1.0.0"
    assert set(response.headers["tus-extension"].split(",")) == {
        "creation",
        "expiration",
        "checksum",
        "termination",
    }
    assert "sha256" in response.headers["tus-checksum-algorithm"]


def test_photo_is_reencoded_without_gps_and_served_inline_for_the_viewer(
    client: TestClient, world: World
) -> None:
    case_id = _draft(client, world)
    original = image_with_gps("JPEG", (320, 240))
    done = _upload(client, world, case_id, original, pieces=3, filetype="image/jpeg")
    assert done.status_code == 204
    [item] = _case(client, world, case_id)["media"]
    assert (item["kind"], item["content_type"]) == ("image", "image/jpeg")
    assert item["upload_sha256"] == hashlib.sha256(original).hexdigest()
    download = client.get(item["download"], headers=world["clinician_a"].headers)
    assert download.status_code == 200
    assert download.headers["cache-control"] == "no-store"
    # Shown in the case page's viewer, under a policy that runs nothing.
    assert download.headers["content-disposition"] == 'inline; filename="photo.jpg"'
    assert download.headers["content-security-policy"].startswith("default-src 'none';")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert hashlib.sha256(download.content).hexdigest() == item["sha256"]
    assert b"CanaryExifDescription" not in download.content
    with Image.open(io.BytesIO(download.content)) as image:
        assert image.size == (320, 240)
        assert image.getexif().get_ifd(0x8825) == {}
    audit = client.get(
        "/v1/audit", params={"action": "download"}, headers=world["admin"].headers
    ).json()
    assert [row["object_id"] for row in audit] == [item["id"]]
    assert audit[0]["patient_id"] == str(world["patient_a"].patient_id)


def test_lab_results_as_pdf_and_fhir_observation(client: TestClient, world: World) -> None:
    case_id = _draft(client, world)
    assert _upload(client, world, case_id, _pdf()).status_code == 204
    assert (
        _upload(
            client, world, case_id, observation(), pieces=1, filetype="application/fhir+json"
        ).status_code
        == 204
    )
    refused = _upload(client, world, case_id, observation(resourceType="Patient"), pieces=1)
    assert refused.status_code == 422
    kinds = sorted(m["kind"] for m in _case(client, world, case_id)["media"])
    assert kinds == ["document", "observation"]


def test_limits_and_metadata_are_checked_before_any_body(client: TestClient, world: World) -> None:
    case_id = _draft(client, world)
    assert _create(client, world, case_id, 600 * 1024 * 1024).status_code == 413
    too_big_photo = _create(client, world, case_id, 30 * 1024 * 1024, filetype="image/png")
    assert too_big_photo.status_code == 413
    assert _create(client, world, case_id, 100, filetype="text/html").status_code == 415
    assert _create(client, world, case_id, 0).status_code == 400
    no_case = client.post(
        "/v1/uploads/",
        headers={
            **world["patient_a"].headers,
            **TUS,
            "Upload-Length": "100",
            "Upload-Metadata": _meta(filename="x.jpg"),
        },
    )
    assert no_case.status_code == 400
    deferred = client.post(
        "/v1/uploads/",
        headers={
            **world["patient_a"].headers,
            **TUS,
            "Upload-Defer-Length": "1",
            "Upload-Metadata": _meta(case_id=case_id),
        },
    )
    assert deferred.status_code == 400
    old_protocol = client.post(
        "/v1/uploads/",
        headers={**world["patient_a"].headers, "Tus-Resumable": "0.2.2", "Upload-Length": "10"},
    )
    assert old_protocol.status_code == 412
    assert old_protocol.headers["tus-version"] == "1.0.0"
    # Another patient's case, and a case no longer taking files.
    other = _draft(client, world, "patient_b")
    assert _create(client, world, other, 100).status_code == 404
    client.post(f"/v1/cases/{case_id}/submit", headers=world["patient_a"].headers)
    assert _create(client, world, case_id, 100).status_code == 409


def test_offset_mismatch_conflicts_and_bad_checksum_keeps_the_offset(
    client: TestClient, world: World
) -> None:
    case_id = _draft(client, world)
    data = _pdf(3000)
    url = _create(client, world, case_id, len(data)).headers["location"]
    first = _patch(client, world, url, 0, data[:1000])
    assert first.status_code == 204
    assert first.headers["upload-offset"] == "1000"
    assert _patch(client, world, url, 0, data[:1000]).status_code == 409
    assert _patch(client, world, url, 1500, data[1500:2000]).status_code == 409
    wrong = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()
    mismatch = _patch(
        client, world, url, 1000, data[1000:2000], **{"Upload-Checksum": f"sha256 {wrong}"}
    )
    assert mismatch.status_code == 460
    head = client.head(url, headers={**world["patient_a"].headers, **TUS})
    assert head.headers["upload-offset"] == "1000"
    assert head.headers["cache-control"] == "no-store"
    unknown = _patch(
        client, world, url, 1000, data[1000:2000], **{"Upload-Checksum": f"crc32 {wrong}"}
    )
    assert unknown.status_code == 400
    right = base64.b64encode(hashlib.sha256(data[1000:]).digest()).decode()
    done = _patch(client, world, url, 1000, data[1000:], **{"Upload-Checksum": f"sha256 {right}"})
    assert done.status_code == 204
    [item] = _case(client, world, case_id)["media"]
    assert item["sha256"] == hashlib.sha256(data).hexdigest()


def test_content_type_and_body_rules(client: TestClient, world: World) -> None:
    case_id = _draft(client, world)
    data = _pdf(2000)
    url = _create(client, world, case_id, len(data)).headers["location"]
    as_json = client.patch(
        url,
        content=data,
        headers={
            **world["patient_a"].headers,
            **TUS,
            "Upload-Offset": "0",
            "Content-Type": "application/json",
        },
    )
    assert as_json.status_code == 415
    too_long = _patch(client, world, url, 0, data + b"extra")
    assert too_long.status_code == 413
    tiny = _patch(client, world, url, 0, data[:4])
    assert tiny.status_code == 400
    assert _patch(client, world, url, 0, data).status_code == 204


@pytest.mark.parametrize(
    ("content", "declared", "status"),
    [
        (b"%PDF-1.7\n" + bytes(200), "image/png", 415),  # declared a photo, sent a PDF
        (b"<html><script>alert(1)</script>" + bytes(100), None, 415),
        (b"\xff\xd8\xff\xe0" + os.urandom(400), "image/jpeg", 422),  # a corrupt JPEG
        (image_with_gps("JPEG"), "image/png", 415),  # the right kind, the wrong type
        (image_with_gps("PNG"), "image/jpeg", 415),
        (observation(valueQuantity={"value": float("nan")}), "application/fhir+json", 422),
        (observation(valueQuantity={"value": float("-inf")}), None, 422),
    ],
    ids=["pdf-as-png", "html", "corrupt-jpeg", "jpeg-as-png", "png-as-jpeg", "nan", "infinity"],
)
def test_refused_content_leaves_nothing_behind(
    client: TestClient,
    world: World,
    settings: Settings,
    content: bytes,
    declared: str | None,
    status: int,
) -> None:
    case_id = _draft(client, world)
    before = _objects(settings)
    meta = {"filetype": declared} if declared else {}
    created = _create(client, world, case_id, len(content), **meta)
    url = created.headers["location"]
    response = _patch(client, world, url, 0, content)
    assert response.status_code == status
    assert _case(client, world, case_id)["media"] == []
    assert _objects(settings) == before
    assert _staged(settings) == []
    # The refused upload is finished for good.
    assert _patch(client, world, url, 0, content).status_code == 410


def test_oversize_by_detected_type_is_refused_at_the_first_bytes(
    client: TestClient, world: World, settings: Settings
) -> None:
    case_id = _draft(client, world)
    created = _create(client, world, case_id, 30 * 1024 * 1024)  # fine for a video, not a photo
    url = created.headers["location"]
    response = _patch(client, world, url, 0, image_with_gps("PNG"))
    assert response.status_code == 413
    assert _staged(settings) == []


def test_tampered_ciphertext_is_refused_never_served(
    client: TestClient, world: World, settings: Settings
) -> None:
    case_id = _draft(client, world)
    assert _upload(client, world, case_id, _pdf(4000)).status_code == 204
    [item] = _case(client, world, case_id)["media"]
    [blob] = [p for p in _objects(settings) if not p.name.endswith(".key")]
    raw = bytearray(blob.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    blob.write_bytes(bytes(raw))
    response = client.get(item["download"], headers=world["patient_a"].headers)
    assert response.status_code == 500
    assert response.json()["code"] == "integrity_error"
    assert CANARY not in response.content
    audit = client.get(
        "/v1/audit", params={"action": "download"}, headers=world["admin"].headers
    ).json()
    assert [row["outcome"] for row in audit] == ["failure"]


def test_raw_storage_holds_no_plaintext(
    client: TestClient, world: World, settings: Settings
) -> None:
    case_id = _draft(client, world)
    data = _pdf(200_000)
    created = _create(client, world, case_id, len(data))
    url = created.headers["location"]
    _patch(client, world, url, 0, data[:100_000])
    staged = list((settings.blob_dir / "staging").rglob("*"))
    assert staged
    assert all(CANARY not in p.read_bytes() for p in staged if p.is_file())
    _patch(client, world, url, 100_000, data[100_000:])
    files = [p for p in settings.data_dir.rglob("*") if p.is_file()]
    assert any(p.parent.parent.name == "objects" for p in files)
    assert all(CANARY not in p.read_bytes() for p in files)


def test_someone_elses_upload_does_not_exist(client: TestClient, world: World) -> None:
    case_id = _draft(client, world)
    url = _create(client, world, case_id, 1000).headers["location"]
    missing = f"/v1/uploads/{uuid.uuid4().hex}"
    for person in ("patient_b", "clinician_a", "coordinator", "other_admin"):
        headers = {**world[person].headers, **TUS}
        assert client.head(url, headers=headers).status_code == 404
        assert client.head(missing, headers=headers).status_code == 404
        got = _patch(client, world, url, 0, _pdf(900), person=person)
        fake = _patch(client, world, missing, 0, _pdf(900), person=person)
        assert (got.status_code, got.json()["detail"]) == (fake.status_code, fake.json()["detail"])
        assert client.delete(url, headers=headers).status_code == 404
    assert client.head(url, headers=TUS).status_code == 401
    owner = client.head(url, headers={**world["patient_a"].headers, **TUS})
    assert (owner.status_code, owner.headers["upload-offset"]) == (200, "0")


@pytest.fixture
def two_hour_uploads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set before the settings are read (a test asks for it ahead of them)."""
    monkeypatch.setenv("TELEHEALTH_REVIEW_UPLOAD_EXPIRY_HOURS", "2")


def test_expired_uploads_are_gone_and_purged(
    two_hour_uploads: None,
    app: FastAPI,
    client: TestClient,
    world: World,
    settings: Settings,
    clock: FrozenClock,
) -> None:
    assert settings.review.upload_expiry_hours == 2
    case_id = _draft(client, world)
    data = _pdf(3000)
    created = _create(client, world, case_id, len(data))
    url = created.headers["location"]
    assert "upload-expires" in {k.lower() for k in created.headers}
    _patch(client, world, url, 0, data[:1000])
    assert _staged(settings)
    # An upload in progress holds the case back from routing.
    submit = client.post(f"/v1/cases/{case_id}/submit", headers=world["patient_a"].headers)
    assert submit.status_code == 409
    clock.advance(timedelta(hours=2, seconds=1))
    assert _patch(client, world, url, 1000, data[1000:]).status_code == 410
    head = client.head(url, headers={**world["patient_a"].headers, **TUS})
    assert head.status_code == 410
    job = next(j for j in registered() if j.name == "review.expire_uploads")
    services = app.state.services
    assert run_job(job, services.sessions, services.ports) == 1
    assert _staged(settings) == []
    submitted = client.post(f"/v1/cases/{case_id}/submit", headers=world["patient_a"].headers)
    assert submitted.status_code == 200


def test_termination_removes_the_staged_bytes(
    client: TestClient, world: World, settings: Settings
) -> None:
    case_id = _draft(client, world)
    url = _create(client, world, case_id, 3000).headers["location"]
    _patch(client, world, url, 0, _pdf(3000)[:500])
    deleted = client.delete(url, headers={**world["patient_a"].headers, **TUS})
    assert deleted.status_code == 204
    assert _staged(settings) == []
    assert client.head(url, headers={**world["patient_a"].headers, **TUS}).status_code == 404


def test_status_as_json(client: TestClient, world: World) -> None:
    case_id = _draft(client, world)
    url = _create(client, world, case_id, 3000).headers["location"]
    _patch(client, world, url, 0, _pdf(3000)[:700])
    status = client.get(url, headers=world["patient_a"].headers).json()
    assert (status["offset"], status["length"], status["status"]) == (700, 3000, "open")
