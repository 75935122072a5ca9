"""The originating-site geography and license expiry facts: parsing, defaults, derivation."""

from __future__ import annotations

from typing import Any

import pytest

from telehealth.policy import decide, masked_facts
from telehealth.policy.engine import build_environment
from telehealth.policy.facts import parse_facts
from tests.policy.support import assert_invalid_names_field, default_facts, ruleset


def _env(facts: dict[str, Any]) -> dict[str, object]:
    return build_environment(parse_facts(facts), ruleset())


def test_geography_defaults_to_unknown_and_licenses_to_no_expiry() -> None:
    parsed = parse_facts(default_facts())
    assert parsed.patient.originating_site_geography == "unknown"
    assert parsed.clinician.licenses[0].expires_on is None


@pytest.mark.parametrize(
    ("setting", "geography", "site"),
    [
        ("home", "unknown", "home"),
        ("home", "metropolitan", "home"),
        ("facility", "rural_hpsa", "facility_eligible_area"),
        ("facility", "outside_msa", "facility_eligible_area"),
        ("facility", "metropolitan", "facility_metropolitan"),
        ("facility", "unknown", "facility_area_unknown"),
    ],
)
def test_originating_site_combines_setting_and_geography(
    setting: str, geography: str, site: str
) -> None:
    facts = default_facts()
    facts["patient"]["setting"] = setting
    facts["patient"]["originating_site_geography"] = geography
    assert _env(facts)["originating_site"] == site


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("patient", "originating_site_geography"), "rural"),
        (("patient", "originating_site_geography"), None),
        (("clinician", "licenses"), [{"state": "TX", "kind": "full", "expires_on": "12/31/2027"}]),
        (
            ("clinician", "licenses"),
            [{"state": "TX", "kind": "full", "expires_on": "2027-12-31T00:00:00Z"}],
        ),
    ],
)
def test_bad_values_name_the_field(path: tuple[str, str], value: object) -> None:
    assert_invalid_names_field(path, value)


@pytest.mark.parametrize(
    ("expires_on", "outcome"),
    [("2026-11-26", "expired"), ("2026-11-27", "full"), ("2030-01-01", "full"), (None, "full")],
)
def test_license_expiry_is_compared_with_the_date_of_service(
    expires_on: str | None, outcome: str
) -> None:
    facts = default_facts()  # date of service 2026-11-27
    facts["clinician"]["licenses"] = [{"state": "TX", "kind": "full", "expires_on": expires_on}]
    assert _env(facts)["license"] == outcome


def test_expired_license_decision_is_cited_and_blocks_remote_care() -> None:
    facts = default_facts()
    facts["clinician"]["licenses"] = [{"state": "TX", "kind": "full", "expires_on": "2026-01-31"}]
    decision = decide(facts, ruleset())
    assert decision.modalities["sync_audio_video"].status == "not_allowed"
    assert decision.modalities["in_person"].status == "allowed"
    reasons = decision.modalities["sync_audio_video"].reasons
    assert reasons[0].rule == "licensure.expired"  # the blocking reason comes first
    assert all(r.citation for r in reasons)
    assert [w.code for w in decision.warnings] == ["license_expired"]
    assert any(r.kind == "licensure" for r in decision.requirements)


def test_masked_facts_keep_geography_and_license_expiry() -> None:
    facts = default_facts()
    facts["patient"]["originating_site_geography"] = "metropolitan"
    facts["clinician"]["licenses"] = [{"state": "TX", "kind": "full", "expires_on": "2027-03-31"}]
    masked = masked_facts(facts)
    assert masked["patient"]["originating_site_geography"] == "metropolitan"
    assert masked["clinician"]["licenses"][0]["expires_on"] == "2027-03-31"
