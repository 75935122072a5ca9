"""The counts-and-history facts (issue 20 §2): parsing, derived variables, masking, schema,
and the state table's dated values and registration disciplines."""

from __future__ import annotations

from datetime import date
from typing import Any

import jsonschema
import pytest

from telehealth.errors import DomainError, ErrorCode
from telehealth.policy import decide, masked_facts
from telehealth.policy.engine import add_calendar_months, build_environment
from telehealth.policy.facts import parse_facts
from telehealth.policy.schema import facts_schema
from tests.policy.support import assert_invalid_names_field, default_facts, ruleset

CS = "controlled_substance"


def _env(facts: dict[str, Any]) -> dict[str, object]:
    return build_environment(parse_facts(facts), ruleset())


def _oud(**extra: object) -> dict[str, Any]:
    facts = default_facts()
    facts["encounter"]["purpose"] = "substance_use_disorder"
    facts["encounter"][CS] = {"schedule": "III", "opioid_use_disorder_treatment": True, **extra}
    return facts


def _refused(facts: dict[str, Any]) -> str:
    with pytest.raises(DomainError) as info:
        parse_facts(facts)
    assert info.value.code is ErrorCode.INVALID_INPUT
    return info.value.message


def test_every_new_fact_is_optional_and_means_not_told() -> None:
    parsed = parse_facts(_oud())
    assert parsed.patient.telehealth_visits_same_condition_12_months is None
    cs = parsed.encounter.controlled_substance
    assert cs is not None
    assert (cs.buprenorphine_course_start, cs.pdmp_available, cs.dea_registered_facility) == (
        None,
        None,
        None,
    )
    env = _env(_oud())
    assert env["repeat_telehealth"] == "no_state_rule"  # Texas has no such rule
    assert (env["bup_course"], env["cs_pdmp"], env["dea_facility"]) == (
        "unknown",
        "unknown",
        "not_at_facility",
    )


def test_without_a_controlled_substance_the_drug_variables_are_absent() -> None:
    env = _env(default_facts())
    assert env["bup_course"] is None
    assert env["cs_pdmp"] is None
    assert env["dea_facility"] is None


@pytest.mark.parametrize(
    ("count", "derived"),
    [(None, "count_unknown"), (0, "within_limit"), (3, "within_limit"), (4, "over_limit")],
)
def test_alabama_count_against_the_state_tables_limit(count: int | None, derived: str) -> None:
    facts = default_facts()
    facts["patient"].update(location_state="AL", telehealth_visits_same_condition_12_months=count)
    facts["clinician"]["licenses"] = [{"state": "AL", "kind": "full"}]
    env = _env(facts)
    assert env["repeat_telehealth"] == derived
    assert env["repeat_telehealth_limit"] == "4"


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 9, 1), 6, date(2027, 3, 1)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),  # the shorter month's end
        (date(2027, 8, 31), 6, date(2028, 2, 29)),  # a leap year
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
    ],
)
def test_add_calendar_months(start: date, months: int, expected: date) -> None:
    assert add_calendar_months(start, months) == expected


@pytest.mark.parametrize(
    ("day", "derived"),
    [("2027-02-28", "within_six_months"), ("2027-03-01", "beyond_six_months")],
)
def test_buprenorphine_six_calendar_months_boundary(day: str, derived: str) -> None:
    facts = _oud(buprenorphine_course_start="2026-09-01")
    facts["date_of_service"] = day
    assert _env(facts)["bup_course"] == derived


@pytest.mark.parametrize(("told", "derived"), [(True, "checked"), (False, "unavailable")])
def test_pdmp_reaches_the_rules(told: bool, derived: str) -> None:
    assert _env(_oud(pdmp_available=told))["cs_pdmp"] == derived


@pytest.mark.parametrize(
    ("told", "derived"),
    [(True, "registered"), (False, "not_registered"), (None, "unknown")],
)
def test_dea_registered_facility_reaches_the_rules(told: bool | None, derived: str) -> None:
    facts = _oud(dea_registered_facility=told)
    facts["patient"]["setting"] = "facility"
    assert _env(facts)["dea_facility"] == derived


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("patient", "telehealth_visits_same_condition_12_months"), -1),
        (("patient", "telehealth_visits_same_condition_12_months"), "3"),
        (("patient", "telehealth_visits_same_condition_12_months"), True),
        (("patient", "telehealth_visits_same_condition_12_months"), 2.5),
        (("patient", "telehealth_visits_same_condition_12_months"), 1001),
    ],
)
def test_bad_visit_counts_name_the_field(path: tuple[str, str], value: object) -> None:
    assert_invalid_names_field(path, value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("buprenorphine_course_start", "2026/09/01"),
        ("buprenorphine_course_start", "2026-02-30"),
        ("buprenorphine_course_start", "2026-09-01T00:00:00Z"),
        ("pdmp_available", "yes"),
        ("pdmp_available", 1),
        ("dea_registered_facility", "true"),
    ],
)
def test_bad_drug_facts_name_the_field(name: str, value: object) -> None:
    message = _refused(_oud(**{name: value}))
    assert f"encounter.{CS}.{name}" in message


def test_course_start_after_the_date_of_service_is_refused() -> None:
    message = _refused(_oud(buprenorphine_course_start="2026-11-28"))
    assert "buprenorphine_course_start: must not be after date_of_service" in message


def test_course_start_only_for_opioid_use_disorder() -> None:
    facts = default_facts()
    facts["encounter"][CS] = {"schedule": "III", "buprenorphine_course_start": "2026-09-01"}
    assert "only for opioid use disorder" in _refused(facts)


def test_a_registered_facility_needs_a_patient_at_a_facility() -> None:
    assert "true only for a patient at a facility" in _refused(_oud(dea_registered_facility=True))
    # false at home is simply true and accepted.
    parse_facts(_oud(dea_registered_facility=False))


def test_masked_facts_generalise_the_course_start_and_keep_the_rest() -> None:
    facts = _oud(buprenorphine_course_start="2026-09-14", pdmp_available=False)
    facts["patient"]["telehealth_visits_same_condition_12_months"] = 2
    masked = masked_facts(facts)
    assert masked["encounter"][CS]["buprenorphine_course_start"] == "2026-09"
    assert masked["encounter"][CS]["pdmp_available"] is False
    assert masked["patient"]["telehealth_visits_same_condition_12_months"] == 2


def test_schema_publishes_the_new_facts() -> None:
    schema = facts_schema()
    defs = schema["$defs"]
    count = defs["Patient"]["properties"]["telehealth_visits_same_condition_12_months"]
    assert {"type": "integer", "minimum": 0, "maximum": 1000} in count["anyOf"]
    cs = defs["ControlledSubstance"]["properties"]
    assert {"buprenorphine_course_start", "pdmp_available", "dea_registered_facility"} <= set(cs)
    facts = _oud(buprenorphine_course_start="2026-09-01", pdmp_available=True)
    facts["patient"]["telehealth_visits_same_condition_12_months"] = 0
    jsonschema.validate(facts, schema)


def test_colorado_registration_changes_on_its_effective_date() -> None:
    def license_on(day: str) -> object:
        facts = default_facts()
        facts.update(date_of_service=day)
        facts["patient"].update(location_state="CO", last_in_person_visit=None)
        facts["clinician"]["licenses"] = [{"state": "CO", "kind": "telehealth_registration"}]
        return _env(facts)["license"]

    assert license_on("2025-12-31") == "registration_unverified"
    assert license_on("2026-01-01") == "registration"


def test_registration_reason_cites_the_supplement() -> None:
    facts = default_facts()
    facts["patient"]["location_state"] = "CO"
    facts["clinician"]["licenses"] = [{"state": "CO", "kind": "telehealth_registration"}]
    decision = decide(facts, ruleset())
    citations = [r.citation for r in decision.requirements if r.kind == "registration"]
    assert citations
    assert all("SB24-141" in c and "state-facts-consent-registration" in c for c in citations)


@pytest.mark.parametrize("day", ["2025-12-31", "2026-01-01", "2027-06-01"])
def test_precomputed_state_variables_equal_each_fields_value_on_the_day(day: str) -> None:
    rs = ruleset()
    for state, fields in rs.states.items():
        facts = default_facts()
        facts.update(date_of_service=day)
        facts["patient"].update(location_state=state, last_in_person_visit=None)
        env = _env(facts)
        for name, value in fields.items():
            current, sunset = value.resolve(date.fromisoformat(day))
            assert env[f"state.{name}"] == current, (state, name)
            assert env[f"state.{name}.sunset"] == sunset, (state, name)
