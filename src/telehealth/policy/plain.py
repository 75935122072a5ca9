"""A decision told to the patient in plain words.

Patients read what kind of visit they will have, why, and what they must do; never rule ids,
citations, rule-set hashes, modality codes or billing reasons. Every sentence is fixed text here,
so a test can hold all of them to a reading grade of 8 or below; the rules' own messages (written
for clinicians, with citations) are never shown. Staff keep the full explanation.

Reads the stored decision document (``DecisionRecord.decision``), a plain dict, as the pages do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

_WHAT: Final[dict[str, str]] = {
    "sync_audio_video": "Your visit will be a video call with your clinician.",
    "sync_audio_only": "Your visit will be a phone call with your clinician.",
    "async_store_and_forward": (
        "A specialist will look at your photos and answers and send you a report."
    ),
    "remote_monitoring": "Your care team will check the readings from your home device.",
    "econsult": "Your clinician will ask a specialist for advice about your care.",
    "in_person": "Your visit will be in person at the clinic.",
}
_NOTHING_FITS: Final = "We could not find a kind of visit that fits yet."

_WHY_ALLOWED: Final = "The rules for the state you are in allow this kind of visit for you."
_WHY_DISCOURAGED: Final = (
    "This kind of visit is allowed, but it may not be the best fit for you. "
    "Your clinician may suggest another kind."
)
_WHY_NOT_BOOKED: Final = "The visit you booked is not allowed for you right now."
_WHY_NOTHING_FITS: Final = "The clinic will call you to plan your care."

_CONSENT: Final = "Give your consent to this kind of care. You will be asked before it starts."
_SIGNED_CONSENT: Final = (
    "Sign a consent form for this kind of care. You will be asked before it starts."
)
_YEARLY_CONSENT: Final = "Your consent lasts one year. You will be asked to renew it."

# What the patient reads when the consent on file does not meet the rule, by shortfall
# (``telehealth.policy.consent.Shortfall``).
CONSENT_SHORTFALL: Final[dict[str, str]] = {
    "missing": "Give your consent to care by video or phone.",
    "needs_signature": "Your state asks for your signed consent to care by video or phone.",
    "signature_overdue": (
        "You gave your consent by phone or in person. Your state asks you to sign it too."
    ),
    "lapsed": "Your consent to care by video or phone is more than a year old. Please renew it.",
    "other_episode": "Give your consent for this visit.",
}
SIGN_CONSENT_BY: Final = "Please sign to confirm the consent you gave before. Sign by"
_LOCATION: Final = (
    "Tell us which state you are in on the day of the visit. "
    "Your clinician must be allowed to treat you there."
)
_IN_PERSON: Final = "You may need to see your clinician in person. The clinic will tell you when."
_SUPPLY_LIMIT: Final = (
    "You may get only one week of this medicine at a time. The clinic will tell you how to "
    "get more."
)

_UNSURE_RULES: Final = (
    "Some rules for your visit are not yet certain. The clinic will check them for you."
)
_UNSURE_COVERAGE: Final = (
    "We do not know yet if your plan pays for this visit. The clinic will find out."
)

# Requirements the patient acts on or must plan for (a supply limit means coming back
# sooner); the others (documentation, drug history checks, claim details) are the clinic's
# own work and are not the patient's to do.
_ACTIONS: Final[dict[str, str]] = {
    "consent": _CONSENT,
    "in_person_visit": _IN_PERSON,
    "supply_limit": _SUPPLY_LIMIT,
}


@dataclass(frozen=True, slots=True)
class PatientSummary:
    heading: str
    why: tuple[str, ...]
    actions: tuple[str, ...]
    unsure: tuple[str, ...]


def _chosen(decision: Mapping[str, Any], booked: str | None) -> tuple[str | None, str]:
    modalities = decision["modalities"]
    if booked in modalities and modalities[booked]["status"] != "not_allowed":
        return booked, str(modalities[booked]["status"])
    recommended: str | None = decision["recommended"]
    if recommended is None:
        return None, "not_allowed"
    return recommended, str(modalities[recommended]["status"])


def patient_summary(decision: Mapping[str, Any], booked: str | None = None) -> PatientSummary:
    """What ``decision`` means for the patient. ``booked`` is the kind of visit already booked:
    it is described while the rules allow it; otherwise the engine's recommendation is."""
    modality, status = _chosen(decision, booked)
    if modality is None:
        return PatientSummary(_NOTHING_FITS, (_WHY_NOTHING_FITS,), (), ())
    why = [_WHY_ALLOWED if status == "allowed" else _WHY_DISCOURAGED]
    if booked in decision["modalities"] and modality != booked:
        why.insert(0, _WHY_NOT_BOOKED)
    applying = [r for r in decision["requirements"] if r["modality"] in (None, modality)]
    applies = [r["kind"] for r in applying]
    actions = [text for kind, text in _ACTIONS.items() if kind in applies]
    actions = [_consent_words(applying) if a == _CONSENT else a for a in actions]
    if _yearly_consent(applying):
        actions.append(_YEARLY_CONSENT)
    if modality != "in_person":
        actions.insert(0, _LOCATION)
    unsure = []
    if decision["warnings"]:
        unsure.append(_UNSURE_RULES)
    if decision["coverage"].get(modality) == "unknown":
        unsure.append(_UNSURE_COVERAGE)
    return PatientSummary(_WHAT[modality], tuple(why), tuple(actions), tuple(unsure))


def _consent_terms(requirements: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r["consent"] for r in requirements if r["kind"] == "consent" and r.get("consent")]


def _consent_words(requirements: list[Mapping[str, Any]]) -> str:
    # Verbal consent followed by a signature still ends in a signed form.
    signed = any(t["form"] == "written" for t in _consent_terms(requirements))
    return _SIGNED_CONSENT if signed else _CONSENT


def _yearly_consent(requirements: list[Mapping[str, Any]]) -> bool:
    return any(t["renewal"] in ("annual", "unknown") for t in _consent_terms(requirements))
