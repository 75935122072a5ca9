"""Settings of the visits capability (prefix ``TELEHEALTH_``), apart from the shared ones."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class VisitSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TELEHEALTH_", extra="ignore", frozen=True)

    # STUN/TURN servers handed to browsers as RTCIceServer dictionaries (JSON in the env).
    ice_servers: list[dict[str, Any]] = Field(default_factory=list)
    # TURN REST API (coturn ``use-auth-secret``): short-lived credentials per participant.
    turn_secret: SecretStr | None = None
    turn_urls: list[str] = Field(default_factory=list)
    turn_ttl_minutes: int = Field(60, ge=1, le=24 * 60)
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

    def link_grace(self) -> timedelta:
        return timedelta(minutes=self.join_link_grace_minutes)


def load_visit_settings(**overrides: Any) -> VisitSettings:
    return VisitSettings(**overrides)
