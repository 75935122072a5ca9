"""Typed settings: one object, prefix ``TELEHEALTH_``.

Defaults are the embedded mode: a SQLite file and an encrypted blob folder under the data
directory, in-process signaling and background jobs. Outside development the application
refuses to start while any secret still has its development default.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from telehealth.errors import DomainError, ErrorCode

# Development defaults. They are public (they are in this file) and therefore refused in production.
DEV_SECRET_KEY = "development-only-secret-key-change-me-0000000000000000"  # noqa: S105 - refused outside development
# 32 bytes, base64: a key everyone knows, acceptable only for local development.
DEV_STORAGE_KEKS = "dev:ZGV2LW9ubHkta2V5LWVuY3J5cHRpb24ta2V5LTMyYnk="


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TELEHEALTH_", extra="ignore", frozen=True)

    env: Environment = Environment.DEVELOPMENT
    data_dir: Path = Field(default_factory=lambda: Path.cwd() / "data")
    database_url: str | None = None
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)

    # Blob storage.
    blob_backend: Literal["local", "s3", "memory"] = "local"
    storage_keks: SecretStr = SecretStr(DEV_STORAGE_KEKS)
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"

    # Signaling and jobs: in-process unless Redis is configured.
    redis_url: str | None = None

    # Sessions and tokens.
    session_idle_minutes_clinician: int = Field(15, ge=1, le=240)
    session_idle_minutes_patient: int = Field(30, ge=1, le=240)
    session_absolute_hours: int = Field(12, ge=1, le=24)
    api_token_minutes: int = Field(60, ge=1, le=24 * 60)
    invite_hours: int = Field(72, ge=1, le=24 * 14)
    break_glass_minutes: int = Field(60, ge=5, le=24 * 60)

    # Login throttling: after `lockout_threshold` consecutive failures the account is locked
    # for `lockout_base_seconds`, doubling with each further failure up to the cap.
    lockout_threshold: int = Field(5, ge=1, le=100)
    lockout_base_seconds: int = Field(60, ge=1)
    lockout_max_seconds: int = Field(3600, ge=1)

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
    public_url: str = "http://127.0.0.1:8000"
    cookie_secure: bool | None = None  # None: derived from public_url's scheme
    # FastAPI's own OpenTelemetry traces, metrics and logs, sent to the providers the process
    # configures. Off, the check for a provider is skipped on every request.
    opentelemetry: bool = False

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

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
        return self.public_url.startswith("https://")

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

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
        if self.storage_keks.get_secret_value() == DEV_STORAGE_KEKS:
            weak.append("TELEHEALTH_STORAGE_KEKS")
        if weak:
            raise DomainError(
                ErrorCode.CONFIGURATION,
                "refusing to start in production with development defaults for: " + ", ".join(weak),
            )


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]  # pydantic-settings accepts field kwargs
