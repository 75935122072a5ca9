"""Names several capabilities share: roles, modalities, payers, jurisdictions, DEA schedules.

One definition for each, so that a request body, a rule pack and a stored row cannot disagree
on what a modality or a state code is. Pure: imports nothing from the rest of telehealth.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal, get_args


class Role(StrEnum):
    PATIENT = "patient"
    CLINICIAN = "clinician"
    COORDINATOR = "coordinator"
    ADMIN = "admin"


Modality = Literal[
    "sync_audio_video",
    "sync_audio_only",
    "async_store_and_forward",
    "remote_monitoring",
    "econsult",
    "in_person",
]
MODALITIES: Final[tuple[Modality, ...]] = (
    "sync_audio_video",
    "sync_audio_only",
    "async_store_and_forward",
    "remote_monitoring",
    "econsult",
    "in_person",
)
# Groups rule packs may name instead of listing modalities one by one.
MODALITY_GROUPS: Final[dict[str, tuple[Modality, ...]]] = {
    "all": MODALITIES,
    "remote": MODALITIES[:5],
    "synchronous": ("sync_audio_video", "sync_audio_only"),
    "asynchronous": ("async_store_and_forward", "remote_monitoring", "econsult"),
}

# Where the patient is during the encounter (the originating site).
Setting = Literal["home", "facility"]
SETTINGS: Final[tuple[Setting, ...]] = ("home", "facility")

# Where the billing practitioner furnishes the service, as a claim or a facts document
# declares it: a practitioner's office, the practitioner's home, a hospital outpatient
# department, a Federally Qualified Health Center, a Rural Health Clinic, a Critical Access
# Hospital.
BillingSetting = Literal["office", "home", "hospital_outpatient", "fqhc", "rhc", "cah"]
BILLING_SETTINGS: Final[tuple[BillingSetting, ...]] = get_args(BillingSetting)

# The practitioner's licensed discipline (who may bill Medicare telehealth and which
# registrations and compacts apply): physician (MD/DO), nurse practitioner, physician
# assistant, clinical nurse specialist, certified nurse-midwife, certified registered nurse
# anesthetist, clinical psychologist, licensed clinical social worker, marriage and family
# therapist, licensed professional (mental health) counselor, registered dietitian, physical
# therapist, occupational therapist, speech-language pathologist, audiologist, or another
# discipline.
Discipline = Literal[
    "physician",
    "np",
    "pa",
    "cns",
    "cnm",
    "crna",
    "psychologist",
    "lcsw",
    "lmft",
    "lpc",
    "rd",
    "pt",
    "ot",
    "slp",
    "audiologist",
    "other",
]
DISCIPLINES: Final[tuple[Discipline, ...]] = get_args(Discipline)
# Each discipline as people read it, on the admin pages and a clinician's public profile.
DISCIPLINE_WORDS: Final[dict[Discipline, str]] = {
    "physician": "Physician",
    "np": "Nurse practitioner",
    "pa": "Physician assistant",
    "cns": "Clinical nurse specialist",
    "cnm": "Certified nurse-midwife",
    "crna": "Certified registered nurse anesthetist",
    "psychologist": "Clinical psychologist",
    "lcsw": "Licensed clinical social worker",
    "lmft": "Marriage and family therapist",
    "lpc": "Licensed professional counselor",
    "rd": "Registered dietitian",
    "pt": "Physical therapist",
    "ot": "Occupational therapist",
    "slp": "Speech-language pathologist",
    "audiologist": "Audiologist",
    "other": "Another discipline",
}
# Specialties whose name says which discipline practises them; the discipline of a facts
# document that omits it is inferred from these only. Medical specialties (dermatology,
# psychiatry ...) are not here: nurse practitioners and physician assistants practise them too.
SPECIALTY_DISCIPLINES: Final[dict[str, Discipline]] = {
    "physical_therapy": "pt",
    "occupational_therapy": "ot",
    "speech_language_pathology": "slp",
    "audiology": "audiologist",
    "psychology": "psychologist",
    "clinical_social_work": "lcsw",
    "marriage_and_family_therapy": "lmft",
    "mental_health_counseling": "lpc",
    "nutrition": "rd",
    "dietetics": "rd",
    "nurse_midwifery": "cnm",
    "nurse_anesthesia": "crna",
}

Payer = Literal["medicare", "medicaid", "commercial", "self_pay"]
PAYERS: Final[tuple[Payer, ...]] = ("medicare", "medicaid", "commercial", "self_pay")

# The 50 states and the District of Columbia: the jurisdictions the state table covers.
US_STATES: Final[frozenset[str]] = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
    ]
)

# How urgent the care is.
Acuity = Literal["emergent", "urgent", "routine", "stable"]
ACUITIES: Final[tuple[Acuity, ...]] = ("emergent", "urgent", "routine", "stable")

# How well a rule or code in a pack is sourced: statute or agency text, secondary guidance, or
# unverified (the reference marks it uncertain).
Confidence = Literal["primary", "secondary", "unverified"]

# DEA controlled-substance schedules a clinician may prescribe (Schedule I has no medical use).
Schedule = Literal["II", "III", "IV", "V"]
CONTROLLED_SCHEDULES: Final[tuple[Schedule, ...]] = ("II", "III", "IV", "V")
