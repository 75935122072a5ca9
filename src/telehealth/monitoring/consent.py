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
    accepts_method,
    assess,
)
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


def consent_needs(
    ruleset: RuleSet, facts: Mapping[str, Any], enrollment: Enrollment, at: datetime
) -> list[ConsentNeed]:
    """The consent requirements of the monitoring decision on ``facts`` and the standing the
    enrollment's consent gives each at ``at`` (its own episode: the enrollment)."""
    decision = decide(facts, ruleset, evaluated_at=at)
    on_file = [OnFile(enrollment.consent_method, enrollment.consent_at, enrollment.id)]
    needs = []
    for requirement in decision.requirements:
        if requirement.kind != "consent" or requirement.modality not in (None, MODALITY):
            continue
        terms = requirement.consent
        standing = assess(terms, on_file, at, episode=enrollment.id)
        needs.append(
            ConsentNeed(
                detail=requirement.detail,
                citation=requirement.citation,
                form=terms.form if terms else "unspecified",
                renewal=terms.renewal if terms else "none",
                verbal_accepted=accepts_method(terms, "verbal"),
                shortfall=standing.shortfall,
                signature_due=standing.signature_due,
                renew_by=standing.renew_by,
            )
        )
    return needs


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
