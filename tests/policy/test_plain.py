"""The patient's summary of a decision: plain words, no engine identifiers, grade 8 or below."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, get_args

import pytest
import textstat

from telehealth.policy import decide
from telehealth.policy.decision import RequirementKind
from telehealth.policy.plain import (
    CONSENT_SHORTFALL,
    SIGN_CONSENT_BY,
    PatientSummary,
    patient_summary,
)
from telehealth.vocabulary import MODALITIES
from tests.policy.support import default_facts, ruleset

WHEN = datetime(2026, 11, 27, 12, tzinfo=UTC)
KINDS = get_args(RequirementKind)
STATUSES = ("allowed", "discouraged", "not_allowed")
COVERAGES = ("covered", "conditional", "unknown", "not_covered")
# What a patient must never read: codes with underscores, UUIDs, hashes, rule-set stamps,
# legal citations.
RAW = re.compile(
    r"\w+_\w+|[0-9a-f]{8}-[0-9a-f]{4}-|[0-9a-f]{12}|Rule set|§|U\.S\.C|C\.F\.R|\bCFR\b|\bFR\b"
    r"|\bdec_|modifier|\bCPT\b|\d"
)


def _decided(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    facts = default_facts()
    change(facts)
    return decide(facts, ruleset(), evaluated_at=WHEN).model_dump(mode="json")


def _lines(summary: PatientSummary) -> list[str]:
    return [summary.heading, *summary.why, *summary.actions, *summary.unsure]


def _assert_plain(summary: PatientSummary) -> None:
    for line in _lines(summary):
        assert not RAW.search(line), line


def test_live_video_allowed_keeps_the_booked_video_visit() -> None:
    decision = _decided(lambda f: None)
    # The engine prefers a photo review here, yet the booked video call is allowed.
    assert decision["recommended"] == "async_store_and_forward"
    summary = patient_summary(decision, booked="sync_audio_video")
    assert summary.heading == "Your visit will be a video call with your clinician."
    assert "allow this kind of visit" in summary.why[0]
    assert any("which state you are in" in a for a in summary.actions)
    assert any("consent" in a for a in summary.actions)
    assert summary.unsure == ()
    _assert_plain(summary)


def test_without_a_camera_the_visit_becomes_a_phone_call() -> None:
    decision = _decided(lambda f: f["patient"].update(video_capable=False))
    summary = patient_summary(decision, booked="sync_audio_video")
    assert summary.heading == "Your visit will be a phone call with your clinician."
    assert summary.why[0] == "The visit you booked is not allowed for you right now."
    _assert_plain(summary)


def test_recommended_photo_review_when_nothing_was_booked() -> None:
    summary = patient_summary(_decided(lambda f: None))
    assert summary.heading.startswith("A specialist will look at your photos")
    assert any("consent" in a for a in summary.actions)
    _assert_plain(summary)


def test_poor_connection_is_allowed_but_not_the_best_fit() -> None:
    slow = {"down_mbps": 0.2, "up_mbps": 0.1, "rtt_ms": 900, "loss_pct": 20}
    decision = _decided(lambda f: f["patient"].update(bandwidth=slow))
    assert decision["modalities"]["sync_audio_video"]["status"] == "discouraged"
    summary = patient_summary(decision, booked="sync_audio_video")
    assert "may not be the best fit" in summary.why[0]
    _assert_plain(summary)


def test_unlicensed_state_leaves_an_in_person_visit() -> None:
    decision = _decided(lambda f: f["patient"].update(location_state="CA"))
    assert decision["recommended"] == "in_person"
    summary = patient_summary(decision, booked="sync_audio_video")
    assert summary.heading == "Your visit will be in person at the clinic."
    # The state matters only for care at a distance.
    assert not any("which state" in a for a in summary.actions)
    _assert_plain(summary)


def test_uncertain_rules_and_coverage_are_left_to_the_clinic() -> None:
    decision = _decided(lambda f: f["patient"].update(payer="commercial"))
    assert decision["warnings"]
    summary = patient_summary(decision, booked="sync_audio_video")
    assert len(summary.unsure) == 2
    assert all("The clinic will" in line for line in summary.unsure)
    _assert_plain(summary)


def test_in_person_requirement_asks_the_patient_to_come_in() -> None:
    decision = _decided(lambda f: None)
    decision["requirements"].append(
        {"kind": "in_person_visit", "modality": "sync_audio_video", "detail": "x", "citation": "y"}
    )
    summary = patient_summary(decision, booked="sync_audio_video")
    assert any("in person" in a for a in summary.actions)
    # A requirement for another modality is not the patient's to meet.
    assert not any("in person" in a for a in patient_summary(decision, "in_person").actions)


def test_supply_limit_tells_the_patient_about_a_week_at_a_time() -> None:
    decision = _decided(lambda f: None)
    decision["requirements"].append(
        {"kind": "supply_limit", "modality": None, "detail": "x", "citation": "y"}
    )
    summary = patient_summary(decision, booked="sync_audio_video")
    assert any("one week of this medicine" in a for a in summary.actions)
    _assert_plain(summary)


def test_nothing_allowed_says_the_clinic_will_call() -> None:
    decision = _decided(lambda f: None)
    decision["recommended"] = None
    for item in decision["modalities"].values():
        item["status"] = "not_allowed"
    summary = patient_summary(decision, booked="sync_audio_video")
    assert summary.actions == ()
    assert "clinic will call" in summary.why[0]


def _every_summary() -> Iterator[PatientSummary]:
    """A summary for every modality, status, coverage and requirement kind (so every fixed
    sentence), plus the engine's own decisions, one of them refusing the booked video call."""
    for modality, status, coverage, kind, booked in itertools.product(
        MODALITIES, STATUSES, COVERAGES, KINDS, (None, "sync_audio_video")
    ):
        yield patient_summary(
            {
                "recommended": None if status == "not_allowed" else modality,
                "modalities": {m: {"status": status, "reasons": []} for m in MODALITIES},
                "coverage": dict.fromkeys(MODALITIES, coverage),
                "requirements": [{"kind": kind, "modality": None, "detail": "", "citation": ""}],
                "warnings": [{"code": "w", "message": ""}] if coverage == "unknown" else [],
            },
            booked=booked,
        )
    yield patient_summary(_decided(lambda f: None))
    no_camera = _decided(lambda f: f["patient"].update(video_capable=False))
    yield patient_summary(no_camera, booked="sync_audio_video")
    yield patient_summary(_decided(_georgia_medicaid), booked="sync_audio_video")
    yield patient_summary(_decided(_oregon_medicaid), booked="sync_audio_video")
    yield PatientSummary(SIGN_CONSENT_BY, (), tuple(CONSENT_SHORTFALL.values()), ())


def _georgia_medicaid(facts: dict[str, Any]) -> None:
    facts["patient"].update(location_state="GA", payer="medicaid")
    facts["clinician"]["licenses"] = [{"state": "GA", "kind": "full"}]


def _oregon_medicaid(facts: dict[str, Any]) -> None:
    facts["patient"].update(location_state="OR", payer="medicaid")
    facts["clinician"]["licenses"] = [{"state": "OR", "kind": "full"}]


def test_a_state_that_wants_a_signed_form_asks_the_patient_to_sign() -> None:
    summary = patient_summary(_decided(_georgia_medicaid), booked="sync_audio_video")
    assert any(a.startswith("Sign a consent form") for a in summary.actions)
    assert not any("one year" in a for a in summary.actions)
    _assert_plain(summary)


def test_yearly_consent_is_said_to_last_one_year() -> None:
    summary = patient_summary(_decided(_oregon_medicaid), booked="sync_audio_video")
    assert any("lasts one year" in a for a in summary.actions)
    assert any(a.startswith("Give your consent") for a in summary.actions)
    _assert_plain(summary)


@pytest.mark.parametrize("line", sorted({line for s in _every_summary() for line in _lines(s)}))
def test_every_sentence_reads_at_grade_8_or_below(line: str) -> None:
    assert not RAW.search(line)
    assert textstat.flesch_kincaid_grade(line) <= 8, line


def test_whole_summaries_read_at_grade_8_or_below() -> None:
    texts = {" ".join(_lines(s)) for s in _every_summary()}
    worst = max(texts, key=textstat.flesch_kincaid_grade)
    assert textstat.flesch_kincaid_grade(worst) <= 8, worst
