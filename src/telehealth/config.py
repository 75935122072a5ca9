"""Typed settings: one object, prefix ``TELEHEALTH_``.

Capabilities with many knobs have a group of their own inside it (``settings.review``,
``settings.visits``); each group reads the same environment variables it always has:
``TELEHEALTH_REVIEW_*`` for review, plain ``TELEHEALTH_*`` for visits.

Defaults are the embedded mode: a SQLite file and an encrypted blob folder under the data
directory, in-process signaling and background jobs. Outside development the application
refuses to start while any secret still has its development default.
"""

from __future__ import annotations

import socket
from datetime import timedelta
from enum import StrEnum
from functools import cached_property
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from telehealth.errors import DomainError, ErrorCode

# Development defaults. They are public (they are in this file) and therefore refused in production.
DEV_SECRET_KEY = "development-only-secret-key-change-me-0000000000000000"  # noqa: S105 - refused outside development
# 32 bytes, base64: a key everyone knows, acceptable only for local development.
DEV_STORAGE_KEKS = "dev:ZGV2LW9ubHkta2V5LWVuY3J5cHRpb24ta2V5LTMyYnk="
# 32 bytes, base64, the same form: the audit chain's development key.
DEV_AUDIT_KEYS = "dev:ZGV2LW9ubHktYXVkaXQtY2hhaW4ta2V5LTMyYnl0ZXM="


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


MIB = 1024 * 1024
# Where `telehealth serve` listens unless told otherwise.
DEFAULT_SERVED_URL = "http://127.0.0.1:8000"
# Bind addresses that name no one address a link could use.
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - compared, never bound


class ReviewSettings(BaseSettings):
    """Store-and-forward review: turnaround targets, claim length, upload limits."""

    model_config = SettingsConfigDict(env_prefix="TELEHEALTH_REVIEW_", extra="ignore", frozen=True)

    # Turnaround targets: how long after submission a review is due, by urgency.
    turnaround_urgent_hours: float = Field(4, gt=0, le=24 * 14)
    turnaround_routine_hours: float = Field(48, gt=0, le=24 * 60)
    # A claim lapses after this long without a signature; the case returns to its queue.
    claim_minutes: int = Field(120, ge=5, le=24 * 60)
    # An upload not finished within this window expires and its staged bytes are removed.
    upload_expiry_hours: int = Field(24, ge=1, le=24 * 14)

    # Size limits per kind of media (bytes), checked from Upload-Length before any body is read.
    max_image_bytes: int = Field(25 * MIB, ge=1024)
    max_document_bytes: int = Field(50 * MIB, ge=1024)
    max_observation_bytes: int = Field(2 * MIB, ge=1024)
    max_video_bytes: int = Field(512 * MIB, ge=1024)
    # Decoded images larger than this many pixels are refused (decompression bombs).
    max_image_pixels: int = Field(40_000_000, ge=1)
    # Files per case, so one case cannot exhaust storage.
    max_media_per_case: int = Field(30, ge=1, le=1000)

    def turnaround(self, urgency: str) -> timedelta:
        if urgency == "urgent":
            return timedelta(hours=self.turnaround_urgent_hours)
        return timedelta(hours=self.turnaround_routine_hours)

    @property
    def claim_length(self) -> timedelta:
        return timedelta(minutes=self.claim_minutes)

    @property
    def upload_expiry(self) -> timedelta:
        return timedelta(hours=self.upload_expiry_hours)

    @property
    def max_upload_bytes(self) -> int:
        return max(
            self.max_image_bytes,
            self.max_document_bytes,
            self.max_observation_bytes,
            self.max_video_bytes,
        )

    def max_bytes_for(self, kind: str) -> int:
        return {
            "image": self.max_image_bytes,
            "document": self.max_document_bytes,
            "observation": self.max_observation_bytes,
            "video": self.max_video_bytes,
        }[kind]


class VisitSettings(BaseSettings):
    """Synchronous visits: ICE/TURN servers, join links, notes, reminders, signaling limits."""

    model_config = SettingsConfigDict(env_prefix="TELEHEALTH_", extra="ignore", frozen=True)

    # STUN/TURN servers handed to browsers as RTCIceServer dictionaries (JSON in the env).
    ice_servers: list[dict[str, Any]] = Field(default_factory=list)
    # TURN REST API (coturn ``use-auth-secret``): short-lived credentials per participant.
    turn_secret: SecretStr | None = None
    turn_urls: list[str] = Field(default_factory=list)
    turn_ttl_minutes: int = Field(60, ge=1, le=24 * 60)
    # "relay": browsers use only TURN relay candidates, so that participants never see each
    # other's addresses (a clinic's privacy rule); it needs working TURN servers.
    ice_transport_policy: Literal["all", "relay"] = "all"
    # A join link stops working this long after the end of its slot.
    join_link_grace_minutes: int = Field(120, ge=5, le=24 * 60)
    # Notes signed later than this after the session ends are flagged.
    note_sign_window_hours: int = Field(24, ge=1, le=24 * 30)
    # Reminders go out this long before a visit.
    reminder_lead_minutes: int = Field(60 * 24, ge=5, le=24 * 60 * 7)
    # Pre-call throughput probes: the largest payload the server sends or accepts.
    probe_max_bytes: int = Field(4 * 1024 * 1024, ge=64 * 1024, le=32 * 1024 * 1024)
    # Signaling limits per socket.
    signal_messages_per_second: int = Field(200, ge=1)
    # Patients and guests may enter the waiting room this long before the visit's start.
    waiting_room_lead_minutes: int = Field(15, ge=0, le=7 * 24 * 60)
    # Each instance refreshes the heartbeat of its open signaling sockets this often; a socket
    # whose heartbeat is older than the stale window died with its instance, and its leave is
    # written at that heartbeat (by the presence sweep, or by the participant's next join).
    presence_heartbeat_seconds: int = Field(5, ge=1, le=300)
    presence_stale_seconds: int = Field(20, ge=3, le=3600)
    presence_sweep_seconds: int = Field(15, ge=5, le=3600)

    @model_validator(mode="after")
    def _stale_after_heartbeats(self) -> VisitSettings:
        if self.presence_stale_seconds < 2 * self.presence_heartbeat_seconds:
            raise ValueError(
                "TELEHEALTH_PRESENCE_STALE_SECONDS must be at least two heartbeats long"
            )
        return self

    def link_grace(self) -> timedelta:
        return timedelta(minutes=self.join_link_grace_minutes)

    def waiting_room_lead(self) -> timedelta:
        return timedelta(minutes=self.waiting_room_lead_minutes)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TELEHEALTH_", extra="ignore", frozen=True)

    env: Environment = Environment.DEVELOPMENT
    data_dir: Path = Field(default_factory=lambda: Path.cwd() / "data")
    database_url: str | None = None
    # The app secret: seals TOTP seeds at rest and keys the sign-in throttle's HMAC.
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    # Earlier app secrets, comma-separated, during a rotation: they still open the TOTP seeds
    # they sealed (until `telehealth keys rotate-secret` reseals them under `secret_key`) and
    # still hold back sign-ins their throttle counted (docs/deploy.md, ADR 0020).
    secret_keys_previous: SecretStr = SecretStr("")

    # Blob storage.
    blob_backend: Literal["local", "s3", "memory"] = "local"
    storage_keks: SecretStr = SecretStr(DEV_STORAGE_KEKS)
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"

    # Audit log: keys for the rows' HMACs and the checkpoints' signatures ("id:base64,...",
    # first one current), which the database never holds, and how often the chains' heads
    # are signed into the checkpoint file under the data directory.
    audit_keys: SecretStr = SecretStr(DEV_AUDIT_KEYS)
    audit_checkpoint_seconds: int = Field(60, ge=5, le=24 * 3600)

    # Signaling and jobs: in-process unless Redis is configured.
    redis_url: str | None = None
    # A background job's run holds its tick's lease (telehealth.jobs) this long: a run not
    # finished by then is taken to have died, and another instance runs the tick again. Longer
    # than any job's longest run.
    job_lease_seconds: int = Field(600, ge=10, le=24 * 3600)
    # Runs of older ticks are deleted by the daily `jobs.prune_runs`.
    job_runs_keep_days: int = Field(30, ge=1, le=3650)

    # Sessions and tokens.
    session_idle_minutes_clinician: int = Field(15, ge=1, le=240)
    session_idle_minutes_patient: int = Field(30, ge=1, le=240)
    session_absolute_hours: int = Field(12, ge=1, le=24)
    api_token_minutes: int = Field(60, ge=1, le=24 * 60)
    invite_hours: int = Field(72, ge=1, le=24 * 14)
    break_glass_minutes: int = Field(60, ge=5, le=24 * 60)

    # Login throttling (OWASP ASVS 2.2.1): back-off, never a hard lock. Failed sign-ins (and
    # wrong current passwords) are counted per source address and per email address, known or
    # not. Past its free failures, a key waits base * 2**(extra failures) seconds after its
    # latest failure, up to its cap; failures older than the window are forgotten. The account
    # cap bounds how long anyone's failures can delay the real user.
    login_source_free_failures: int = Field(10, ge=1, le=1000)
    login_source_max_delay_seconds: int = Field(900, ge=1, le=24 * 3600)
    login_account_free_failures: int = Field(5, ge=1, le=100)
    login_account_max_delay_seconds: int = Field(60, ge=1, le=3600)
    login_delay_base_seconds: int = Field(1, ge=1, le=60)
    login_failure_window_seconds: int = Field(3600, ge=60, le=7 * 24 * 3600)
    # Peers whose X-Forwarded-For is believed (IP addresses or CIDR ranges, comma-separated in
    # the environment); with none, the source of a request is the connecting peer.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Email; notifications stay in-app when no SMTP host is set.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "telehealth@localhost"
    # Emails wait in an outbox until the mail server takes them; a failed attempt is retried
    # after the base delay, doubling with each further failure up to the cap.
    email_retry_base_seconds: int = Field(30, ge=1)
    email_retry_max_seconds: int = Field(3600, ge=1)

    # Web. Synchronous endpoints run on this many threads; more threads than database
    # connections only adds GIL contention.
    worker_threads: int = Field(8, ge=1, le=200)
    # Where people reach the app: links the server builds (invites, emails) start with it.
    # Unset, `telehealth serve` sets it to the address it binds (see served_at); never the
    # request's Host header, which whoever sends a request chooses.
    public_url: str | None = None
    cookie_secure: bool | None = None  # None: derived from base_url's scheme
    # Request limits, checked before a request is parsed or authenticated. A body larger than
    # `max_body_bytes` is refused with 413 (tus PATCH and upload probe bodies stream under
    # limits of their own); a WebSocket message is bounded by it too. A request line and
    # headers larger than `max_header_bytes` in total are refused with 431.
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    max_header_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024)
    # OpenTelemetry traces (FastAPI's request and operation spans), off by default. On, spans
    # go to `otel_exporter`: "otlp" (OTLP over HTTP to `otel_endpoint`, or where the standard
    # OTEL_EXPORTER_OTLP_* variables say), "console" (standard output), or "memory" (kept in
    # the process, for tests). Paths and query strings are blanked in every span (they hold
    # ids and search words); the route template stays. Off, the check for a provider is
    # skipped on every request.
    opentelemetry: bool = False
    otel_exporter: Literal["otlp", "console", "memory"] = "otlp"
    otel_endpoint: str | None = None
    otel_service_name: str = "telehealth"

    # Who may read /metrics: a client sending `Authorization: Bearer <metrics_token>`. Unset,
    # /metrics answers 401 to everyone (it holds no PHI, but it tells how the service runs).
    metrics_token: SecretStr | None = None

    # Shutdown (SIGTERM or Ctrl-C) of `telehealth serve`: for `shutdown_drain_seconds` the
    # server keeps serving but /readyz answers 503, so a load balancer's health check takes
    # it out of rotation; then it stops accepting connections, lets in-flight requests (tus
    # PATCHes included) finish for up to `shutdown_grace_seconds`, and closes signaling
    # sockets with 1012 (service restart), which visit pages answer by reconnecting. A second
    # signal ends the drain early.
    shutdown_drain_seconds: float = Field(0, ge=0, le=300)
    shutdown_grace_seconds: int = Field(30, ge=0, le=3600)

    # Capability groups. Each reads its own variables from the environment when it is not
    # given (their names predate the groups and are kept: see the module docstring).
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    visits: VisitSettings = Field(default_factory=VisitSettings)

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("metrics_token")
    @classmethod
    def _long_metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 24:
            raise ValueError("the metrics token must be at least 24 characters long")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, value: list[str]) -> list[str]:
        # Addresses and ranges only: a wildcard or a name would let anyone claim any address.
        for item in value:
            try:
                ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"not an IP address or CIDR range: {item!r}") from exc
        return value

    @cached_property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'telehealth.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.base_url.startswith("https://")

    @property
    def base_url(self) -> str:
        """``public_url``, or where ``telehealth serve`` listens by default."""
        return (self.public_url or DEFAULT_SERVED_URL).rstrip("/")

    def link(self, path: str) -> str:
        """An absolute link to a page of the app (``path`` starts with "/")."""
        return self.base_url + path

    def served_at(self, host: str, port: int) -> Settings:
        """These settings for a server bound to ``host``:``port``: without a ``public_url``,
        links point at that address (a server bound to every interface is named by the
        machine's host name)."""
        if self.public_url is not None:
            return self
        name = socket.gethostname() if host in WILDCARD_HOSTS else host
        if ":" in name:
            name = f"[{name}]"
        return self.model_copy(update={"public_url": f"http://{name}:{port}"})

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def audit_checkpoint_file(self) -> Path:
        return self.data_dir / "audit-checkpoints.json"

    @property
    def secret_keys(self) -> tuple[str, ...]:
        """``secret_key``, then each of ``secret_keys_previous`` (blanks and repeats left out)."""
        keys = [self.secret_key.get_secret_value()]
        for entry in self.secret_keys_previous.get_secret_value().split(","):
            key = entry.strip()
            if key and key not in keys:
                keys.append(key)
        return tuple(keys)

    def idle_minutes_for(self, role: str) -> int:
        if role == "patient":
            return self.session_idle_minutes_patient
        return self.session_idle_minutes_clinician

    def check_secrets(self) -> None:
        """Refuse to run outside development with a secret that everyone knows."""
        if self.env is not Environment.PRODUCTION:
            return
        weak: list[str] = []
        if self.secret_key.get_secret_value() == DEV_SECRET_KEY:
            weak.append("TELEHEALTH_SECRET_KEY")
        elif len(self.secret_key.get_secret_value()) < 32:
            weak.append("TELEHEALTH_SECRET_KEY (shorter than 32 characters)")
        previous = self.secret_keys[1:]
        if DEV_SECRET_KEY in previous:
            weak.append("TELEHEALTH_SECRET_KEYS_PREVIOUS (holds the development key)")
        elif any(len(key) < 32 for key in previous):
            weak.append("TELEHEALTH_SECRET_KEYS_PREVIOUS (a key shorter than 32 characters)")
        if self.storage_keks.get_secret_value() == DEV_STORAGE_KEKS:
            weak.append("TELEHEALTH_STORAGE_KEKS")
        if DEV_AUDIT_KEYS.partition(":")[2] in self.audit_keys.get_secret_value():
            weak.append("TELEHEALTH_AUDIT_KEYS")
        if weak:
            raise DomainError(
                ErrorCode.CONFIGURATION,
                "refusing to start in production with development defaults for: " + ", ".join(weak),
            )


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]  # pydantic-settings accepts field kwargs
