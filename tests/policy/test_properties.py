"""Invariants that must hold for any facts, checked with generated inputs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from telehealth.policy.engine import decide
from telehealth.vocabulary import MODALITY_GROUPS, US_STATES
from tests.policy.support import ruleset

STATES = sorted(US_STATES)
SCHEDULES = ["II", "III", "IV", "V"]
SPECIALTIES = ["dermatology", "radiology", "psychiatry", "primary_care", "psychology", "cardiology"]
PURPOSES = [
    "new_problem",
    "follow_up",
    "interpretation",
    "monitoring",
    "mental_health",
    "substance_use_disorder",
    "acute_stroke",
]
GEOGRAPHIES = ["rural_hpsa", "outside_msa", "metropolitan", "unknown"]
WHEN = datetime(2026, 11, 27, 12, tzinfo=UTC)
ASYNC = MODALITY_GROUPS["asynchronous"]
REMOTE = MODALITY_GROUPS["remote"]


@st.composite
def facts(draw: st.DrawFn, licensed_in_patient_state: bool | None = None) -> dict[str, Any]:
    state = draw(st.sampled_from(STATES))
    service = draw(st.dates(min_value=date(2024, 1, 1), max_value=date(2029, 12, 31)))
    last = draw(st.none() | st.integers(min_value=0, max_value=900))
    other_states = [s for s in STATES if s != state]
    license_states = draw(st.lists(st.sampled_from(STATES), max_size=3))
    if licensed_in_patient_state is False:
        license_states = [s for s in license_states if s != state] or [other_states[0]]
    kinds = st.sampled_from(["full", "telehealth_registration", "compact"])
    expiry = st.none() | st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)).map(
        date.isoformat
    )
    cs = draw(
        st.none()
        | st.fixed_dictionaries(
            {
                "schedule": st.sampled_from(SCHEDULES),
                "opioid_use_disorder_treatment": st.booleans(),
                "prior_in_person_evaluation": st.booleans(),
            }
        )
    )
    bandwidth = draw(
        st.none()
        | st.fixed_dictionaries(
            {
                "down_mbps": st.floats(0, 200),
                "up_mbps": st.floats(0, 50),
                "rtt_ms": st.floats(0, 1000),
                "loss_pct": st.floats(0, 20),
            }
        )
    )
    return {
        "date_of_service": service.isoformat(),
        "patient": {
            "location_state": state,
            "setting": draw(st.sampled_from(["home", "facility"])),
            "payer": draw(st.sampled_from(["medicare", "medicaid", "commercial", "self_pay"])),
            "established": draw(st.booleans()),
            "last_in_person_visit": None
            if last is None
            else (service - timedelta(days=last)).isoformat(),
            "video_capable": draw(st.booleans()),
            "consents_to_video": draw(st.booleans()),
            "bandwidth": bandwidth,
            "alaska_hawaii_demo": draw(st.booleans()),
            "originating_site_geography": draw(st.sampled_from(GEOGRAPHIES)),
        },
        "clinician": {
            "licenses": [
                {"state": s, "kind": draw(kinds), "expires_on": draw(expiry)}
                for s in license_states
            ],
            "dea_registrations": [
                {"state": s, "schedules": draw(st.lists(st.sampled_from(SCHEDULES), max_size=4))}
                for s in draw(st.lists(st.sampled_from(STATES), max_size=2))
            ],
            "specialty": draw(st.sampled_from(SPECIALTIES)),
            "video_capable": draw(st.booleans()),
        },
        "encounter": {
            "specialty": draw(st.sampled_from(SPECIALTIES)),
            "acuity": draw(st.sampled_from(["emergent", "urgent", "routine", "stable"])),
            "purpose": draw(st.sampled_from(PURPOSES)),
            "controlled_substance": cs,
        },
    }


@settings(max_examples=300, deadline=None)
@given(facts(licensed_in_patient_state=False))
def test_no_license_where_the_patient_is_blocks_remote_care(data: dict[str, Any]) -> None:
    decision = decide(data, ruleset(), evaluated_at=WHEN)
    for modality in REMOTE:
        assert decision.modalities[modality].status == "not_allowed", modality
    assert decision.modalities["in_person"].status != "not_allowed"
    assert decision.recommended in (None, "in_person")


@settings(max_examples=300, deadline=None)
@given(facts())
def test_licenses_expired_before_the_service_block_remote_care(data: dict[str, Any]) -> None:
    service = date.fromisoformat(data["date_of_service"])
    state = data["patient"]["location_state"]
    data["clinician"]["licenses"] = [
        {**lic, "expires_on": (service - timedelta(days=1)).isoformat()}
        for lic in data["clinician"]["licenses"]
        if lic["state"] == state
    ] or [{"state": state, "kind": "full", "expires_on": "2023-12-31"}]
    decision = decide(data, ruleset(), evaluated_at=WHEN)
    for modality in REMOTE:
        assert decision.modalities[modality].status == "not_allowed", modality
    assert "license_expired" in {w.code for w in decision.warnings}


@settings(max_examples=300, deadline=None)
@given(facts())
def test_high_acuity_never_recommends_asynchronous_care(data: dict[str, Any]) -> None:
    data["encounter"]["acuity"] = "emergent" if data["patient"]["established"] else "urgent"
    decision = decide(data, ruleset(), evaluated_at=WHEN)
    assert decision.recommended not in ASYNC
    for modality in ASYNC:
        assert decision.modalities[modality].status == "not_allowed"


@settings(max_examples=300, deadline=None)
@given(facts())
def test_asynchronous_care_never_supports_controlled_substances(data: dict[str, Any]) -> None:
    data["encounter"]["controlled_substance"] = data["encounter"]["controlled_substance"] or {
        "schedule": "IV"
    }
    decision = decide(data, ruleset(), evaluated_at=WHEN)
    assert decision.prescribing is not None
    for modality in ASYNC:
        assert decision.prescribing[modality] == "not_permitted"


@settings(max_examples=200, deadline=None)
@given(facts())
def test_same_input_same_output(data: dict[str, Any]) -> None:
    first = decide(data, ruleset(), evaluated_at=WHEN)
    second = decide(data, ruleset(), evaluated_at=WHEN)
    assert first.model_dump_json() == second.model_dump_json()


@settings(max_examples=300, deadline=None)
@given(facts())
def test_decisions_are_complete_and_cited(data: dict[str, Any]) -> None:
    decision = decide(data, ruleset(), evaluated_at=WHEN)
    assert decision.ruleset_revision == ruleset().revision
    for modality, assessment in decision.modalities.items():
        assert assessment.reasons, modality
        assert all(r.rule and r.citation and r.message for r in assessment.reasons)
    assert all(r.citation for r in decision.requirements)
    assert "coverage_not_determined" not in {w.code for w in decision.warnings}
    if decision.recommended is not None:
        assert decision.modalities[decision.recommended].status == "allowed"
    assert (decision.prescribing is None) == (data["encounter"]["controlled_substance"] is None)


@settings(max_examples=200, deadline=None)
@given(facts())
def test_prescribing_never_permitted_for_a_forbidden_modality(data: dict[str, Any]) -> None:
    decision = decide(data, ruleset(), evaluated_at=WHEN)
    if decision.prescribing is None:
        return
    for modality, value in decision.prescribing.items():
        if decision.modalities[modality].status == "not_allowed":
            assert value == "not_permitted"


@settings(max_examples=200, deadline=None)
@given(facts())
def test_dea_dates_past_the_flexibilities_warn(data: dict[str, Any]) -> None:
    data["encounter"]["controlled_substance"] = {"schedule": "IV"}
    decision = decide(data, ruleset(), evaluated_at=WHEN)
    late = date.fromisoformat(data["date_of_service"]) > date(2026, 12, 31)
    codes = {w.code for w in decision.warnings}
    registered = any(
        r["state"] == data["patient"]["location_state"] and "IV" in r["schedules"]
        for r in data["clinician"]["dea_registrations"]
    )
    if late and registered:
        assert "dea_flexibilities_extension_unknown" in codes
    if not late:
        assert "dea_flexibilities_extension_unknown" not in codes
