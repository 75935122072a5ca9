"""Request and response bodies for monitoring routes. Inputs and responses forbid unknown fields."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from telehealth.bounds import Day, Moment
from telehealth.monitoring.model import AlertAction, Program
from telehealth.monitoring.service import DeviceInput, EnrollmentInput
from telehealth.vocabulary import Payer

Activity = Literal["data_review", "care_plan", "patient_call", "caregiver_call", "other"]
Limit = float | None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ThresholdsIn(Strict):
    systolic_above: Limit = Field(default=None, ge=60, le=300)
    diastolic_above: Limit = Field(default=None, ge=40, le=200)
    spo2_below: Limit = Field(default=None, ge=50, le=100)
    heart_rate_above: Limit = Field(default=None, ge=30, le=300)
    heart_rate_below: Limit = Field(default=None, ge=20, le=200)
    glucose_above: Limit = Field(default=None, ge=40, le=1500)
    glucose_below: Limit = Field(default=None, ge=20, le=400)
    weight_gain_day_kg: Limit = Field(default=None, gt=0, le=20)
    weight_gain_week_kg: Limit = Field(default=None, gt=0, le=50)
    no_data_days: int | None = Field(default=None, ge=1, le=30)


class ThresholdsOut(Strict):
    systolic_above: float | None
    diastolic_above: float | None
    spo2_below: float | None
    heart_rate_above: float | None
    heart_rate_below: float | None
    glucose_above: float | None
    glucose_below: float | None
    weight_gain_day_kg: float | None
    weight_gain_week_kg: float | None
    no_data_days: int | None


class ConsentIn(Strict):
    given_by: Literal["patient", "representative"]
    method: Literal["verbal", "written", "electronic"]
    at: Moment


class ConsentNeedOut(Strict):
    """One consent requirement of the enrollment's monitoring and how the consent on file
    stands against it today."""

    detail: str
    citation: str
    form: str
    renewal: str
    verbal_accepted: bool
    # None when met; otherwise missing, needs_signature, signature_overdue, lapsed,
    # other_episode.
    shortfall: str | None
    why: str
    signature_due: datetime | None
    renew_by: datetime | None


class EnrollmentIn(Strict):
    program: Program
    payer: Payer = "medicare"
    episode_start: Day
    episode_end: Day | None = None
    consent: ConsentIn

    def as_input(self) -> EnrollmentInput:
        return EnrollmentInput(
            program=self.program,
            payer=self.payer,
            episode_start=self.episode_start,
            episode_end=self.episode_end,
            consent_given_by=self.consent.given_by,
            consent_method=self.consent.method,
            consent_at=self.consent.at,
        )


class DeviceOut(Strict):
    id: uuid.UUID
    device_type: str
    manufacturer: str
    model: str
    serial: str
    meets_fda_definition: bool
    created_at: datetime
    last_received_at: datetime | None
    revoked: bool


class EnrollmentOut(Strict):
    id: uuid.UUID
    patient_id: uuid.UUID
    clinician_id: uuid.UUID
    program: Program
    payer: Payer
    status: Literal["active", "ended"]
    episode_start: date
    episode_end: date | None
    consent_given_by: str
    consent_method: str
    consent_at: datetime
    consent_recorded_by: uuid.UUID
    thresholds: ThresholdsOut
    devices: list[DeviceOut]


class EpisodeEndIn(Strict):
    episode_end: Day


class DeviceIn(Strict):
    device_type: Literal[
        "blood_pressure_monitor", "pulse_oximeter", "weight_scale", "glucometer", "other"
    ]
    manufacturer: str = Field(min_length=1, max_length=120)
    model: str = Field(min_length=1, max_length=120)
    serial: str = Field(min_length=1, max_length=120)
    meets_fda_definition: bool

    def as_input(self) -> DeviceInput:
        return DeviceInput(
            device_type=self.device_type,
            manufacturer=self.manufacturer,
            model=self.model,
            serial=self.serial,
            meets_fda_definition=self.meets_fda_definition,
        )


class DeviceIssuedOut(Strict):
    device: DeviceOut
    # Shown once: only its digest is kept.
    token: str


class ReadingIn(Strict):
    code: str = Field(min_length=1, max_length=16)
    value: float
    unit: str = Field(min_length=1, max_length=40)
    effective: Moment


class ReadingBatchIn(Strict):
    readings: list[ReadingIn] = Field(min_length=1, max_length=1000)


class RejectedOut(Strict):
    index: int
    code: str
    reason: str


class IngestOut(Strict):
    received: int
    stored: int
    duplicates: int
    clock_skew: int
    alerts: list[uuid.UUID]


class ReadingOut(Strict):
    id: uuid.UUID
    device_id: uuid.UUID
    code: str
    metric: str
    value: float
    unit: str
    effective_at: datetime
    received_at: datetime
    clock_skew: bool


class AlertOut(Strict):
    id: uuid.UUID
    enrollment_id: uuid.UUID
    patient_id: uuid.UUID
    device_id: uuid.UUID | None
    kind: str
    rule: str
    metric: str | None
    limit_value: float | None
    # What the device measured, in the measurement's canonical unit; none for a silent device.
    observed_value: float | None
    observed_at: datetime
    status: str
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: uuid.UUID | None
    escalated_at: datetime | None
    escalated_by: uuid.UUID | None
    resolved_at: datetime | None
    resolved_by: uuid.UUID | None


class AlertTransitionIn(Strict):
    action: AlertAction


class VisitRequestIn(Strict):
    modality: Literal["sync_audio_video", "sync_audio_only", "in_person"] = "sync_audio_video"


class VisitRequestOut(Strict):
    id: uuid.UUID
    alert_id: uuid.UUID
    enrollment_id: uuid.UUID
    modality: str
    status: str
    created_at: datetime
    link: str


class MessageIn(Strict):
    body: str = Field(min_length=1, max_length=4000)
    alert_id: uuid.UUID | None = None


class MessageOut(Strict):
    id: uuid.UUID
    enrollment_id: uuid.UUID
    alert_id: uuid.UUID | None
    sender_id: uuid.UUID
    body: str
    created_at: datetime


class TimerStartIn(Strict):
    activity: Activity = "data_review"


class TimerStopIn(Strict):
    interactive: bool = False


class TimeEntryIn(Strict):
    minutes: int = Field(ge=1, le=240)
    performed_on: Day
    interactive: bool = False
    activity: Activity = "data_review"


class TimeEntryOut(Strict):
    id: uuid.UUID
    enrollment_id: uuid.UUID
    clinician_id: uuid.UUID
    source: str
    activity: str
    performed_on: date
    started_at: datetime | None
    ended_at: datetime | None
    minutes: int | None
    interactive: bool


class LineOut(Strict):
    code: str
    units: int
    rationale: str


class StatementOut(Strict):
    kind: Literal["device", "management"]
    period_start: date
    period_end: date
    complete: bool
    data_days: int
    management_minutes: int
    interactive: bool
    lines: list[LineOut]
    reason: str
    findings: list[str]


class BillingOut(Strict):
    enrollment_id: uuid.UUID
    month: str
    management: StatementOut
    device_periods: list[StatementOut]


class PanelRowOut(Strict):
    enrollment_id: uuid.UUID
    patient_id: uuid.UUID
    patient_name: str
    program: Program
    open_alerts: int
    period_start: date
    period_end: date
    data_days: int
    management_minutes: int
    billing_status: str
    billable_codes: list[str]
