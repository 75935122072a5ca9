"""Whether consent on file meets a consent requirement's terms at the time of an encounter.

Pure: the visit and monitoring flows pass what they have recorded and the instant of the
encounter. A requirement without terms is met by any consent on file (documented consent
before the first encounter, which then stands). With terms:

* form ``written``: only a signed consent counts -- unless the terms allow verbal consent
  followed by a signed statement within N days, in which case a verbal consent counts until
  its N days run out;
* renewal ``annual`` (and ``unknown``, which is enforced as annual until the sources agree):
  a consent counts for one year from when it was given;
* renewal ``per_episode``: only a consent given for the same episode of care counts.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from telehealth.policy.decision import ConsentTerms

# Methods that carry the patient's signature (an electronic signature is a written consent).
SIGNED_METHODS = frozenset({"written", "electronic"})
RENEWAL_PERIOD = timedelta(days=365)


class Shortfall(StrEnum):
    """Why no consent on file meets a requirement."""

    MISSING = "missing"  # nothing on file
    NEEDS_SIGNATURE = "needs_signature"  # only verbal consent, and the law wants it signed
    SIGNATURE_OVERDUE = "signature_overdue"  # verbal consent whose signing window has closed
    LAPSED = "lapsed"  # given, but longer ago than the renewal period
    OTHER_EPISODE = "other_episode"  # given for another episode of care


# Why consent falls short, in the care team's words (patients read policy.plain's).
SHORTFALL_WHY: dict[Shortfall, str] = {
    Shortfall.MISSING: "no consent is on file",
    Shortfall.NEEDS_SIGNATURE: "only a signed consent counts and the consent on file is verbal",
    Shortfall.SIGNATURE_OVERDUE: "the signed statement that must follow verbal consent is overdue",
    Shortfall.LAPSED: "the consent on file is older than its renewal period",
    Shortfall.OTHER_EPISODE: "the consent on file is for another episode of care",
}


@dataclass(frozen=True, slots=True)
class OnFile:
    method: str
    obtained_at: datetime
    episode: Hashable | None = None


@dataclass(frozen=True, slots=True)
class Standing:
    """The outcome for one requirement: met (perhaps until a signature is due) or short."""

    shortfall: Shortfall | None
    # A verbal consent that counts only until then, unless a signed one follows.
    signature_due: datetime | None = None
    # When the consent that counts stops counting (renewal), if it does.
    renew_by: datetime | None = None

    @property
    def met(self) -> bool:
        return self.shortfall is None


def assess(
    terms: ConsentTerms | None,
    on_file: Sequence[OnFile],
    at: datetime,
    episode: Hashable | None = None,
) -> Standing:
    """The best standing any consent on file gives at instant ``at`` for ``episode``."""
    if not on_file:
        return Standing(Shortfall.MISSING)
    if terms is None:
        return Standing(None)
    standings = [_standing(terms, c, at, episode) for c in on_file]
    met = [s for s in standings if s.met]
    if met:
        # A consent with no signature due beats one that still awaits its signature; among
        # equals, the one that lasts longest.
        return min(met, key=_preference)
    return max(standings, key=lambda s: _SHORTFALL_ORDER.index(s.shortfall or Shortfall.MISSING))


# When nothing counts, report the shortfall closest to being met.
_SHORTFALL_ORDER = (
    Shortfall.MISSING,
    Shortfall.OTHER_EPISODE,
    Shortfall.NEEDS_SIGNATURE,
    Shortfall.SIGNATURE_OVERDUE,
    Shortfall.LAPSED,
)


def _preference(standing: Standing) -> tuple[bool, float]:
    renew = standing.renew_by.timestamp() if standing.renew_by else float("inf")
    return (standing.signature_due is not None, -renew)


def _standing(
    terms: ConsentTerms, consent: OnFile, at: datetime, episode: Hashable | None
) -> Standing:
    if terms.renewal == "per_episode" and consent.episode != episode:
        return Standing(Shortfall.OTHER_EPISODE)
    renew_by = None
    if terms.renewal in ("annual", "unknown"):
        renew_by = consent.obtained_at + RENEWAL_PERIOD
        if at >= renew_by:
            return Standing(Shortfall.LAPSED)
    if terms.form != "written" or consent.method in SIGNED_METHODS:
        return Standing(None, renew_by=renew_by)
    if terms.signature_within_days is None:
        return Standing(Shortfall.NEEDS_SIGNATURE)
    due = consent.obtained_at + timedelta(days=terms.signature_within_days)
    if at >= due:
        return Standing(Shortfall.SIGNATURE_OVERDUE)
    return Standing(None, signature_due=due, renew_by=renew_by)


def accepts_method(terms: ConsentTerms | None, method: str) -> bool:
    """Whether a consent taken by ``method`` can meet the terms at the moment it is given."""
    if terms is None or terms.form != "written" or method in SIGNED_METHODS:
        return True
    return terms.signature_within_days is not None
