"""Input facts of a prospective encounter (the ``decide`` request document)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from telehealth.errors import DomainError, ErrorCode
from telehealth.vocabulary import (
    US_STATES,
    Acuity,
    BillingSetting,
    Discipline,
    Payer,
    Schedule,
    Setting,
)

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _parse_state(value: Any) -> str:
    if not isinstance(value, str) or value not in US_STATES:
        raise ValueError("must be a two-letter code of a US state or DC (upper case, e.g. 'TX')")
    return value


def _parse_date(value: Any) -> date:
    # Only calendar dates in ISO form: timestamps and datetimes would silently shift by time zone.
    if isinstance(value, date) and value.__class__ is date:
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"not a valid calendar date: {exc}") from exc
    raise ValueError("must be a date in the form YYYY-MM-DD")


StateCode = Annotated[
    str,
    BeforeValidator(_parse_state),
    WithJsonSchema({"type": "string", "enum": sorted(US_STATES)}),
]
IsoDate = Annotated[
    date,
    BeforeValidator(_parse_date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": _ISO_DATE.pattern}),
]
Specialty = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")]

Purpose = Literal[
    "new_problem",
    "follow_up",
    "interpretation",
    "monitoring",
    "mental_health",
    "substance_use_disorder",
    "acute_stroke",
]
# Far above any real count; it only keeps absurd numbers out of the decision.
_MAX_VISIT_COUNT = 1000
LicenseKind = Literal["full", "telehealth_registration", "compact"]
# Where a facility originating site lies, for the Medicare geographic test of SSA
# §1834(m)(4)(C)(i): a rural Health Professional Shortage Area, a county outside every
# Metropolitan Statistical Area, neither (metropolitan), or not known. Unknown is the default
# and is decided conservatively, with a warning.
SiteGeography = Literal["rural_hpsa", "outside_msa", "metropolitan", "unknown"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Bandwidth(_Strict):
    down_mbps: float = Field(ge=0)
    up_mbps: float = Field(ge=0)
    rtt_ms: float = Field(ge=0)
    loss_pct: float = Field(ge=0, le=100)


class Patient(_Strict):
    location_state: StateCode
    setting: Setting
    payer: Payer
    established: bool
    last_in_person_visit: IsoDate | None
    video_capable: bool
    consents_to_video: bool
    bandwidth: Bandwidth | None = None
    alaska_hawaii_demo: bool = False
    originating_site_geography: SiteGeography = "unknown"
    # State rules on repeated telehealth for one condition (Alabama Act 2022-302: more than
    # four telehealth visits in 12 months need an in-person visit) count the visits before
    # this one; None: not told, and a state with such a rule warns that the count is needed.
    telehealth_visits_same_condition_12_months: int | None = Field(
        default=None,
        ge=0,
        le=_MAX_VISIT_COUNT,
        description=(
            "Telehealth visits for the same condition in the 12 months before date_of_service, "
            "this visit not counted; null: not told."
        ),
    )


class License(_Strict):
    state: StateCode
    kind: LicenseKind
    # Last day the license is valid; a license expired on the date of service authorises
    # nothing. None: no expiry recorded.
    expires_on: IsoDate | None = None


class DeaRegistration(_Strict):
    state: StateCode
    schedules: list[Schedule]


class Clinician(_Strict):
    licenses: list[License]
    dea_registrations: list[DeaRegistration] = Field(default_factory=list)
    specialty: Specialty
    video_capable: bool
    # The licensed discipline; None: inferred from the specialty where its name says one
    # (``physical_therapy`` -> ``pt``), otherwise unknown.
    discipline: Discipline | None = None


class ControlledSubstance(_Strict):
    schedule: Schedule
    opioid_use_disorder_treatment: bool = False
    prior_in_person_evaluation: bool = False
    # The buprenorphine telemedicine rule (42 CFR 12.3, 90 FR 6504) allows six calendar
    # months of telemedicine prescribing from the start of the course; None: not told.
    buprenorphine_course_start: IsoDate | None = Field(
        default=None,
        description=(
            "First day of the telemedicine buprenorphine course for opioid use disorder; "
            "null: not told."
        ),
    )
    # true: the PDMP of the patient's state was checked; false: it was unavailable and the
    # attempt is documented (42 CFR 12.3: then at most a 7-day supply at a time); None: not
    # told, and the decision requires the check.
    pdmp_available: bool | None = Field(
        default=None,
        description=(
            "true: the PDMP was checked; false: it was unavailable and the attempt is "
            "documented; null: not told."
        ),
    )
    # 21 U.S.C. 802(54)(A): the patient is being treated in, and is physically in, a hospital
    # or clinic registered with the DEA. None: not told (never assumed).
    dea_registered_facility: bool | None = Field(
        default=None,
        description=(
            "true: the patient is being treated in, and is physically in, a DEA-registered "
            "hospital or clinic (patient.setting must be facility); false: not; null: not told."
        ),
    )


class Encounter(_Strict):
    specialty: Specialty
    acuity: Acuity
    purpose: Purpose
    controlled_substance: ControlledSubstance | None = None
    # Where the distant-site practitioner bills from (FQHC, RHC, CAH, hospital outpatient,
    # office, home); None: not told.
    billing_setting: BillingSetting | None = None


class Facts(_Strict):
    """Everything the engine may consider; nothing identifies the patient."""

    date_of_service: IsoDate
    patient: Patient
    clinician: Clinician
    encounter: Encounter

    @model_validator(mode="after")
    def _visit_not_after_service(self) -> Facts:
        day = self.date_of_service.isoformat()
        last = self.patient.last_in_person_visit
        if last is not None and last > self.date_of_service:
            raise ValueError(
                f"patient.last_in_person_visit: must not be after date_of_service ({day})"
            )
        cs = self.encounter.controlled_substance
        if cs is None:
            return self
        where = "encounter.controlled_substance"
        start = cs.buprenorphine_course_start
        if start is not None and start > self.date_of_service:
            raise ValueError(
                f"{where}.buprenorphine_course_start: must not be after date_of_service ({day})"
            )
        if start is not None and not cs.opioid_use_disorder_treatment:
            raise ValueError(
                f"{where}.buprenorphine_course_start: only for opioid use disorder treatment "
                "(opioid_use_disorder_treatment: true)"
            )
        if cs.dea_registered_facility and self.patient.setting != "facility":
            raise ValueError(
                f"{where}.dea_registered_facility: true only for a patient at a facility "
                "(patient.setting: facility)"
            )
        return self


def format_validation_error(error: ValidationError) -> str:
    """One line per problem, each naming the dotted field path (``patient.location_state``)."""
    lines = []
    for item in error.errors(include_url=False):
        path = ".".join(str(part) for part in item["loc"]) or "(document)"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {message}")
    return "\n".join(lines)


def parse_facts(data: Any) -> Facts:
    """Validate a facts document; bad input raises ``DomainError(INVALID_INPUT)``."""
    if isinstance(data, Facts):
        return data
    try:
        return Facts.model_validate(data)
    except ValidationError as exc:
        fields = [".".join(str(p) for p in e["loc"]) for e in exc.errors(include_url=False)]
        raise DomainError(
            ErrorCode.INVALID_INPUT, format_validation_error(exc), fields=fields
        ) from exc


def masked_facts(facts: Facts | dict[str, Any]) -> dict[str, Any]:
    """Facts safe to store: exact dates generalised to year-month, everything else kept.

    The facts carry no names or identifiers; dates are the only quasi-identifiers, and a
    year-month keeps enough to audit which rules were in force.
    """
    parsed = parse_facts(facts)
    data = parsed.model_dump(mode="json")
    data["date_of_service"] = data["date_of_service"][:7]
    last = data["patient"]["last_in_person_visit"]
    data["patient"]["last_in_person_visit"] = last[:7] if last else None
    cs = data["encounter"]["controlled_substance"]
    if cs is not None and cs["buprenorphine_course_start"]:
        cs["buprenorphine_course_start"] = cs["buprenorphine_course_start"][:7]
    return data
