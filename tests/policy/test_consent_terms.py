"""Whether consent on file meets a consent requirement's terms (pure, table-driven)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telehealth.policy.consent import OnFile, Shortfall, accepts_method, assess
from telehealth.policy.decision import ConsentTerms

AT = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
DAY = timedelta(days=1)

NEBRASKA = ConsentTerms(form="written", signature_within_days=10, renewal="none", scope="all")
GEORGIA = ConsentTerms(form="written", renewal="none", scope="medicaid")
OREGON = ConsentTerms(form="either", renewal="annual", scope="medicaid")
UTAH = ConsentTerms(form="unspecified", renewal="unknown", scope="all")
EPISODIC = ConsentTerms(form="either", renewal="per_episode", scope="all")


def verbal(days_ago: float, episode: str | None = None) -> OnFile:
    return OnFile("verbal", AT - days_ago * DAY, episode)


def written(days_ago: float, episode: str | None = None) -> OnFile:
    return OnFile("written", AT - days_ago * DAY, episode)


@pytest.mark.parametrize(
    ("terms", "on_file", "shortfall"),
    [
        # nothing on file is always short, whatever the terms
        (None, [], Shortfall.MISSING),
        (NEBRASKA, [], Shortfall.MISSING),
        # no terms: any consent on file stands
        (None, [verbal(900)], None),
        # written form with a signing window: verbal counts until the window closes
        (NEBRASKA, [verbal(3)], None),
        (NEBRASKA, [verbal(9.99)], None),
        (NEBRASKA, [verbal(10)], Shortfall.SIGNATURE_OVERDUE),
        (NEBRASKA, [verbal(30), written(1)], None),
        (NEBRASKA, [OnFile("electronic", AT - 400 * DAY)], None),
        # written form without a window: verbal never counts
        (GEORGIA, [verbal(0)], Shortfall.NEEDS_SIGNATURE),
        (GEORGIA, [written(2000)], None),
        # annual renewal: one year from when it was given
        (OREGON, [verbal(364)], None),
        (OREGON, [verbal(365)], Shortfall.LAPSED),
        (OREGON, [written(400), verbal(10)], None),
        # unknown renewal is enforced as annual
        (UTAH, [written(366)], Shortfall.LAPSED),
        (UTAH, [written(100)], None),
        # per episode: only this episode's consent counts
        (EPISODIC, [written(1, "other")], Shortfall.OTHER_EPISODE),
        (EPISODIC, [written(1, "other"), verbal(1, "this")], None),
    ],
)
def test_assess(
    terms: ConsentTerms | None, on_file: list[OnFile], shortfall: Shortfall | None
) -> None:
    assert assess(terms, on_file, AT, episode="this").shortfall == shortfall


def test_verbal_consent_awaiting_its_signature_says_when_it_is_due() -> None:
    standing = assess(NEBRASKA, [verbal(3)], AT)
    assert standing.met
    assert standing.signature_due == AT + 7 * DAY


def test_a_signed_consent_is_preferred_to_one_awaiting_its_signature() -> None:
    assert assess(NEBRASKA, [verbal(1), written(5)], AT).signature_due is None


def test_annual_consent_says_when_it_must_be_renewed() -> None:
    standing = assess(OREGON, [written(300), written(100)], AT)
    assert standing.renew_by == AT - 100 * DAY + timedelta(days=365)


@pytest.mark.parametrize(
    ("terms", "method", "accepted"),
    [
        (None, "verbal", True),
        (GEORGIA, "verbal", False),
        (GEORGIA, "written", True),
        (NEBRASKA, "verbal", True),
        (OREGON, "verbal", True),
    ],
)
def test_accepts_method(terms: ConsentTerms | None, method: str, accepted: bool) -> None:
    assert accepts_method(terms, method) is accepted
