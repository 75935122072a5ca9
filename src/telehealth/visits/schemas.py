"""Request and response bodies of the visits routes. Both forbid unknown fields."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from telehealth.bounds import Day, Moment, Version
from telehealth.coding.encounter import EmBasis
from telehealth.vocabulary import Payer, Setting

# A time of day, 00:00 to 23:59.
HOUR_MINUTE = r"^([01]\d|2[0-3]):[0-5]\d$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- availability ---------------------------------------------------------------------------


class WindowIn(Strict):
    clinician_id: uuid.UUID
    time_zone: str = Field(min_length=1, max_length=64, examples=["America/Chicago"])
    weekday: int = Field(ge=0, le=6)
    start: str = Field(pattern=HOUR_MINUTE)
    end: str = Field(pattern=HOUR_MINUTE)
    slot_minutes: int = Field(30, ge=5, le=240)


class WindowOut(Strict):
    id: uuid.UUID
    clinician_id: uuid.UUID
    time_zone: str
    weekday: int
    start: str
    end: str
    slot_minutes: int


class SlotOut(Strict):
    start: datetime
    minutes: int
    local_start: str
    time_zone: str


# --- booking --------------------------------------------------------------------------------


class ControlledSubstanceIn(Strict):
    schedule: Literal["II", "III", "IV", "V"]
    opioid_use_disorder_treatment: bool = False
    prior_in_person_evaluation: bool = False


class BookingIn(Strict):
    patient_id: uuid.UUID
    clinician_id: uuid.UUID
    slot_start: Moment
    located_state: str = Field(min_length=2, max_length=2)
    acuity: Literal["emergent", "urgent", "routine", "stable"]
    purpose: Literal[
        "new_problem",
        "follow_up",
        "interpretation",
        "monitoring",
        "mental_health",
        "substance_use_disorder",
        "acute_stroke",
    ]
    specialty: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{1,63}$")
    payer: Payer = "commercial"
    setting: Setting = "home"
    established: bool = True
    last_in_person_visit: Day | None = None
    video_capable: bool = True
    consents_to_video: bool = True
    controlled_substance: ControlledSubstanceIn | None = None


class RescheduleIn(Strict):
    slot_start: Moment
    expected_version: Version


class VisitOut(Strict):
    id: uuid.UUID
    patient_id: uuid.UUID
    clinician_id: uuid.UUID
    status: str
    slot_start: datetime
    slot_end: datetime
    # The IANA time zone the slot was offered in (the clinician's availability).
    time_zone: str
    located_state: str
    decision_id: uuid.UUID
    current_decision_id: uuid.UUID
    planned_modality: str
    fallback_reason: str | None
    version: int


class MessageOut(Strict):
    id: uuid.UUID
    # The sender's participant id.
    from_: uuid.UUID = Field(alias="from")
    display_name: str
    role: str
    audience: Literal["call", "waiting"]
    body: str
    sent_at: datetime


class VisitDetailOut(VisitOut):
    participants: list[dict[str, Any]]
    consents: list[dict[str, Any]]
    consent_outstanding: list[dict[str, Any]]
    # Verbal consent counted until a signed statement is due (``signature_due``).
    consent_signature_due: list[dict[str, Any]] = []
    session: dict[str, Any]
    note: dict[str, Any] | None
    # The call's chat and the clinician's words to the waiting room, oldest first.
    messages: list[MessageOut]


class LinkOut(Strict):
    participant_id: uuid.UUID
    role: str
    link: str
    token: str
    expires_at: datetime


# --- participant session --------------------------------------------------------------------


class LocationIn(Strict):
    state: str = Field(min_length=2, max_length=2)


class LocationOut(Strict):
    proceed: bool
    state_changed: bool
    decision_id: uuid.UUID
    planned_modality: str | None
    reason: str | None


class ConsentIn(Strict):
    method: Literal["written", "verbal"]
    given_by: Literal["patient", "legal_representative"] = "patient"
    acknowledged: Literal[True]


class PrecallIn(Strict):
    camera_ok: bool
    microphone_ok: bool
    down_mbps: float = Field(ge=0, le=100_000)
    up_mbps: float = Field(ge=0, le=100_000)
    rtt_ms: float = Field(ge=0, le=600_000)
    loss_pct: float = Field(ge=0, le=100)


class PrecallOut(Strict):
    video_feasible: bool
    offered: list[str]
    reason: str | None
    planned_modality: str


class InviteIn(Strict):
    role: Literal["interpreter", "caregiver", "second_clinician"]
    display_name: str = Field(min_length=1, max_length=120)


class EndIn(Strict):
    # The E/M level the clinician chose; without it the coding carries a finding, no E/M line.
    em_code: str | None = Field(default=None, pattern=r"^[0-9A-Z]{5}$")
    # How the level was chosen: medical decision making or total time on the day.
    em_basis: EmBasis | None = None


class NoteIn(Strict):
    body: str = Field(min_length=1, max_length=50_000)
    version: Version | None = None


class AmendmentIn(Strict):
    body: str = Field(min_length=1, max_length=50_000)


class NoteOut(Strict):
    id: uuid.UUID
    version: int
    signed_at: datetime | None
    signed_late: bool


class ParticipantOut(Strict):
    id: uuid.UUID
    role: str
    state: str


class SessionOut(Strict):
    visit_id: uuid.UUID
    participant_id: uuid.UUID
    role: str
    display_name: str
    state: str
    status: str
    slot_start: datetime
    slot_end: datetime
    planned_modality: str
    fallback_reason: str | None
    located_state: str
    confirmed_state: str | None
    queue_position: int | None
    consent_outstanding: list[dict[str, Any]]
    consent_signature_due: list[dict[str, Any]] = []
    consents: list[dict[str, Any]]
    precall_done: bool
    waiting_room: list[dict[str, Any]] | None
    participants: list[dict[str, Any]] | None
    session: dict[str, Any] | None
    note: dict[str, Any] | None
    # The clinician's latest word to the waiting room ("Running 5 minutes late").
    waiting_message: WaitingMessageOut | None = None

    # For the clinician during the visit: the E/M levels the End dialog offers.
    em: dict[str, Any] | None = None

    clinician_name: str
    # When patients and guests may enter the waiting room (slot start less the lead time).
    opens_at: datetime
    waiting_room_open: bool
    # The visit's clinician has opened their room (their media on, in the call).
    clinician_present: bool
    # The start time has passed and the clinician has not opened their room.
    clinician_late: bool


class MessageIn(Strict):
    audience: Literal["call", "waiting"]
    # Checked as a message (model.message_text); the bound here only caps what is parsed.
    body: str = Field(max_length=20_000)


class WaitingMessageOut(Strict):
    body: str
    sent_at: datetime


class ProbeOut(Strict):
    received_bytes: int
