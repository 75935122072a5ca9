"""The practitioner-discipline and billing-setting facts: parsing, inference, derivation."""

from __future__ import annotations

from typing import Any

import pytest

from telehealth.coding import reader
from telehealth.policy import decide, masked_facts
from telehealth.policy.engine import build_environment
from telehealth.policy.facts import parse_facts
from telehealth.policy.schema import facts_schema
from telehealth.vocabulary import BILLING_SETTINGS, DISCIPLINES
from tests.policy.support import assert_invalid_names_field, default_facts, ruleset


def _env(facts: dict[str, Any]) -> dict[str, object]:
    return build_environment(parse_facts(facts), ruleset())


def test_both_facts_are_optional_and_default_to_unknown() -> None:
    facts = default_facts()  # a dermatologist: the specialty names no discipline
    parsed = parse_facts(facts)
    assert parsed.clinician.discipline is None
    assert parsed.encounter.billing_setting is None
    env = _env(facts)
    assert env["discipline"] == "unknown"
    assert env["billing_setting"] == "unknown"


@pytest.mark.parametrize(
    ("specialty", "told", "derived"),
    [
        ("physical_therapy", None, "pt"),
        ("occupational_therapy", None, "ot"),
        ("speech_language_pathology", None, "slp"),
        ("audiology", None, "audiologist"),
        ("psychology", None, "psychologist"),
        ("psychiatry", None, "unknown"),
        ("physical_therapy", "physician", "physician"),  # told beats inferred
        ("dermatology", "np", "np"),
    ],
)
def test_discipline_is_told_or_inferred_from_a_specialty_that_names_one(
    specialty: str, told: str | None, derived: str
) -> None:
    facts = default_facts()
    facts["clinician"]["specialty"] = specialty
    facts["clinician"]["discipline"] = told
    assert _env(facts)["discipline"] == derived


@pytest.mark.parametrize("setting", BILLING_SETTINGS)
def test_billing_setting_reaches_the_rules(setting: str) -> None:
    facts = default_facts()
    facts["encounter"]["billing_setting"] = setting
    assert _env(facts)["billing_setting"] == setting


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("clinician", "discipline"), "doctor"),
        (("clinician", "discipline"), "PT"),
        (("encounter", "billing_setting"), "FQHC"),
        (("encounter", "billing_setting"), "clinic"),
    ],
)
def test_bad_values_name_the_field(path: tuple[str, str], value: object) -> None:
    assert_invalid_names_field(path, value)


def test_schema_publishes_both_vocabularies() -> None:
    defs = facts_schema()["$defs"]
    discipline = defs["Clinician"]["properties"]["discipline"]["anyOf"][0]["enum"]
    setting = defs["Encounter"]["properties"]["billing_setting"]["anyOf"][0]["enum"]
    assert tuple(discipline) == DISCIPLINES
    assert tuple(setting) == BILLING_SETTINGS


def test_claim_reader_and_facts_share_one_billing_setting_list() -> None:
    assert reader.BILLING_SETTINGS is BILLING_SETTINGS


@pytest.mark.parametrize(
    ("day", "coverage", "warning"),
    [
        ("2026-12-31", "covered", None),
        ("2027-01-01", "unknown", "fqhc_rhc_payment_uncertain"),
        ("2028-01-01", "not_covered", None),
    ],
)
def test_fqhc_non_behavioral_telehealth_by_date(
    day: str, coverage: str, warning: str | None
) -> None:
    facts = default_facts()
    facts["date_of_service"] = day
    facts["encounter"]["billing_setting"] = "fqhc"
    decision = decide(facts, ruleset())
    assert decision.coverage["sync_audio_video"] == coverage
    codes = [w.code for w in decision.warnings]
    assert (warning in codes) if warning else "fqhc_rhc_payment_uncertain" not in codes
    assert all(r.citation for r in decision.modalities["sync_audio_video"].reasons)


def test_therapist_decision_after_2027_is_cited() -> None:
    facts = default_facts()
    facts["date_of_service"] = "2028-02-01"
    facts["patient"]["setting"] = "facility"
    facts["clinician"]["discipline"] = "ot"
    decision = decide(facts, ruleset())
    assert decision.coverage["sync_audio_video"] == "not_covered"
    reasons = {r.rule: r for r in decision.modalities["sync_audio_video"].reasons}
    assert "§1834(m)(4)(E)" in reasons["medicare.practitioner.not_eligible"].citation


def test_masked_facts_keep_discipline_and_billing_setting() -> None:
    facts = default_facts()
    facts["clinician"]["discipline"] = "lcsw"
    facts["encounter"]["billing_setting"] = "rhc"
    masked = masked_facts(facts)
    assert masked["clinician"]["discipline"] == "lcsw"
    assert masked["encounter"]["billing_setting"] == "rhc"
