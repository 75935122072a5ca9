"""Rotating the app secret (TELEHEALTH_SECRET_KEY) without MFA re-enrolment: previous keys
still open the TOTP seeds they sealed, `telehealth keys rotate-secret` reseals them under the
current key, and then the previous keys can go (ADR 0020). The keyring and settings tests need
no database; the rest run on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from typer.testing import CliRunner

from telehealth.app import create_app
from telehealth.audit.tables import AuditRow
from telehealth.cli import app as cli
from telehealth.clock import FrozenClock
from telehealth.config import DEV_AUDIT_KEYS, DEV_SECRET_KEY, Environment, Settings
from telehealth.db.engine import make_engine, make_sessionmaker
from telehealth.errors import DomainError, ErrorCode
from telehealth.identity.credentials import SecretBox, SecretKeyring, secret_key_id
from telehealth.identity.keys import reseal_secrets
from telehealth.identity.tables import User
from tests.support import PASSWORD, World, login, real_ports, seed_world, totp_now

KEY_A = secrets.token_urlsafe(48)
KEY_B = secrets.token_urlsafe(48)
KEY_C = secrets.token_urlsafe(48)
MFA_PEOPLE = ("clinician_a", "clinician_x", "admin", "other_admin")


# --- the keyring ----------------------------------------------------------------------------


def test_a_value_sealed_under_a_previous_key_opens_and_reseals_under_the_current_one() -> None:
    sealed = SecretKeyring(KEY_A).seal("JBSWY3DPEHPK3PXP")
    rotated = SecretKeyring(KEY_B, [KEY_A])
    assert rotated.open(sealed) == "JBSWY3DPEHPK3PXP"
    assert rotated.key_id_of(sealed) == secret_key_id(KEY_A)
    assert not rotated.is_current(sealed)
    resealed = rotated.reseal(sealed)
    assert resealed is not None
    assert rotated.is_current(resealed)
    assert rotated.reseal(resealed) is None
    assert SecretKeyring(KEY_B).open(resealed) == "JBSWY3DPEHPK3PXP"


def test_a_value_names_its_key_by_an_id_that_is_not_the_key() -> None:
    sealed = SecretKeyring(KEY_A).seal("JBSWY3DPEHPK3PXP")
    key_id = secret_key_id(KEY_A)
    assert sealed.startswith(key_id.encode() + b":")
    assert key_id != secret_key_id(KEY_B)
    assert key_id not in KEY_A
    assert KEY_A.encode() not in sealed
    assert KEY_A not in repr(SecretKeyring(KEY_B, [KEY_A]))


def test_a_value_from_an_unknown_key_is_a_configuration_error_naming_its_id() -> None:
    sealed = SecretKeyring(KEY_A).seal("JBSWY3DPEHPK3PXP")
    with pytest.raises(DomainError) as refused:
        SecretKeyring(KEY_B, [KEY_C]).open(sealed)
    assert refused.value.code is ErrorCode.CONFIGURATION
    assert refused.value.data["key_id"] == secret_key_id(KEY_A)
    assert "not configured" in refused.value.message


def test_an_altered_value_is_a_configuration_error() -> None:
    sealed = bytearray(SecretKeyring(KEY_A).seal("JBSWY3DPEHPK3PXP"))
    sealed[-5] ^= 1
    with pytest.raises(DomainError) as refused:
        SecretKeyring(KEY_A).open(bytes(sealed))
    assert refused.value.code is ErrorCode.CONFIGURATION


def test_a_value_sealed_before_key_ids_opens_with_whichever_key_sealed_it() -> None:
    bare = SecretBox(KEY_A).seal("JBSWY3DPEHPK3PXP")
    rotated = SecretKeyring(KEY_B, [KEY_A])
    assert rotated.key_id_of(bare) is None
    assert rotated.open(bare) == "JBSWY3DPEHPK3PXP"
    resealed = rotated.reseal(bare)
    assert resealed is not None
    assert rotated.is_current(resealed)
    with pytest.raises(DomainError):
        SecretKeyring(KEY_B).open(bare)


def test_throttle_macs_come_under_every_key_the_current_first() -> None:
    macs = SecretKeyring(KEY_B, [KEY_A]).macs(b"login-throttle:account:x")
    assert len(macs) == 2
    assert macs[0] == SecretKeyring(KEY_B).macs(b"login-throttle:account:x")[0]
    assert macs[1] == SecretKeyring(KEY_A).macs(b"login-throttle:account:x")[0]


# --- settings -------------------------------------------------------------------------------


def production(**overrides: object) -> Settings:
    return Settings(
        env=Environment.PRODUCTION,
        secret_key=KEY_B,
        storage_keks="k1:" + "A" * 43 + "=",
        audit_keys="a1:" + "B" * 43 + "=",
        **overrides,  # type: ignore[arg-type]  # pydantic-settings accepts field kwargs
    )


def test_previous_keys_are_read_comma_separated_after_the_current_one() -> None:
    settings = production(secret_keys_previous=f" {KEY_A} ,,{KEY_B},{KEY_C}")
    assert settings.secret_keys == (KEY_B, KEY_A, KEY_C)
    assert production().secret_keys == (KEY_B,)
    assert KEY_A not in repr(settings)


@pytest.mark.parametrize(
    ("previous", "why"),
    [(DEV_SECRET_KEY, "development key"), (f"{KEY_A},{'s' * 31}", "shorter than 32")],
)
def test_production_refuses_weak_previous_keys(previous: str, why: str) -> None:
    settings = production(secret_keys_previous=previous)
    with pytest.raises(DomainError) as refused:
        settings.check_secrets()
    assert "TELEHEALTH_SECRET_KEYS_PREVIOUS" in refused.value.message
    assert why in refused.value.message
    assert "s" * 31 not in refused.value.message


def test_production_accepts_strong_previous_keys() -> None:
    production(secret_keys_previous=f"{KEY_A},{KEY_C}").check_secrets()
    assert DEV_AUDIT_KEYS not in repr(production())


# --- sign-in across a rotation (SQLite and PostgreSQL) ----------------------------------------


def keyed(settings: Settings, current: str, *previous: str) -> Settings:
    return settings.model_copy(
        update={
            "secret_key": SecretStr(current),
            "secret_keys_previous": SecretStr(",".join(previous)),
        }
    )


@contextmanager
def client_for(settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    application = create_app(settings, ports=real_ports(settings, clock))
    try:
        with TestClient(application) as client:
            yield client
    finally:
        application.state.services.engine.dispose()


def sealed_seeds(settings: Settings) -> dict[str, bytes]:
    engine = make_engine(settings.effective_database_url)
    try:
        with make_sessionmaker(engine)() as session:
            rows = session.execute(
                select(User.email, User.totp_secret_enc).where(User.totp_secret_enc.is_not(None))
            ).all()
    finally:
        engine.dispose()
    return {email.partition("@")[0]: sealed for email, sealed in rows if sealed is not None}


def reseal(settings: Settings, clock: FrozenClock, batch_size: int = 200):  # type: ignore[no-untyped-def]
    engine = make_engine(settings.effective_database_url)
    try:
        return reseal_secrets(
            make_sessionmaker(engine), real_ports(settings, clock), batch_size=batch_size
        )
    finally:
        engine.dispose()


def signs_in(settings: Settings, clock: FrozenClock, people: World, key: str) -> int:
    person = people[key]
    assert person.totp_secret is not None
    with client_for(settings, clock) as client:
        code = totp_now(person.totp_secret, clock)
        return login(client, person.email, PASSWORD, totp=code).status_code


@pytest.fixture
def under_a(settings: Settings) -> Settings:
    return keyed(settings, KEY_A)


@pytest.fixture
def people(under_a: Settings, clock: FrozenClock) -> World:
    """The world, every MFA seed sealed under key A."""
    return seed_world(under_a, clock, with_passwords=True)


@pytest.mark.db
def test_a_user_enrolled_under_a_signs_in_through_the_rotation_to_b(
    settings: Settings, clock: FrozenClock, people: World
) -> None:
    overlap = keyed(settings, KEY_B, KEY_A)
    assert signs_in(overlap, clock, people, "clinician_a") == 200

    report = reseal(overlap, clock, batch_size=3)
    assert report.current_key_id == secret_key_id(KEY_B)
    assert report.resealed == len(MFA_PEOPLE)
    assert report.already_current == 0
    assert report.unreadable == ()
    assert report.batches == 2
    seeds = sealed_seeds(settings)
    assert sorted(seeds) == sorted(MFA_PEOPLE)
    assert all(SecretKeyring(KEY_B).is_current(sealed) for sealed in seeds.values())

    again = reseal(overlap, clock)
    assert (again.resealed, again.already_current) == (0, len(MFA_PEOPLE))
    assert sealed_seeds(settings) == seeds

    clock.advance(timedelta(minutes=1))
    assert signs_in(keyed(settings, KEY_B), clock, people, "clinician_a") == 200
    assert signs_in(keyed(settings, KEY_B), clock, people, "admin") == 200


@pytest.mark.db
def test_resealing_is_audited_per_user_without_the_seed(
    settings: Settings, clock: FrozenClock, people: World
) -> None:
    reseal(keyed(settings, KEY_B, KEY_A), clock)
    engine = make_engine(settings.effective_database_url)
    try:
        with make_sessionmaker(engine)() as session:
            rows = (
                session.execute(select(AuditRow).where(AuditRow.object_type == "credentials"))
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    resealed = [r for r in rows if (r.detail or {}).get("event") == "mfa_secret_resealed"]
    assert sorted(r.object_id for r in resealed) == sorted(
        str(people[key].user_id) for key in MFA_PEOPLE
    )
    assert all(
        r.detail == {"event": "mfa_secret_resealed", "key_id": secret_key_id(KEY_B)}
        for r in resealed
    )


@pytest.mark.db
def test_a_seed_from_a_key_no_longer_configured_is_a_clear_error(
    settings: Settings, clock: FrozenClock, people: World
) -> None:
    with client_for(keyed(settings, KEY_C), clock) as client:
        person = people["clinician_a"]
        assert person.totp_secret is not None
        answer = login(client, person.email, PASSWORD, totp=totp_now(person.totp_secret, clock))
    assert answer.status_code == 500
    assert answer.json()["code"] == "configuration"
    assert "secret key that is not configured" in answer.json()["detail"]
    assert KEY_A not in answer.text

    report = reseal(keyed(settings, KEY_C), clock)
    assert report.resealed == 0
    assert sorted(report.unreadable) == sorted(people[key].user_id for key in MFA_PEOPLE)
    assert report.unreadable_by_key == {secret_key_id(KEY_A): len(MFA_PEOPLE)}
    assert all(not SecretKeyring(KEY_C).is_current(s) for s in sealed_seeds(settings).values())


@pytest.mark.db
def test_a_wait_counted_under_the_previous_key_still_holds_during_the_overlap(
    settings: Settings, clock: FrozenClock, people: World
) -> None:
    patient = people["patient_a"]
    with client_for(keyed(settings, KEY_A), clock) as client:
        for _ in range(settings.login_account_free_failures + 1):
            login(client, patient.email, "not the password at all")
    with client_for(keyed(settings, KEY_B, KEY_A), clock) as client:
        assert login(client, patient.email).status_code == 429
    # Once the previous key is gone, so are the counts made under it.
    with client_for(keyed(settings, KEY_B), clock) as client:
        assert login(client, patient.email).status_code == 200


@pytest.mark.db
def test_a_success_during_the_overlap_forgets_the_account_counts_under_every_key(
    settings: Settings, clock: FrozenClock, people: World
) -> None:
    patient = people["patient_a"]
    # One short of the failures that start a wait.
    free = settings.login_account_free_failures
    with client_for(keyed(settings, KEY_A), clock) as client:
        for _ in range(free - 1):
            login(client, patient.email, "not the password at all")
    with client_for(keyed(settings, KEY_B, KEY_A), clock) as client:
        assert login(client, patient.email).status_code == 200
    # Had the counts under A survived, this failure would start a wait under the overlap.
    with client_for(keyed(settings, KEY_A), clock) as client:
        login(client, patient.email, "not the password at all")
        assert login(client, patient.email).status_code == 200


# --- the command ----------------------------------------------------------------------------


@pytest.mark.db
def test_the_command_reseals_reports_counts_and_is_idempotent(
    settings: Settings,
    clock: FrozenClock,
    people: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEHEALTH_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("TELEHEALTH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TELEHEALTH_SECRET_KEY", KEY_B)
    monkeypatch.setenv("TELEHEALTH_SECRET_KEYS_PREVIOUS", KEY_A)
    runner = CliRunner()
    first = runner.invoke(cli, ["keys", "rotate-secret", "--batch-size", "2"])
    assert first.exit_code == 0, first.output
    assert f"current key {secret_key_id(KEY_B)}: resealed {len(MFA_PEOPLE)}," in first.output
    assert "unreadable 0" in first.output
    second = runner.invoke(cli, ["keys", "rotate-secret"])
    assert second.exit_code == 0, second.output
    assert f"resealed 0, already current {len(MFA_PEOPLE)}" in second.output
    assert KEY_A not in first.output + second.output
    assert KEY_B not in first.output + second.output

    monkeypatch.setenv("TELEHEALTH_SECRET_KEY", KEY_C)
    monkeypatch.delenv("TELEHEALTH_SECRET_KEYS_PREVIOUS")
    lost = runner.invoke(cli, ["keys", "rotate-secret"])
    assert lost.exit_code == 1
    assert f"sealed with key id {secret_key_id(KEY_B)}" in lost.output
    assert str(people["admin"].user_id) in lost.output


def test_generate_secret_prints_a_strong_key_and_its_id() -> None:
    shown = CliRunner().invoke(cli, ["keys", "generate-secret"])
    assert shown.exit_code == 0, shown.output
    key = shown.output.splitlines()[0]
    assert len(key) >= 48
    assert f"key id {secret_key_id(key)}" in shown.output
