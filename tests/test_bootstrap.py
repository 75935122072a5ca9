"""The composition root: one settings object, ports built once and handed down (ADR 0012)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from telehealth.app import create_app
from telehealth.bootstrap import bootstrap, bootstrap_for_tests
from telehealth.clock import FrozenClock
from telehealth.config import Settings
from telehealth.db.engine import make_engine, make_sessionmaker
from telehealth.jobs import registered, run_job
from telehealth.notifications.mailer import MemoryMailer
from telehealth.notifications.service import notify
from telehealth.policy.loader import load_ruleset
from telehealth.ports import Ports
from telehealth.storage import LocalBlobStore, MemoryBlobStore
from tests.access.matrix import SAMPLE_FACTS
from tests.policy.support import copy_policies
from tests.support import World, scope_for, seed_world

ROOT = Path(__file__).resolve().parents[1]


def test_settings_groups_read_the_variables_they_always_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEHEALTH_REVIEW_CLAIM_MINUTES", "30")
    monkeypatch.setenv("TELEHEALTH_REVIEW_MAX_VIDEO_BYTES", "2048")
    monkeypatch.setenv("TELEHEALTH_TURN_TTL_MINUTES", "5")
    monkeypatch.setenv("TELEHEALTH_NOTE_SIGN_WINDOW_HOURS", "2")
    monkeypatch.setenv("TELEHEALTH_WORKER_THREADS", "3")
    settings = Settings()
    assert settings.worker_threads == 3
    assert settings.review.claim_minutes == 30
    assert settings.review.max_bytes_for("video") == 2048
    assert settings.visits.turn_ttl_minutes == 5
    assert settings.visits.note_sign_window_hours == 2


def test_a_bad_group_variable_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEHEALTH_REVIEW_CLAIM_MINUTES", "1")
    with pytest.raises(ValueError, match="claim_minutes"):
        Settings()


def test_bootstrap_builds_the_configured_ports(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    ports = bootstrap(settings)
    assert isinstance(ports.uploads.blobs.store, LocalBlobStore)
    assert ports.uploads.settings == settings.review
    memory = bootstrap(settings.model_copy(update={"blob_backend": "memory"}))
    assert isinstance(memory.uploads.blobs.store, MemoryBlobStore)
    # Nothing is shared between two roots, even on the same settings.
    assert bootstrap(settings).uploads is not ports.uploads


@pytest.fixture
def rules_app(settings: Settings, clock: FrozenClock, tmp_path: Path) -> Iterator[FastAPI]:
    """An application whose rule set is a copy of the repository's with one text changed."""
    root = copy_policies(tmp_path)
    pack = root / "federal" / "dea.yaml"
    pack.write_text(
        pack.read_text("utf-8").replace("Prescribing controlled", "Prescribing scheduled", 1),
        encoding="utf-8",
    )
    ports = replace(bootstrap_for_tests(settings, clock), ruleset=load_ruleset(root))
    application = create_app(settings, ports=ports)
    yield application
    application.state.services.engine.dispose()


@pytest.mark.db
def test_decisions_use_the_rule_set_the_root_was_given(rules_app: FastAPI) -> None:
    ports: Ports = rules_app.state.services.ports
    assert ports.ruleset.revision != load_ruleset().revision
    with TestClient(rules_app) as client:
        world = seed_world(ports.settings, ports.clock, ports=ports)  # type: ignore[arg-type]
        headers = world["clinician_a"].headers
        # Without a patient the fast lane answers; with one, the route does.
        plain = client.post("/v1/decisions", json=SAMPLE_FACTS, headers=headers)
        linked = client.post(
            "/v1/decisions",
            params={"patient_id": str(world["patient_a"].patient_id)},
            json=SAMPLE_FACTS,
            headers=headers,
        )
    assert plain.status_code == linked.status_code == 201, (plain.text, linked.text)
    assert plain.json()["ruleset_revision"] == ports.ruleset.revision
    assert linked.json()["ruleset_revision"] == ports.ruleset.revision


@pytest.mark.db
def test_due_emails_are_handed_to_the_mailer_port(
    world: World, settings: Settings, clock: FrozenClock, ports: Ports
) -> None:
    mail_ports = replace(ports, settings=settings.model_copy(update={"smtp_host": "mail.test"}))
    patient = world["patient_a"]
    with scope_for(mail_ports.settings, clock, mail_ports) as scope:
        notify(scope, patient.user_id, kind="review_report", title="A report is ready")
    [job] = [job for job in registered() if job.name == "notifications.send_emails"]
    engine = make_engine(settings.effective_database_url)
    try:
        assert run_job(job, make_sessionmaker(engine), mail_ports) == 1
        assert run_job(job, make_sessionmaker(engine), mail_ports) == 0
    finally:
        engine.dispose()
    assert isinstance(mail_ports.mailer, MemoryMailer)
    [message] = mail_ports.mailer.sent
    assert message["To"] == patient.email
    # A generic subject: what happened is behind sign-in, the body says what and links there.
    assert message["Subject"] == "telehealth: you have a new notification"
    assert "A report is ready" in message.get_content()


def _bound(requirement: str) -> str:
    found = re.search(r"<\s*([0-9.]+)", requirement)
    assert found, f"no upper bound: {requirement}"
    return found.group(1)


@pytest.mark.parametrize("package", ["uvicorn", "httptools"])
def test_the_http_protocol_s_dependencies_stop_at_the_next_minor_release(package: str) -> None:
    """web/server.py uses uvicorn and httptools internals: a new minor release must be
    checked before it is allowed."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    [requirement] = [
        r for r in project["dependencies"] if re.match(rf"{package}\b(\[[^\]]*\])?[<>=!~ ]", r)
    ]
    lock = (ROOT / "requirements.lock").read_text("utf-8")
    found = re.search(rf"^{package}==(\d+)\.(\d+)\.", lock, re.MULTILINE)
    assert found, f"{package} is not pinned in requirements.lock"
    major, minor = int(found.group(1)), int(found.group(2))
    assert _bound(requirement) == f"{major}.{minor + 1}"
