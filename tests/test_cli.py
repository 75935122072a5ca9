"""The command line: demo data, user and token creation, audit verification."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

import telehealth.app
from telehealth.cli import app
from telehealth.config import Settings
from telehealth.jobs import registered
from telehealth.web import server
from telehealth.web.server import HTTP_PROTOCOL, DrainingServer

pytestmark = pytest.mark.db


def stub_app() -> SimpleNamespace:
    """What ``serve`` needs of the application it serves: its draining flag."""
    return SimpleNamespace(
        state=SimpleNamespace(services=SimpleNamespace(draining=threading.Event()))
    )


def capture_served(monkeypatch: pytest.MonkeyPatch) -> list[DrainingServer]:
    """Servers ``serve`` would run, not run; their configuration is what uvicorn would get."""
    served: list[DrainingServer] = []

    def run(self: DrainingServer, sockets: object = None) -> None:
        served.append(self)
        self.started = True

    monkeypatch.setattr(server.DrainingServer, "run", run)
    return served


@pytest.fixture
def env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TELEHEALTH_DATABASE_URL", database_url)
    monkeypatch.setenv("TELEHEALTH_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_demo_json_lists_accounts_and_is_idempotent(env: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["demo", "--json"])
    assert first.exit_code == 0, first.output
    accounts = json.loads(first.output)
    roles = {a["role"] for a in accounts}
    assert roles == {"patient", "clinician", "coordinator", "admin"}
    for account in accounts:
        assert set(account) >= {"email", "role", "password"}
        assert ("totp_secret" in account) == (account["role"] in {"clinician", "admin"})
    second = runner.invoke(app, ["demo", "--json"])
    assert json.loads(second.output) == accounts
    assert (env / "demo-accounts.json").stat().st_mode & 0o077 == 0
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0


def test_demo_prints_accounts_within_80_columns_and_says_where_the_rest_is(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for _ in range(2):
        shown = runner.invoke(app, ["demo"])
        assert shown.exit_code == 0, shown.output
        lines = shown.output.splitlines()
        assert max(len(line) for line in lines) <= 80
        assert "data/demo-accounts.json" in shown.output
    saved = json.loads((env / "demo-accounts.json").read_text())
    for account in saved:
        assert f"{account['role']:<12} {account['email']:<34} {account['password']}" in lines
        assert account["display_name"].endswith("(demo)")
        assert bool(account["totp_secret"]) == (account["role"] in {"clinician", "admin"})


def test_user_and_token_create(env: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(
        app,
        [
            "user",
            "create",
            "--email",
            "doc@example.test",
            "--role",
            "clinician",
            "--name",
            "Doc",
            "--password",
            "a long enough password",
        ],
    )
    assert created.exit_code == 0, created.output
    assert "TOTP secret" in created.output
    token = runner.invoke(app, ["token", "create", "doc@example.test"])
    assert token.exit_code == 0
    assert token.output.strip().startswith("tht_")
    missing = runner.invoke(app, ["token", "create", "nobody@example.test"])
    assert missing.exit_code == 1


def test_jobs_list_and_run_once(env: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["jobs", "list"])
    assert listed.exit_code == 0, listed.output
    for name in ("review.escalate_overdue", "monitoring.no_data_alerts", "visits.reminders"):
        assert name in listed.output
    ran = runner.invoke(app, ["jobs", "run", "--once"])
    assert ran.exit_code == 0, ran.output
    lines = ran.output.strip().splitlines()
    assert "review.expire_uploads: 0 handled" in lines
    assert [line.split(":")[0] for line in lines] == [job.name for job in registered()]


def test_jobs_history_counts_the_scheduled_runs(env: Path, database_url: str) -> None:
    from datetime import UTC, datetime

    from telehealth.clock import FrozenClock
    from telehealth.db.engine import make_engine, make_sessionmaker
    from telehealth.jobs import JobRunner
    from tests.support import memory_ports

    settings = Settings()
    engine = make_engine(database_url)
    runner = JobRunner(
        make_sessionmaker(engine), memory_ports(settings, FrozenClock(datetime.now(UTC)))
    )
    runner.run_due()
    engine.dispose()
    shown = CliRunner().invoke(app, ["jobs", "history"])
    assert shown.exit_code == 0, shown.output
    cells = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in shown.output.splitlines()
        if "." in line
    ]
    lines = {row[0]: row[1:5] for row in cells}
    assert lines["visits.reminders"] == ["1", "1", "0", "0"]
    assert set(lines) == {job.name for job in registered()}


@pytest.mark.parametrize(("flags", "jobs"), [([], True), (["--no-jobs"], False)])
def test_serve_runs_background_jobs_unless_told(
    env: Path, monkeypatch: pytest.MonkeyPatch, flags: list[str], jobs: bool
) -> None:
    built: list[bool] = []
    application = stub_app()
    monkeypatch.setattr(
        telehealth.app,
        "serving_app",
        lambda settings, run_jobs: built.append(run_jobs) or application,
    )
    served = capture_served(monkeypatch)
    # Process-wide logging would stay pointed at this test's captured output.
    monkeypatch.setattr(telehealth.logging, "configure_logging", lambda: None)
    result = CliRunner().invoke(app, ["serve", "--port", "8123", *flags])
    assert result.exit_code == 0, result.output
    assert built == [jobs]
    [running] = served
    assert (running.config.app, running.config.http) == (application, HTTP_PROTOCOL)
    # The application's readiness reads the flag the server sets as it begins to drain.
    assert running.draining is application.state.services.draining


@pytest.mark.parametrize(
    ("public_url", "link"),
    [
        (None, "http://127.0.0.1:18701/invite"),
        ("https://care.example", "https://care.example/invite"),
    ],
)
def test_serve_builds_links_to_the_address_it_is_served_on_unless_a_public_url_is_set(
    env: Path, monkeypatch: pytest.MonkeyPatch, public_url: str | None, link: str
) -> None:
    built: list[Settings] = []
    monkeypatch.setattr(
        telehealth.app,
        "serving_app",
        lambda settings, run_jobs: built.append(settings) or stub_app(),
    )
    capture_served(monkeypatch)
    monkeypatch.setattr(telehealth.logging, "configure_logging", lambda: None)
    monkeypatch.delenv("TELEHEALTH_PUBLIC_URL", raising=False)
    if public_url is not None:
        monkeypatch.setenv("TELEHEALTH_PUBLIC_URL", public_url)
    result = CliRunner().invoke(app, ["serve", "--port", "18701"])
    assert result.exit_code == 0, result.output
    [settings] = built
    assert settings.link("/invite") == link


def test_serve_bounds_request_heads_and_websocket_messages_from_the_settings(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(telehealth.app, "serving_app", lambda settings, run_jobs: stub_app())
    served = capture_served(monkeypatch)
    monkeypatch.setattr(telehealth.logging, "configure_logging", lambda: None)
    monkeypatch.setenv("TELEHEALTH_MAX_HEADER_BYTES", "8192")
    monkeypatch.setenv("TELEHEALTH_MAX_BODY_BYTES", "65536")
    monkeypatch.setenv("TELEHEALTH_SHUTDOWN_GRACE_SECONDS", "45")
    monkeypatch.setenv("TELEHEALTH_SHUTDOWN_DRAIN_SECONDS", "5")
    result = CliRunner().invoke(app, ["serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    [running] = served
    assert running.config.h11_max_incomplete_event_size == 8192
    assert running.config.ws_max_size == 65536
    assert running.config.timeout_graceful_shutdown == 45
    assert running.drain_seconds == 5


def test_policy_impact_prints_csv_and_a_table(env: Path) -> None:
    from telehealth.portal.impact import CSV_COLUMNS

    runner = CliRunner()
    accounts = json.loads(runner.invoke(app, ["demo", "--json"]).output)
    coordinator = next(a["email"] for a in accounts if a["role"] == "coordinator")
    dates = ["--from", "2026-12-01", "--to", "2028-01-02"]
    shown = runner.invoke(app, ["policy", "impact", *dates, "--as", coordinator, "--csv"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS)
    for line in lines[1:]:
        assert line.endswith(",2028-01-02")
    table = runner.invoke(app, ["policy", "impact", *dates, "--as", coordinator])
    assert table.exit_code == 0, table.output
    assert "examined" in table.output
    assert runner.invoke(app, ["policy", "impact", *dates]).exit_code == 2
    nobody = runner.invoke(app, ["policy", "impact", *dates, "--org", "No such organization"])
    assert nobody.exit_code == 1
