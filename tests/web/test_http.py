"""HTTP behaviour shared by every route: headers, problem details, validation, health."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from telehealth.audit.keys import chain_keys
from telehealth.clock import FrozenClock
from telehealth.config import DEV_AUDIT_KEYS, DEV_SECRET_KEY, Environment, Settings
from telehealth.errors import DomainError
from telehealth.process import YOUNG_COLLECTION_THRESHOLD
from tests.support import World, login, seed_world

pytestmark = pytest.mark.db


def test_phi_response_carries_security_headers_and_no_store(
    client: TestClient, world: World
) -> None:
    patient = world["patient_a"]
    response = client.get(f"/v1/patients/{patient.patient_id}", headers=patient.headers)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers  # plain HTTP in tests
    assert response.headers["x-request-id"]


def test_validation_errors_are_problem_details_without_echoing_values(
    client: TestClient, world: World
) -> None:
    coordinator = world["coordinator"]
    response = client.post(
        "/v1/patients",
        headers=coordinator.headers,
        json={
            "given_name": "Quentin",
            "family_name": "Canaryson",
            "birth_date": "not-a-date-QX7",
            "home_state": "TX",
        },
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "invalid_input"
    assert body["errors"][0]["field"] == "body.birth_date"
    assert "QX7" not in response.text


def test_unknown_fields_are_refused_not_ignored(client: TestClient, world: World) -> None:
    patient = world["patient_a"]
    response = client.patch(
        f"/v1/patients/{patient.patient_id}",
        headers=patient.headers,
        json={"version": 1, "org_id": str(world.other_org_id)},
    )
    assert response.status_code == 422


def test_stale_version_is_a_conflict_not_a_lost_update(client: TestClient, world: World) -> None:
    patient = world["patient_a"]
    path = f"/v1/patients/{patient.patient_id}"
    first = client.patch(path, headers=patient.headers, json={"phone": "1", "version": 1})
    assert first.status_code == 200
    second = client.patch(path, headers=patient.headers, json={"phone": "2", "version": 1})
    assert second.status_code == 409
    assert client.get(path, headers=patient.headers).json()["phone"] == "1"


def test_duplicate_account_is_a_conflict(client: TestClient, world: World) -> None:
    body = {"email": world["patient_a"].email, "display_name": "Dup", "role": "patient"}
    response = client.post("/v1/users", headers=world["admin"].headers, json=body)
    assert response.status_code == 409


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_openapi_lists_the_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/patients/{patient_id}" in spec["paths"]
    assert spec["components"]["schemas"]["PatientOut"]["additionalProperties"] is False


def test_cross_origin_cookie_write_is_refused(
    client: TestClient, settings: Settings, clock: FrozenClock
) -> None:
    response = client.post("/v1/auth/logout", headers={"Origin": "https://evil.example"})
    assert response.status_code == 401  # no cookie yet: refused before any origin question
    people = seed_world(settings, clock, with_passwords=True)
    assert login(client, people["patient_a"].email).status_code == 200
    refused = client.post("/v1/tokens", json={}, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert (
        client.post("/v1/tokens", json={}, headers={"Origin": "http://testserver"}).status_code
        == 201
    )


def test_production_refuses_development_secrets(tmp_path: object) -> None:
    with pytest.raises(DomainError):
        Settings(env=Environment.PRODUCTION).check_secrets()
    strong = Settings(
        env=Environment.PRODUCTION,
        secret_key="x" * 48,
        storage_keks="k1:" + "A" * 43 + "=",
        audit_keys="a1:" + "B" * 43 + "=",
    )
    strong.check_secrets()
    assert DEV_SECRET_KEY not in repr(strong)


@pytest.mark.parametrize("audit_keys", [DEV_AUDIT_KEYS, "a2:" + "B" * 43 + "=," + DEV_AUDIT_KEYS])
def test_production_refuses_the_development_audit_key(audit_keys: str) -> None:
    """Anyone could re-hash an edited audit row with the public development key, so production
    refuses it, current or kept for old rows."""
    settings = Settings(
        env=Environment.PRODUCTION,
        secret_key="x" * 48,
        storage_keks="k1:" + "A" * 43 + "=",
        audit_keys=audit_keys,
    )
    with pytest.raises(DomainError) as refused:
        settings.check_secrets()
    assert "TELEHEALTH_AUDIT_KEYS" in refused.value.message


@pytest.mark.parametrize(
    ("audit_keys", "problem"),
    [("a1:not base64!", "not valid base64"), ("a1:" + "A" * 20, "not 32 bytes"), (" ", "no keys")],
)
def test_malformed_audit_keys_are_refused_without_echoing_them(
    audit_keys: str, problem: str
) -> None:
    with pytest.raises(DomainError) as refused:
        chain_keys(Settings(audit_keys=audit_keys))
    assert refused.value.message.startswith("audit keys: ")
    assert problem in refused.value.message
    secret = audit_keys.partition(":")[2].strip()
    assert not secret or secret not in refused.value.message


def test_a_server_process_sets_its_startup_heap_aside(settings: Settings) -> None:
    """A serving process freezes its startup objects out of garbage collection and collects
    its youngest generation less often."""
    code = (
        "import gc, sys\n"
        "from telehealth.app import serving_app\n"
        "from telehealth.config import Settings\n"
        "serving_app(Settings(data_dir=sys.argv[1], database_url=sys.argv[2]), run_jobs=False)\n"
        "print(gc.get_freeze_count(), gc.get_threshold()[0])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(settings.data_dir), settings.effective_database_url],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    frozen, young = map(int, done.stdout.split())
    assert frozen > 10_000
    assert young == YOUNG_COLLECTION_THRESHOLD


NEWLY_MAPPED = (
    "import ctypes, sys\n"
    "from telehealth.app import create_app, serving_app\n"
    "from telehealth.config import Settings\n"
    "class MallInfo2(ctypes.Structure):\n"
    "    _fields_ = [(name, ctypes.c_size_t) for name in ('arena', 'ordblks', 'smblks',"
    " 'hblks', 'hblkhd', 'usmblks', 'fsmblks', 'uordblks', 'fordblks', 'keepcost')]\n"
    "mallinfo2 = ctypes.CDLL('libc.so.6').mallinfo2\n"
    "mallinfo2.restype = MallInfo2\n"
    "build = serving_app if sys.argv[3] == 'serving' else create_app\n"
    "build(Settings(data_dir=sys.argv[1], database_url=sys.argv[2]), run_jobs=False)\n"
    "before = mallinfo2().hblkhd\n"
    "piece = bytes(3 * 1024 * 1024)  # a few body pieces' worth\n"
    "print(mallinfo2().hblkhd - before)\n"
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_server_process_serves_large_pieces_from_its_heap(settings: Settings) -> None:
    """Megabyte-sized blocks come from the heap in a serving process, not from fresh mappings
    whose every page faults on first touch and is unmapped again when freed."""

    def newly_mapped(kind: str) -> int:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                NEWLY_MAPPED,
                str(settings.data_dir),
                settings.effective_database_url,
                kind,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return int(done.stdout)

    assert newly_mapped("serving") == 0
    assert newly_mapped("plain") >= 3 * 1024 * 1024
