"""Settings of the review capability, prefix ``TELEHEALTH_REVIEW_``.

Kept apart from the application settings so that store-and-forward can be tuned (turnaround
targets, claim length, upload limits) without touching the shared configuration.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class ReviewSettings(BaseSettings):
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


def load_review_settings() -> ReviewSettings:
    return ReviewSettings()
