"""The enrollment's consent against the consent rules for remote monitoring.

An enrollment records the consent taken when the patient joined (who, how, when) and, later,
a renewed or signed one in its place (the audit trail keeps each earlier consent). The
decision for the monitoring the enrollment furnishes names the consent requirements; where a
requirement carries terms (a signed form, a signed statement due within days of verbal
consent, yearly renewal: ``telehealth.policy.consent``), the consent on file must meet them.
Enrolling with a consent the terms refuse fails; care-management time, the billable work of an
episode, cannot be logged while the consent falls short. Readings keep arriving and alerting
whatever the consent's standing: a missed alarm would be worse than an unbilled month.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telehealth.errors import DomainError, ErrorCode
from telehealth.monitoring.tables import Enrollment
from telehealth.policy.consent import (
    SHORTFALL_WHY,
    OnFile,
    Shortfall,
    Standing,
    accepts_method,
    assess,
)
from telehealth.policy.decision import Requirement
from telehealth.policy.engine import decide
from telehealth.policy.loader import RuleSet

MODALITY = "remote_monitoring"


@dataclass(frozen=True, slots=True)
class ConsentNeed:
    """One consent requirement for the enrollment's monitoring, and how the consent on file
    stands against it."""

    detail: str
    citation: str
    form: str
    renewal: str
    verbal_accepted: bool
    shortfall: Shortfall | None
    signature_due: datetime | None
    renew_by: datetime | None

    @property
    def why(self) -> str:
        return SHORTFALL_WHY[self.shortfall] if self.shortfall else ""


def consent_requirements(
    ruleset: RuleSet, facts: Mapping[str, Any], at: datetime
) -> list[Requirement]:
    """The consent requirements of the monitoring decision on ``facts``."""
    decision = decide(facts, ruleset, evaluated_at=at)
    return [
        r for r in decision.requirements if r.kind == "consent" and r.modality in (None, MODALITY)
    ]


def consent_needs(
    requirements: list[Requirement], enrollment: Enrollment, at: datetime
) -> list[ConsentNeed]:
    """The standing the enrollment's consent gives each requirement at ``at`` (its own
    episode: the enrollment)."""
    on_file = [OnFile(enrollment.consent_method, enrollment.consent_at, enrollment.id)]
    return [_need(r, assess(r.consent, on_file, at, episode=enrollment.id)) for r in requirements]


def _need(requirement: Requirement, standing: Standing) -> ConsentNeed:
    terms = requirement.consent
    return ConsentNeed(
        detail=requirement.detail,
        citation=requirement.citation,
        form=terms.form if terms else "unspecified",
        renewal=terms.renewal if terms else "none",
        verbal_accepted=accepts_method(terms, "verbal"),
        shortfall=standing.shortfall,
        signature_due=standing.signature_due,
        renew_by=standing.renew_by,
    )


def signature_wanted(needs: list[ConsentNeed]) -> bool:
    """Whether the rules want this consent signed: then consent recorded again is signed, since
    verbal consent bridges to a signature once and cannot be renewed verbally."""
    return any(n.form == "written" for n in needs)


def refuse_unmet(needs: list[ConsentNeed], *, code: ErrorCode, field: str) -> None:
    """Refuse, naming the strictest rule the consent falls short of and why."""
    short = [n for n in needs if n.shortfall is not None]
    if short:
        first = min(short, key=lambda n: n.verbal_accepted)
        raise DomainError(
            code,
            f"the patient's consent to remote monitoring falls short: {first.why} ({first.detail})",
            field=field,
        )
