"""The ``telehealth`` command line."""

from __future__ import annotations

import getpass
import json
import secrets
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from telehealth.audit import checkpoints
from telehealth.audit.keys import chain_keys
from telehealth.audit.service import verify_chain, write_checkpoints
from telehealth.bootstrap import bootstrap
from telehealth.clock import SystemClock
from telehealth.coding.cli import code_command, coding_app
from telehealth.config import Settings
from telehealth.db.engine import make_engine, make_sessionmaker
from telehealth.db.migrate import ensure_sqlite_directory, upgrade
from telehealth.errors import DomainError
from telehealth.fhir import clients as fhir_clients
from telehealth.identity import queries as identity_queries
from telehealth.identity import repository
from telehealth.identity import service as identity
from telehealth.identity.credentials import secret_key_id
from telehealth.identity.keys import RESEAL_BATCH, ResealReport, reseal_secrets
from telehealth.identity.model import Role
from telehealth.jobs import Job, JobRunner, registered, run_job
from telehealth.jobs import repository as jobs_repository
from telehealth.policy.cli import decide_command, policy_app
from telehealth.scope import Scope, open_scope
from telehealth.storage.cli import keys_app

app = typer.Typer(no_args_is_help=True, help="telehealth: care across modes, by the rules.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
user_app = typer.Typer(no_args_is_help=True, help="User accounts.")
token_app = typer.Typer(no_args_is_help=True, help="API bearer tokens.")
audit_app = typer.Typer(no_args_is_help=True, help="The audit log.")
jobs_app = typer.Typer(no_args_is_help=True, help="Background jobs.")
fhir_app = typer.Typer(no_args_is_help=True, help="The FHIR API.")
fhir_clients_app = typer.Typer(
    no_args_is_help=True, help="System clients (SMART Backend Services) of an organization."
)
fhir_app.add_typer(fhir_clients_app, name="clients")
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(audit_app, name="audit")
app.add_typer(jobs_app, name="jobs")
app.add_typer(policy_app, name="policy")
app.add_typer(coding_app, name="coding")
app.add_typer(keys_app, name="keys")
app.add_typer(fhir_app, name="fhir")
app.command("decide")(decide_command)
app.command("code")(code_command)

err = Console(stderr=True)


def _settings() -> Settings:
    try:
        settings = Settings()
        settings.check_secrets()
    except DomainError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    return settings


def _migrate(settings: Settings) -> None:
    ensure_sqlite_directory(settings.effective_database_url)
    upgrade(settings.effective_database_url)


@contextmanager
def operator_scope(settings: Settings) -> Iterator[Scope]:
    """A unit of work for a command run by an operator on the server itself."""
    engine = make_engine(settings.effective_database_url)
    scope = open_scope(make_sessionmaker(engine), bootstrap(settings), request_id="cli")
    try:
        yield scope
        scope.uow.commit()
    except DomainError as exc:
        scope.uow.rollback()
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc
    finally:
        scope.uow.close()
        engine.dispose()


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8000, help="Port to bind."),
    jobs: bool = typer.Option(
        True, help="Run the background jobs in this process (off where `jobs run` runs them)."
    ),
) -> None:
    """Serve the platform (migrates first in the embedded SQLite mode)."""
    from telehealth.app import serving_app
    from telehealth.logging import configure_logging
    from telehealth.web.server import serve as serve_http

    settings = _settings()
    configure_logging()
    if settings.is_sqlite:
        _migrate(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings = settings.served_at(host, port)
    application = serving_app(settings, run_jobs=jobs)
    serve_http(
        application,
        host=host,
        port=port,
        settings=settings,
        draining=application.state.services.draining,
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every schema migration."""
    _migrate(_settings())
    typer.echo("database is at the latest revision")


@user_app.command("create")
def user_create(
    email: str = typer.Option(..., help="Sign-in email."),
    role: Role = typer.Option(..., help="patient, clinician, coordinator or admin."),
    name: str = typer.Option(..., help="Display name."),
    org: str = typer.Option("Default organization", help="Organization name (created if new)."),
    password: str | None = typer.Option(
        None, help="Password; asked for when omitted.", envvar="TELEHEALTH_NEW_PASSWORD"
    ),
) -> None:
    """Create a user; MFA roles get a TOTP secret printed once."""
    settings = _settings()
    if settings.is_sqlite:
        _migrate(settings)
    secret = password or getpass.getpass("Password: ")
    with operator_scope(settings) as scope:
        org_id = _organization_named(scope, org)
        created = identity.create_user(
            scope, org_id=org_id, email=email, role=role, display_name=name, password=secret
        )
    typer.echo(f"created {role.value} {created.user.id}")
    if created.totp_secret:
        typer.echo(f"TOTP secret (add it to an authenticator app now): {created.totp_secret}")


def _organization_named(scope: Scope, name: str) -> uuid.UUID:
    found = repository.organization_by_name(scope.session, name)
    return found.id if found is not None else identity.create_organization(scope, name).id


@token_app.command("create")
def token_create(
    email: str,
    minutes: int | None = typer.Option(None, help="Lifetime (capped by configuration)."),
    label: str = typer.Option("cli", help="A label to recognise the token by."),
) -> None:
    """Print a short-lived bearer token for EMAIL's account."""
    settings = _settings()
    with operator_scope(settings) as scope:
        user = repository.user_by_email(scope.session, email)
        if user is None or not user.active:
            err.print("[red]error:[/red] no active account with that email")
            raise typer.Exit(1)
        issued = identity.issue_token(scope, user, label=label, minutes=minutes, mfa_verified=True)
    typer.echo(issued.secret)


@keys_app.command("rotate-secret")
def keys_rotate_secret(
    batch_size: int = typer.Option(
        RESEAL_BATCH, "--batch-size", min=1, max=10_000, help="Users per transaction."
    ),
) -> None:
    """Reseal every TOTP seed under TELEHEALTH_SECRET_KEY, a batch per transaction, each seed's
    change audited; run again, it reseals nothing more. Once it reports no unreadable seeds,
    TELEHEALTH_SECRET_KEYS_PREVIOUS can be emptied (docs/deploy.md)."""
    settings = _settings()
    engine = make_engine(settings.effective_database_url)
    try:
        report = reseal_secrets(
            make_sessionmaker(engine), bootstrap(settings), batch_size=batch_size
        )
    except DomainError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    typer.echo(format_reseal(report))
    for key_id, count in sorted(report.unreadable_by_key.items()):
        err.print(f"unreadable: {count} seed(s) sealed with key id {key_id}, not configured")
    for user_id in report.unreadable:
        err.print(f"unreadable: user {user_id}")
    if report.unreadable:
        raise typer.Exit(1)


def format_reseal(report: ResealReport) -> str:
    return (
        f"current key {report.current_key_id}: resealed {report.resealed}, "
        f"already current {report.already_current}, unreadable {len(report.unreadable)} "
        f"({report.batches} batch(es))"
    )


@keys_app.command("generate-secret")
def keys_generate_secret() -> None:
    """Print a new random app secret for TELEHEALTH_SECRET_KEY, and its key id on stderr."""
    secret = secrets.token_urlsafe(48)
    typer.echo(secret)
    err.print(f"key id {secret_key_id(secret)}")


AdminOption = Annotated[
    str,
    typer.Option("--admin", help="Email of the organization's administrator acting (and audited)."),
]


def _act_as_admin(scope: Scope, email: str) -> None:
    user = repository.user_by_email(scope.session, email)
    if user is None or not user.active or user.role != Role.ADMIN.value:
        err.print("[red]error:[/red] no active administrator with that email")
        raise typer.Exit(1)
    scope.act_as(identity.system_actor_for(scope, user))


@fhir_clients_app.command("add")
def fhir_clients_add(
    admin: AdminOption,
    name: Annotated[str, typer.Option(help="What the client is (a lab, a registry...).")],
    jwks: Annotated[Path, typer.Option(help="File of the client's public JWKS (JSON).")],
    scopes: Annotated[str, typer.Option(help='System scopes it may get ("system/*.rs").')],
) -> None:
    """Register a system client; prints its client id."""
    settings = _settings()
    try:
        keys = json.loads(jwks.read_text())
    except (OSError, ValueError) as exc:
        err.print("[red]error:[/red] the JWKS file is not readable JSON")
        raise typer.Exit(2) from exc
    if not isinstance(keys, dict):
        err.print("[red]error:[/red] the JWKS file must hold a JSON object")
        raise typer.Exit(2)
    with operator_scope(settings) as scope:
        _act_as_admin(scope, admin)
        client = fhir_clients.register(scope, name=name, jwks=keys, scopes=scopes)
        client_id = client.id
    typer.echo(str(client_id))


@fhir_clients_app.command("list")
def fhir_clients_list(admin: AdminOption) -> None:
    """List the organization's system clients, one a line: id, name, scopes, registered,
    revoked (tab-separated)."""
    settings = _settings()
    with operator_scope(settings) as scope:
        _act_as_admin(scope, admin)
        lines = [
            "\t".join(
                (
                    str(c.id),
                    c.name,
                    c.scopes,
                    c.created_at.isoformat(timespec="seconds"),
                    "-" if c.revoked_at is None else c.revoked_at.isoformat(timespec="seconds"),
                )
            )
            for c in fhir_clients.org_clients(scope)
        ]
    for line in lines:
        typer.echo(line)


@fhir_clients_app.command("revoke")
def fhir_clients_revoke(client_id: uuid.UUID, admin: AdminOption) -> None:
    """Revoke a system client: its assertions are refused and its tokens stop working."""
    settings = _settings()
    with operator_scope(settings) as scope:
        _act_as_admin(scope, admin)
        fhir_clients.revoke(scope, client_id)
    typer.echo("revoked")


@app.command()
def demo(as_json: bool = typer.Option(False, "--json", help="Print accounts as JSON.")) -> None:
    """Load the clearly marked demo organization and print its accounts."""
    from telehealth.demo import credentials_file, load_demo, public_view

    settings = _settings()
    if settings.is_sqlite:
        _migrate(settings)
    with operator_scope(settings) as scope:
        accounts, created = load_demo(scope, settings.data_dir)
    if as_json:
        json.dump(public_view(accounts), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    saved = credentials_file(settings.data_dir)
    typer.echo("Demo accounts" + ("" if created else " (already loaded; today topped up)"))
    typer.echo("")
    typer.echo(f"{'role':<12} {'email':<34} password")
    for a in accounts:
        typer.echo(f"{a.role:<12} {a.email:<34} {a.password}")
    typer.echo("")
    typer.echo("Names and TOTP secrets (clinicians, admin) are saved in:")
    typer.echo(f"  {_shown_path(saved)}")


def _shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (shorter to read)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@audit_app.command("verify")
def audit_verify(
    checkpoint: bool = typer.Option(
        False,
        "--checkpoint",
        help="If the chains verify, sign their heads into the checkpoint file.",
    ),
) -> None:
    """Check the audit hash chains against their heads and signed checkpoints; exit 1 on any
    break."""
    settings = _settings()
    engine = make_engine(settings.effective_database_url)
    try:
        keys = chain_keys(settings)
        anchors = checkpoints.load(settings.audit_checkpoint_file, keys)
        with make_sessionmaker(engine)() as session:
            result = verify_chain(session, keys, anchors)
            if result.ok and checkpoint:
                now = SystemClock().now()
                signed = write_checkpoints(session, keys, settings.audit_checkpoint_file, now)
                result = result if signed.ok else signed
    except DomainError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    if not result.ok:
        err.print(
            f"[red]audit chain broken[/red] in chain {result.chain} at seq {result.at_seq}: "
            f"{result.problem}"
        )
        raise typer.Exit(1)
    typer.echo(f"audit chain intact: {result.rows_checked} rows")
    if checkpoint:
        typer.echo(f"checkpoint written: {settings.audit_checkpoint_file}")
    elif not anchors:
        err.print(
            "[yellow]warning:[/yellow] no signed checkpoint yet; rows cut off a chain's end "
            "cannot be detected until one is written"
        )


@jobs_app.command("list")
def jobs_list() -> None:
    """The background jobs and how often each runs."""
    settings = _settings()
    table = Table("job", "every")
    for job in _all_jobs():
        table.add_row(job.name, str(job.interval(settings)))
    Console().print(table)


@jobs_app.command("run")
def jobs_run(
    once: bool = typer.Option(False, "--once", help="Run every job once, report, and exit."),
) -> None:
    """Run the background jobs on their intervals until interrupted: for deployments whose
    servers run with `serve --no-jobs`."""
    from telehealth.logging import configure_logging

    settings = _settings()
    jobs = _all_jobs()
    engine = make_engine(settings.effective_database_url)
    sessions = make_sessionmaker(engine)
    ports = bootstrap(settings)
    try:
        if once:
            for job in jobs:
                handled = run_job(job, sessions, ports)
                typer.echo(f"{job.name}: {handled} handled")
            return
        configure_logging()
        try:
            JobRunner(sessions, ports).run()
        except KeyboardInterrupt:
            typer.echo("stopped")
    finally:
        engine.dispose()


@jobs_app.command("history")
def jobs_history() -> None:
    """How many scheduled runs of each job happened (once per tick across every instance),
    with how many failed and how many were taken over from an instance that died."""
    settings = _settings()
    engine = make_engine(settings.effective_database_url)
    try:
        with make_sessionmaker(engine)() as session:
            rows = jobs_repository.summary(session)
    finally:
        engine.dispose()
    table = Table("job", "ticks run", "ok", "failed", "taken over", "latest tick")
    for job, runs, ok, failed, taken, latest in rows:
        shown = latest.isoformat() if latest is not None else ""
        table.add_row(job, str(runs), str(ok), str(failed), str(taken), shown)
    Console(width=200).print(table)


def _all_jobs() -> list[Job]:
    # The composition root imports every capability, and with them their jobs.
    import telehealth.app  # noqa: F401

    return registered()


@policy_app.command("explain")
def policy_explain(decision_id: str) -> None:
    """Print a stored decision readably, with its reasons and citations."""
    from telehealth.policy.decision import Decision
    from telehealth.policy.explain import render_explanation
    from telehealth.policy.records import DecisionRecord

    settings = _settings()
    try:
        key = uuid.UUID(decision_id)
    except ValueError as exc:
        err.print("[red]error:[/red] a decision id is a UUID")
        raise typer.Exit(2) from exc
    engine = make_engine(settings.effective_database_url)
    with make_sessionmaker(engine)() as session:
        record = session.get(DecisionRecord, key)
    engine.dispose()
    if record is None:
        err.print("[red]error:[/red] no decision with that id")
        raise typer.Exit(1)
    typer.echo(render_explanation(Decision.model_validate(record.decision)))
    typer.echo(f"rules fired: {', '.join(record.rules_fired) or 'none'}")


def _impact_actor(scope: Scope, org: str | None, email: str | None) -> identity_queries.User:
    """The coordinator or administrator the report is read as (and audited under)."""
    if email is not None:
        user = repository.user_by_email(scope.session, email)
    else:
        found = repository.organization_by_name(scope.session, org or "")
        coordinators = (
            identity_queries.coordinators_of(scope.session, found.id) if found is not None else []
        )
        user = identity_queries.user_by_id(scope.session, coordinators[0]) if coordinators else None
    if user is None or not user.active:
        err.print("[red]error:[/red] no active coordinator or administrator to read the report as")
        raise typer.Exit(1)
    return user


@policy_app.command("impact")
def policy_impact(
    start: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First date.")],
    end: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Later date.")],
    org: Annotated[
        str | None, typer.Option("--org", help="Organization name (its first coordinator).")
    ] = None,
    email: Annotated[
        str | None, typer.Option("--as", help="Coordinator or administrator email.")
    ] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")] = False,
) -> None:
    """What upcoming visits, open cases and active monitoring enrollments lose between two
    dates of service (the cliff report), each change with its rule, citation and date."""
    from telehealth.portal.impact import CSV_COLUMNS, impact

    if org is None and email is None:
        err.print("[red]error:[/red] give --org or --as")
        raise typer.Exit(2)
    settings = _settings()
    with operator_scope(settings) as scope:
        scope.act_as(identity.system_actor_for(scope, _impact_actor(scope, org, email)))
        report = impact(scope, start.date(), end.date())
    if as_csv:
        sys.stdout.write(report.csv())
        return
    typer.echo(
        f"{report.examined} examined, {len(report.rows)} change(s), {report.skipped} skipped; "
        f"revision {report.revision[:12]}"
    )
    shown = [c for c in CSV_COLUMNS if c not in ("record_number", "object_id")]
    typer.echo("\t".join(shown))
    for row in report.rows:
        values = dict(zip(CSV_COLUMNS, row.csv_values(), strict=True))
        typer.echo("\t".join(values[c] for c in shown))
