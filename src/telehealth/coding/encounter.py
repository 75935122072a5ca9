"""The public shapes of the coding engine: encounter in, billing lines and findings out.

The encounter record is what the platform already knows when a piece of care is complete: a
synchronous visit, a store-and-forward review, an e-consult or a monitoring period. Each of
those maps onto this record directly (``source`` keeps the link back to the platform object).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from telehealth.vocabulary import Modality, Payer, Setting

ServiceKind = Literal[
    "em",
    "virtual_check_in",
    "image_review",
    "e_visit",
    "econsult_consultant",
    "econsult_requester",
    "rpm",
    "rtm",
]
Severity = Literal["error", "warning"]
# How the clinician chose the E/M level: medical decision making, or total time on the day.
EmBasis = Literal["mdm", "time"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Patient(_Record):
    location_state: str = Field(pattern=r"^[A-Z]{2}$")
    setting: Setting
    alaska_hawaii_demo: bool = False


class Clinician(_Record):
    can_bill_em: bool = True
    facility_type: Literal["none", "rhc", "fqhc", "cah_method_ii"] = "none"


class Segment(_Record):
    """One stretch of a visit on one modality, e.g. video that later fell back to audio."""

    modality: Modality
    start: AwareDatetime
    end: AwareDatetime

    @field_validator("start", "end")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _ordered(self) -> Segment:
        if self.end <= self.start:
            raise ValueError("segment end must be after its start")
        return self

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


class Service(_Record):
    kind: ServiceKind
    new_patient: bool = False
    # The E/M level the clinician chose; missing for an E/M service, it is a finding, not a
    # default level.
    em_code: str | None = Field(default=None, pattern=r"^[0-9A-Z]{5}$")
    em_basis: EmBasis | None = None
    # Total clinician minutes that count toward the code: visit time, check-in discussion,
    # cumulative e-visit time over 7 days, or e-consult time.
    minutes: int | None = Field(default=None, ge=0, le=24 * 60)
    acute_stroke: bool = False
    econsult_report: Literal["verbal_and_written", "written_only"] = "verbal_and_written"


class Monitoring(_Record):
    """One 30-day device period and the calendar month of management time (RPM and RTM)."""

    period_start: date
    data_days: int = Field(ge=0, le=31)
    management_minutes: int = Field(default=0, ge=0, le=31 * 24 * 60)
    interactive_communication: bool = False
    first_period_of_episode: bool = False
    # Physician/QHP data collection and interpretation time (99091).
    interpretation_minutes: int = Field(default=0, ge=0, le=31 * 24 * 60)


class Rtm(_Record):
    device_category: Literal["respiratory", "musculoskeletal", "cbt"]


class PayerConfig(_Record):
    # Whether this (non-Medicare) payer accepts the CPT telemedicine E/M codes 98000-98015.
    accepts_cpt_telemedicine_em: bool = False


class EncounterSource(_Record):
    kind: Literal["visit", "review", "econsult", "monitoring_period"]
    id: str = Field(min_length=1, max_length=200)


class Encounter(_Record):
    date_of_service: date
    payer: Payer
    patient: Patient
    clinician: Clinician = Clinician()
    modality: Modality | None = None
    segments: tuple[Segment, ...] | None = Field(default=None, min_length=1)
    # Whether the patient and the clinician were ever connected with media at the same time,
    # as the platform recorded it; None where nobody recorded it (a claim typed in by hand).
    two_way_media: bool | None = None
    service: Service
    rpm: Monitoring | None = None
    rtm: Rtm | None = None
    payer_config: PayerConfig = PayerConfig()
    source: EncounterSource | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Encounter:
        if (self.modality is None) == (self.segments is None):
            raise ValueError("give exactly one of 'modality' or 'segments'")
        if self.service.kind in ("rpm", "rtm") and self.rpm is None:
            raise ValueError("'rpm' (monitoring period facts) is required for rpm and rtm")
        return self


class Line(_Record):
    code: str
    modifiers: list[str]
    pos: str | None
    units: int = Field(ge=1)
    rationale: str
    citation: str


class Finding(_Record):
    severity: Severity
    rule: str
    message: str
    citation: str


class CodingResult(_Record):
    lines: list[Line]
    findings: list[Finding]
    # The modality the lines were billed for (resolved from segments where given).
    modality: Modality
    codeset_revision: str


class AuditFinding(_Record):
    claim_id: str
    severity: Severity
    rule: str
    message: str
    citation: str
    # 1-based line of the input the claim came from (the header is line 1 in CSV).
    line: int | None = None
