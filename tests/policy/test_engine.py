"""Engine behaviour beyond the cases: ids, time stamps, masking, explanations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from telehealth.errors import DomainError, ErrorCode
from telehealth.policy import decide, masked_facts, render_explanation
from telehealth.vocabulary import MODALITIES
from tests.policy.support import default_facts, ruleset

WHEN = datetime(2026, 11, 27, 12, tzinfo=UTC)


def test_decision_id_is_deterministic_and_depends_on_facts() -> None:
    facts = default_facts()
    first = decide(facts, ruleset(), evaluated_at=WHEN)
    again = decide(facts, ruleset(), evaluated_at=WHEN + timedelta(hours=1))
    facts["patient"]["setting"] = "facility"
    other = decide(facts, ruleset(), evaluated_at=WHEN)
    assert first.decision_id == again.decision_id
    assert first.decision_id != other.decision_id
    assert first.decision_id.startswith("dec_")


def test_caller_supplied_decision_id() -> None:
    decision = decide(default_facts(), ruleset(), evaluated_at=WHEN, decision_id="abc")
    assert decision.decision_id == "abc"


def test_evaluated_at_is_normalised_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    decision = decide(
        default_facts(), ruleset(), evaluated_at=datetime(2026, 1, 1, 12, tzinfo=plus_two)
    )
    assert decision.evaluated_at == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert decision.evaluated_at.utcoffset() == timedelta(0)


def test_naive_evaluated_at_is_rejected() -> None:
    with pytest.raises(DomainError) as info:
        decide(default_facts(), ruleset(), evaluated_at=datetime(2026, 1, 1))  # noqa: DTZ001
    assert info.value.code is ErrorCode.INVALID_INPUT


def test_default_evaluated_at_is_aware_utc() -> None:
    decision = decide(default_facts(), ruleset())
    assert decision.evaluated_at.tzinfo is not None
    assert decision.evaluated_at.utcoffset() == timedelta(0)


def test_every_modality_is_reported() -> None:
    decision = decide(default_facts(), ruleset(), evaluated_at=WHEN)
    assert set(decision.modalities) == set(MODALITIES)
    assert set(decision.coverage) == set(MODALITIES)


def test_bad_state_names_the_field() -> None:
    facts = default_facts()
    facts["patient"]["location_state"] = "XX"
    with pytest.raises(DomainError) as info:
        decide(facts, ruleset())
    assert info.value.code is ErrorCode.INVALID_INPUT
    assert "patient.location_state" in info.value.message


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("date_of_service",), "2026-13-01"),
        (("date_of_service",), "27/11/2026"),
        (("date_of_service",), 1764201600),
        (("patient", "payer"), "medicare_advantage"),
        (("patient", "established"), "yes"),
        (("clinician", "licenses"), [{"state": "tx", "kind": "full"}]),
        (("encounter", "acuity"), "critical"),
        (("encounter", "controlled_substance"), {"schedule": "VI"}),
    ],
)
def test_invalid_values_are_rejected(path: tuple[str, ...], value: object) -> None:
    facts = default_facts()
    target = facts
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(DomainError) as info:
        decide(facts, ruleset())
    assert path[0] in info.value.message


def test_unknown_fields_are_rejected() -> None:
    facts = default_facts()
    facts["patient"]["name"] = "Jane"
    with pytest.raises(DomainError) as info:
        decide(facts, ruleset())
    assert "patient.name" in info.value.message


def test_last_visit_after_service_is_rejected() -> None:
    facts = default_facts()
    facts["patient"]["last_in_person_visit"] = "2027-01-01"
    with pytest.raises(DomainError) as info:
        decide(facts, ruleset())
    assert "last_in_person_visit" in info.value.message


def test_masked_facts_generalise_dates_only() -> None:
    masked = masked_facts(default_facts())
    assert masked["date_of_service"] == "2026-11"
    assert masked["patient"]["last_in_person_visit"] == "2026-09"
    assert masked["patient"]["location_state"] == "TX"
    assert masked["patient"]["payer"] == "medicare"
    assert masked["clinician"]["licenses"] == [{"state": "TX", "kind": "full", "expires_on": None}]
    assert masked["patient"]["originating_site_geography"] == "unknown"


def test_masked_facts_without_a_visit() -> None:
    facts = default_facts()
    facts["patient"]["last_in_person_visit"] = None
    assert masked_facts(facts)["patient"]["last_in_person_visit"] is None


def test_explanation_lists_reasons_and_citations() -> None:
    facts = default_facts()
    facts["encounter"]["controlled_substance"] = {"schedule": "IV"}
    decision = decide(facts, ruleset(), evaluated_at=WHEN)
    text = render_explanation(decision)
    assert decision.decision_id in text
    for modality in MODALITIES:
        assert modality in text
    reason = decision.modalities["sync_audio_video"].reasons[0]
    assert reason.rule in text
    assert reason.citation in text
    assert "prescribing permitted" in text
    assert text.count("\n") > 20


def test_explanation_without_requirements_or_warnings() -> None:
    decision = decide(default_facts(), ruleset(), evaluated_at=WHEN).model_copy(
        update={"requirements": [], "warnings": []}
    )
    text = render_explanation(decision)
    assert "Requirements:\n  none" in text
    assert "Warnings:\n  none" in text
