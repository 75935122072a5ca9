"""The pure decision function: facts + compiled rule set -> decision.

The engine knows no state, payer or date specifics. It derives named variables from the
facts, runs the rules in force on the date of service, and folds their effects:

* status: the most severe status any matching rule sets wins (allowed < discouraged <
  not_allowed), so a restriction can never be masked by a permission;
* coverage: the most restrictive value wins (covered < conditional < unknown < not_covered),
  so a doubt about payment is never reported as payment;
* prescribing: permitted only when some rule grants it, no rule denies it, and the modality
  itself is not ``not_allowed`` -- controlled substances default to refusal;
* requirements and warnings accumulate; recommendations follow the highest-priority
  preference whose modality is allowed, preferring a covered one.
"""

from __future__ import annotations

import calendar
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from telehealth.errors import DomainError, ErrorCode
from telehealth.policy.decision import (
    Coverage,
    Decision,
    DecisionWarning,
    ModalityAssessment,
    Prescribing,
    Reason,
    Requirement,
    Status,
)
from telehealth.policy.facts import Bandwidth, Facts, parse_facts
from telehealth.policy.loader import Effect, LinkTier, Rule, RuleSet
from telehealth.policy.variables import state_sunset_variable, state_variable
from telehealth.vocabulary import MODALITIES, SPECIALTY_DISCIPLINES, Modality

_STATUS_SEVERITY: dict[str, int] = {"allowed": 0, "discouraged": 1, "not_allowed": 2}
_STATUSES: tuple[Status, ...] = ("allowed", "discouraged", "not_allowed")
_COVERAGE_RANK: dict[str, int] = {"covered": 0, "conditional": 1, "unknown": 2, "not_covered": 3}
_COVERAGES: tuple[Coverage, ...] = ("covered", "conditional", "unknown", "not_covered")
# License outcomes in order of preference when the clinician holds several in one state.
_LICENSE_PREFERENCE: tuple[str, ...] = (
    "full",
    "compact",
    "registration",
    "registration_limited",
    "compact_unverified",
    "registration_unverified",
    "registration_no_pathway",
    "not_for_discipline",
    "expired",
    "none",
)
_REGISTRATION_OUTCOME = {
    "yes": "registration",
    "limited": "registration_limited",
    "no": "registration_no_pathway",
}
# The compact each discipline's multistate privilege comes from, among those the state table
# tracks: IMLC licenses physicians, PSYPACT psychologists. The Nurse Licensure Compact grants
# RN/LPN privileges only, not advanced-practice (NP, CNM, CRNA, CNS) authority, and the
# other compacts (PT, counseling, audiology/SLP, social work, PA) have no table column.
_DISCIPLINE_COMPACT = {"physician": "imlc", "psychologist": "psypact"}
# Disciplines a telehealth registration is relied on for where the state table does not name
# the professions it covers: they "often" cover physicians only (state-facts §5 caveat 5), so
# for any other known discipline the registration is not relied on. Where the table names them
# (``disciplines`` on telehealth_registration_for_out_of_state), those count instead. An
# unknown discipline keeps relying on the registration, as before the table named any.
_REGISTRATION_DISCIPLINES = frozenset({"physician"})
_REGISTRATION = "telehealth_registration_for_out_of_state"
_REPEAT_TELEHEALTH = "in_person_after_repeat_telehealth"
# 42 CFR 12.3: telemedicine buprenorphine for an initial six calendar months.
_BUPRENORPHINE_MONTHS = 6
_SIX_MONTHS_DAYS = 183
_TWELVE_MONTHS_DAYS = 366


# --- derived variables --------------------------------------------------------------------


def discipline(facts: Facts) -> str:
    """The discipline told, else the one the clinician's specialty names, else ``unknown``."""
    clinician = facts.clinician
    if clinician.discipline is not None:
        return clinician.discipline
    return SPECIALTY_DISCIPLINES.get(clinician.specialty, "unknown")


def _compact(facts: Facts, ruleset: RuleSet, practitioner: str) -> str | None:
    if practitioner == "unknown":
        specialty = ruleset.specialties.get(facts.clinician.specialty)
        return specialty.compact if specialty else ruleset.default_compact
    return _DISCIPLINE_COMPACT.get(practitioner)


def _license_outcome(facts: Facts, ruleset: RuleSet) -> str:
    state = facts.patient.location_state
    record = ruleset.states[state]
    practitioner = discipline(facts)
    compact = _compact(facts, ruleset, practitioner)
    outcomes = {"none"}
    for lic in facts.clinician.licenses:
        if lic.state != state:
            continue
        if lic.expires_on is not None and lic.expires_on < facts.date_of_service:
            outcomes.add("expired")
            continue
        if lic.kind == "full":
            outcomes.add("full")
        elif lic.kind == "compact":
            if compact is None:
                outcomes.add("not_for_discipline")
                continue
            member = record[f"{compact}_member"].value
            outcomes.add("compact" if member == "yes" else "compact_unverified")
        else:
            registration = record[_REGISTRATION]
            pathway, _ = registration.resolve(facts.date_of_service)
            covered = registration.disciplines or _REGISTRATION_DISCIPLINES
            if pathway == "yes" and practitioner != "unknown" and practitioner not in covered:
                outcomes.add("not_for_discipline")
            else:
                outcomes.add(_REGISTRATION_OUTCOME.get(pathway, "registration_unverified"))
    return next(o for o in _LICENSE_PREFERENCE if o in outcomes)


def _meets(link: Bandwidth, tier: LinkTier) -> bool:
    return (
        link.down_mbps >= tier.min_down_mbps
        and link.up_mbps >= tier.min_up_mbps
        and link.rtt_ms <= tier.max_rtt_ms
        and link.loss_pct <= tier.max_loss_pct
    )


def _video_link(facts: Facts, ruleset: RuleSet) -> str:
    link = facts.patient.bandwidth
    if link is None:
        return "unknown"
    if _meets(link, ruleset.video_thresholds.good):
        return "good"
    if _meets(link, ruleset.video_thresholds.marginal):
        return "marginal"
    return "insufficient"


def _in_person_recency(facts: Facts) -> str:
    last = facts.patient.last_in_person_visit
    if last is None:
        return "none"
    days = (facts.date_of_service - last).days
    if days <= _SIX_MONTHS_DAYS:
        return "within_6_months"
    if days <= _TWELVE_MONTHS_DAYS:
        return "within_12_months"
    return "older"


_SITE_AREA = {
    "rural_hpsa": "facility_eligible_area",
    "outside_msa": "facility_eligible_area",
    "metropolitan": "facility_metropolitan",
    "unknown": "facility_area_unknown",
}


def _originating_site(facts: Facts) -> str:
    patient = facts.patient
    if patient.setting == "home":
        return "home"
    return _SITE_AREA[patient.originating_site_geography]


def _dea_registered(facts: Facts) -> bool | None:
    cs = facts.encounter.controlled_substance
    if cs is None:
        return None
    return any(
        reg.state == facts.patient.location_state and cs.schedule in reg.schedules
        for reg in facts.clinician.dea_registrations
    )


def _repeat_telehealth(facts: Facts, ruleset: RuleSet) -> tuple[str, str | None]:
    """This visit against the state's repeated-telehealth limit, and the limit as text."""
    rule = ruleset.states[facts.patient.location_state][_REPEAT_TELEHEALTH]
    value, _ = rule.resolve(facts.date_of_service)
    if value != "required" or rule.limit is None:
        return "no_state_rule", None
    count = facts.patient.telehealth_visits_same_condition_12_months
    if count is None:
        return "count_unknown", str(rule.limit)
    # The count excludes this visit, which would be visit number count + 1.
    return ("over_limit" if count + 1 > rule.limit else "within_limit"), str(rule.limit)


def add_calendar_months(day: date, months: int) -> date:
    """The same day ``months`` later, or the last day of that month if it is shorter."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _bup_course(facts: Facts) -> str | None:
    cs = facts.encounter.controlled_substance
    if cs is None or not cs.opioid_use_disorder_treatment:
        return None
    start = cs.buprenorphine_course_start
    if start is None:
        return "unknown"
    # Six calendar months from the start: the window ends the day before the same date six
    # months later (clamped to a shorter month's end, the earlier, conservative reading).
    ends = add_calendar_months(start, _BUPRENORPHINE_MONTHS)
    return "within_six_months" if facts.date_of_service < ends else "beyond_six_months"


_PDMP = {True: "checked", False: "unavailable", None: "unknown"}
_DEA_FACILITY = {True: "registered", False: "not_registered", None: "unknown"}


def build_environment(facts: Facts, ruleset: RuleSet) -> dict[str, object]:
    """The flat variables rule conditions test (see ``telehealth.policy.variables``)."""
    patient, clinician, encounter = facts.patient, facts.clinician, facts.encounter
    cs = encounter.controlled_substance
    specialty = ruleset.specialties.get(encounter.specialty)
    env: dict[str, object] = {
        "payer": patient.payer,
        "setting": patient.setting,
        "location_state": patient.location_state,
        "established": patient.established,
        "patient_video_capable": patient.video_capable,
        "patient_consents_to_video": patient.consents_to_video,
        "patient_video_usable": patient.video_capable and patient.consents_to_video,
        "alaska_hawaii_demo": patient.alaska_hawaii_demo,
        "clinician_video_capable": clinician.video_capable,
        "specialty": encounter.specialty,
        "acuity": encounter.acuity,
        "purpose": encounter.purpose,
        "controlled_substance": cs is not None,
        "cs_schedule": cs.schedule if cs else None,
        "cs_oud": cs.opioid_use_disorder_treatment if cs else None,
        "cs_prior_in_person": cs.prior_in_person_evaluation if cs else None,
        "dea_registered": _dea_registered(facts),
        "license": _license_outcome(facts, ruleset),
        "video_link": _video_link(facts, ruleset),
        "workflow": specialty.workflow if specialty else "unknown",
        "in_person_recency": _in_person_recency(facts),
        "originating_site": _originating_site(facts),
        "discipline": discipline(facts),
        "billing_setting": encounter.billing_setting or "unknown",
        "bup_course": _bup_course(facts),
        "cs_pdmp": _PDMP[cs.pdmp_available] if cs else None,
        "dea_facility": (
            None
            if cs is None
            else "not_at_facility"
            if patient.setting != "facility"
            else _DEA_FACILITY[cs.dea_registered_facility]
        ),
    }
    env["repeat_telehealth"], env["repeat_telehealth_limit"] = _repeat_telehealth(facts, ruleset)
    fixed, dated = ruleset.state_env[patient.location_state]
    env.update(fixed)
    for name, value in dated:
        current, sunset = value.resolve(facts.date_of_service)
        env[state_variable(name)] = current
        env[state_sunset_variable(name)] = sunset
    return env


# --- folding rule effects -----------------------------------------------------------------


class _Placeholders(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _placeholders(env: Mapping[str, object]) -> _Placeholders:
    return _Placeholders({k: str(v) for k, v in env.items() if "." not in k})


@dataclass
class _Fold:
    env: Mapping[str, object]
    ruleset: RuleSet
    severity: dict[Modality, int] = field(default_factory=lambda: dict.fromkeys(MODALITIES, 0))
    reasons: dict[Modality, list[tuple[int, Reason]]] = field(
        default_factory=lambda: {m: [] for m in MODALITIES}
    )
    coverage: dict[Modality, int] = field(default_factory=dict)
    grants: set[Modality] = field(default_factory=set)
    denies: set[Modality] = field(default_factory=set)
    requirements: list[Requirement] = field(default_factory=list)
    warnings: dict[str, str] = field(default_factory=dict)
    preferences: list[tuple[int, int, tuple[Modality, ...]]] = field(default_factory=list)
    _fields: _Placeholders | None = None

    def render(self, text: str) -> str:
        if "{" not in text:
            return text
        if self._fields is None:
            self._fields = _placeholders(self.env)
        return text.format_map(self._fields)

    def citation(self, rule: Rule) -> str:
        if rule.cites_state_field is None:
            return rule.citation
        state = str(self.env["location_state"])
        source = self.ruleset.states[state][rule.cites_state_field].citation
        return f"{rule.citation}; {state}: {source}"

    def apply(self, rule: Rule) -> None:
        reason, requirements = self._texts(rule)
        self.requirements.extend(requirements)
        noted: set[Modality] = set()
        for effect in rule.effects:
            if effect.kind == "warning":
                self.warnings.setdefault(effect.value, reason.message)
            elif effect.kind == "prefer":
                self.preferences.append((effect.priority, rule.position, effect.order))
            elif effect.kind != "requirement":
                for modality in effect.modalities:
                    assert modality is not None
                    self._apply_modal(effect, modality, reason, noted)

    def _texts(self, rule: Rule) -> tuple[Reason, tuple[Requirement, ...]]:
        key = (rule.position, *(self.env.get(n) for n in rule.text_variables))
        cached = self.ruleset.rendered.get(key)
        if cached is None:
            cached = self._render_rule(rule)
            self.ruleset.rendered[key] = cached
        return cached

    def _render_rule(self, rule: Rule) -> tuple[Reason, tuple[Requirement, ...]]:
        reason = Reason(
            rule=rule.id, message=self.render(rule.message), citation=self.citation(rule)
        )
        requirements = [
            Requirement(
                kind=effect.value,
                modality=modality,
                detail=self.render(effect.detail) if effect.detail else reason.message,
                citation=reason.citation,
                consent=effect.terms,
            )
            for effect in rule.effects
            if effect.kind == "requirement"
            for modality in effect.modalities
        ]
        return reason, tuple(requirements)

    def _note(self, modality: Modality, weight: int, reason: Reason, noted: set[Modality]) -> None:
        if modality not in noted:
            noted.add(modality)
            self.reasons[modality].append((weight, reason))

    def _apply_modal(
        self, effect: Effect, modality: Modality, reason: Reason, noted: set[Modality]
    ) -> None:
        if effect.kind == "status":
            level = _STATUS_SEVERITY[effect.value]
            self.severity[modality] = max(self.severity[modality], level)
            self._note(modality, level, reason, noted)
        elif effect.kind == "coverage":
            rank = _COVERAGE_RANK[effect.value]
            self.coverage[modality] = max(self.coverage.get(modality, -1), rank)
            self._note(modality, 0, reason, noted)
        elif effect.kind == "prescribing":
            (self.grants if effect.value == "permitted" else self.denies).add(modality)
            self._note(modality, 0, reason, noted)

    def warn(self, code: str, message: str) -> None:
        self.warnings.setdefault(code, self.render(message))

    # -- results --

    def statuses(self) -> dict[Modality, Status]:
        return {m: _STATUSES[self.severity[m]] for m in MODALITIES}

    def coverages(self) -> dict[Modality, Coverage]:
        out: dict[Modality, Coverage] = {}
        for m in MODALITIES:
            rank = self.coverage.get(m)
            if rank is None:
                self.warnings.setdefault(
                    "coverage_not_determined",
                    "No coverage rule matched for at least one modality; reported as unknown.",
                )
                out[m] = "unknown"
            else:
                out[m] = _COVERAGES[rank]
        return out

    def prescribing(self, statuses: Mapping[Modality, Status]) -> dict[Modality, Prescribing]:
        return {
            m: "permitted"
            if m in self.grants and m not in self.denies and statuses[m] != "not_allowed"
            else "not_permitted"
            for m in MODALITIES
        }

    def kept_requirements(self, statuses: Mapping[Modality, Status]) -> list[Requirement]:
        # Requirements of a modality that cannot be used would only be noise.
        seen: set[tuple[str, str | None, str]] = set()
        out = []
        for req in self.requirements:
            key = (req.kind, req.modality, req.detail)
            if key in seen or (
                req.modality is not None and statuses[req.modality] == "not_allowed"
            ):
                continue
            seen.add(key)
            out.append(req)
        return out

    def recommended(
        self, statuses: Mapping[Modality, Status], coverage: Mapping[Modality, Coverage]
    ) -> Modality | None:
        order: list[Modality] = []
        for _, _, prefs in sorted(self.preferences, key=lambda p: (-p[0], p[1])):
            order.extend(m for m in prefs if m not in order)
        allowed = [m for m in order if statuses[m] == "allowed"]
        paid = [m for m in allowed if coverage[m] != "not_covered"]
        if paid:
            return paid[0]
        return allowed[0] if allowed else None

    def assessments(
        self, statuses: Mapping[Modality, Status]
    ) -> dict[Modality, ModalityAssessment]:
        return {
            m: ModalityAssessment(
                status=statuses[m],
                reasons=[r for _, r in sorted(self.reasons[m], key=lambda wr: -wr[0])],
            )
            for m in MODALITIES
        }


# --- public API ---------------------------------------------------------------------------


def canonical_facts(facts: Facts) -> str:
    return json.dumps(facts.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def derive_decision_id(facts: Facts, ruleset: RuleSet) -> str:
    """Same rule set and same facts give the same id, so re-deciding is idempotent."""
    digest = hashlib.sha256(f"{ruleset.revision}\n{canonical_facts(facts)}".encode())
    return "dec_" + digest.hexdigest()[:32]


def _utc(evaluated_at: datetime | None) -> datetime:
    if evaluated_at is None:
        return datetime.now(UTC)
    if evaluated_at.tzinfo is None or evaluated_at.utcoffset() is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "evaluated_at: must be timezone-aware")
    return evaluated_at.astimezone(UTC)


def fold_rules(facts: Facts, ruleset: RuleSet) -> _Fold:
    env = build_environment(facts, ruleset)
    fold = _Fold(env=env, ruleset=ruleset)
    day: date = facts.date_of_service
    controlled = facts.encounter.controlled_substance is not None
    for rule in ruleset.rules_for(day, facts.patient.payer, controlled):
        if rule.matches(env):
            fold.apply(rule)
    for rule in ruleset.lapsed_rules(day):
        if rule.sunset_warning is not None and rule.matches(env):
            fold.warn(*rule.sunset_warning)
    return fold


def decide(
    facts: Facts | Mapping[str, Any],
    ruleset: RuleSet,
    *,
    evaluated_at: datetime | None = None,
    decision_id: str | None = None,
) -> Decision:
    """Decide which modalities fit the facts, with coverage, requirements and prescribing.

    Deterministic for a given ``evaluated_at``; without one the current UTC time is stamped
    (the only input besides the arguments). Invalid facts raise ``DomainError``.
    """
    parsed = parse_facts(facts)
    fold = fold_rules(parsed, ruleset)
    statuses = fold.statuses()
    coverage = fold.coverages()
    controlled = parsed.encounter.controlled_substance is not None
    return Decision(
        decision_id=decision_id or derive_decision_id(parsed, ruleset),
        ruleset_revision=ruleset.revision,
        evaluated_at=_utc(evaluated_at),
        recommended=fold.recommended(statuses, coverage),
        modalities=fold.assessments(statuses),
        coverage=coverage,
        requirements=fold.kept_requirements(statuses),
        prescribing=fold.prescribing(statuses) if controlled else None,
        warnings=[DecisionWarning(code=c, message=m) for c, m in fold.warnings.items()],
    )
