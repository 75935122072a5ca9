"""The vocabulary rule conditions may use.

Rules never see the raw facts: the engine derives a flat environment of named variables
(``payer``, ``license``, ``video_link``, ``state.medicaid_audio_only`` ...) and conditions
test those. Declaring every name and its domain here lets the loader reject a misspelt
variable or value instead of letting the rule silently never match.
"""

from __future__ import annotations

from typing import Final

from telehealth.vocabulary import (
    ACUITIES,
    BILLING_SETTINGS,
    CONTROLLED_SCHEDULES,
    DISCIPLINES,
    PAYERS,
    SETTINGS,
    US_STATES,
)

BOOL: Final[frozenset[object]] = frozenset({True, False})

# None as a domain means "any string" (checked for type only).
BASE_VARIABLES: Final[dict[str, frozenset[object] | None]] = {
    "payer": frozenset(PAYERS),
    "setting": frozenset(SETTINGS),
    "location_state": frozenset(US_STATES),
    "established": BOOL,
    "patient_video_capable": BOOL,
    "patient_consents_to_video": BOOL,
    # Video is usable only if the patient both can and agrees to use it.
    "patient_video_usable": BOOL,
    "alaska_hawaii_demo": BOOL,
    "clinician_video_capable": BOOL,
    "specialty": None,
    "acuity": frozenset(ACUITIES),
    "purpose": frozenset(
        {
            "new_problem",
            "follow_up",
            "interpretation",
            "monitoring",
            "mental_health",
            "substance_use_disorder",
            "acute_stroke",
        }
    ),
    "controlled_substance": BOOL,
    "cs_schedule": frozenset(CONTROLLED_SCHEDULES),
    "cs_oud": BOOL,
    "cs_prior_in_person": BOOL,
    "dea_registered": BOOL,
    "license": frozenset(
        {
            "full",
            "compact",
            "registration",
            "registration_limited",
            "compact_unverified",
            "registration_unverified",
            "registration_no_pathway",
            "not_for_discipline",
            "expired",
            "none",
        }
    ),
    "video_link": frozenset({"good", "marginal", "insufficient", "unknown"}),
    "workflow": frozenset({"interpreted_media", "therapeutic_interaction", "unknown"}),
    "in_person_recency": frozenset({"within_6_months", "within_12_months", "older", "none"}),
    # The patient's setting combined with the facility's geography (SSA §1834(m)(4)(C)(i)):
    # eligible_area = rural HPSA or a county outside every MSA.
    "originating_site": frozenset(
        {"home", "facility_eligible_area", "facility_metropolitan", "facility_area_unknown"}
    ),
    # The clinician's discipline as told, else inferred from a specialty that names one.
    "discipline": frozenset({*DISCIPLINES, "unknown"}),
    # Where the distant-site practitioner bills from.
    "billing_setting": frozenset({*BILLING_SETTINGS, "unknown"}),
    # The patient's telehealth visits for the same condition against the limit of the state's
    # in-person-after-repeated-telehealth rule (state field in_person_after_repeat_telehealth):
    # this visit would go over it, stays within it, the count was not told, or no such rule.
    "repeat_telehealth": frozenset(
        {"over_limit", "within_limit", "count_unknown", "no_state_rule"}
    ),
    # That limit as text, for messages ("more than {repeat_telehealth_limit} visits").
    "repeat_telehealth_limit": None,
    # Buprenorphine telemedicine course (42 CFR 12.3): the date of service against six calendar
    # months from the course start; absent without an opioid-use-disorder controlled substance.
    "bup_course": frozenset({"within_six_months", "beyond_six_months", "unknown"}),
    # The PDMP check: done, unavailable (attempt documented) or not told.
    "cs_pdmp": frozenset({"checked", "unavailable", "unknown"}),
    # 21 U.S.C. 802(54)(A): the patient is treated in a DEA-registered hospital or clinic.
    "dea_facility": frozenset({"registered", "not_registered", "unknown", "not_at_facility"}),
}

SUNSET_STATES: Final[frozenset[object]] = frozenset({"none", "in_force", "passed_renewal_unknown"})


def state_variable(field: str) -> str:
    return f"state.{field}"


def state_sunset_variable(field: str) -> str:
    return f"state.{field}.sunset"
