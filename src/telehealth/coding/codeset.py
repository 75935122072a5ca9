"""The compiled, immutable code set: codes, modifiers, POS and the rules that interpret them.

Everything here is built once by :mod:`telehealth.coding.loader` from the YAML under
``policies/coding/``; the engine and the auditor only read it. Conditions in the YAML are
compiled to plain closures so that evaluating a rule on a hot path is a few dict look-ups.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from telehealth.coding.encounter import Severity
from telehealth.vocabulary import BILLING_SETTINGS, MODALITIES, PAYERS, US_STATES

Facts = Mapping[str, Any]
Predicate = Callable[[Facts], bool]

# Facts a condition may test, with their types. Encounter rules, selectors and placement
# rules see ENCOUNTER_FACTS; claim audit rules see CLAIM_FACTS. Typing them lets the loader
# reject a YAML value of the wrong type (an unquoted POS 02 becomes the integer 2).
ENCOUNTER_FACTS: Mapping[str, type] = {
    "payer": str,
    "setting": str,
    "patient_state": str,
    "alaska_hawaii_demo": bool,
    "can_bill_em": bool,
    "facility_type": str,
    "modality": str,
    "mixed_segments": bool,
    "kind": str,
    "new_patient": bool,
    "acute_stroke": bool,
    "econsult_report": str,
    "minutes": int,
    "em_code": str,
    "em_family": str,
    "em_patient_status": str,
    "em_basis": str,
    # The chosen level's total-time threshold on the date of service, and whether the
    # measured minutes reach it (unknown without a threshold or minutes).
    "em_time_minutes": int,
    "em_time_met": bool,
    "two_way_media": bool,
    "accepts_cpt_telemedicine_em": bool,
    "data_days": int,
    "management_minutes": int,
    "interpretation_minutes": int,
    "interactive_communication": bool,
    "first_period_of_episode": bool,
    "device_category": str,
    "family": str,
}
CLAIM_FACTS: Mapping[str, type] = {
    "code": str,
    "family": str,
    "payer": str,
    "pos": str,
    "modality": str,
    "modifiers": frozenset,
    "patient_state": str,
    "alaska_hawaii_demo": bool,
    "data_days": int,
    "minutes": int,
    "interactive_communication": bool,
    "new_patient": bool,
    "billing_setting": str,
    "section_1135_waiver": bool,
}
# Facts named by the shared vocabulary: a rule testing any other value could never match, so
# the loader rejects it as a misspelling.
FACT_VALUES: Mapping[str, frozenset[str]] = {
    "payer": frozenset(PAYERS),
    "modality": frozenset(MODALITIES),
    "patient_state": US_STATES,
    "billing_setting": frozenset(BILLING_SETTINGS),
}
_COMPARISONS: Mapping[str, Callable[[Any, Any], bool]] = {
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
}


def _always(_: Facts) -> bool:
    return True


def _known_value(key: str, value: Any, kind: type, where: str) -> Any:
    """``value`` coerced to the fact's type, and one the vocabulary knows for that fact."""
    coerced = _coerce(value, kind, where)
    allowed = FACT_VALUES.get(key)
    if allowed is not None and coerced is not None and coerced not in allowed:
        raise ValueError(f"{where}: {coerced!r} is not a known {key.replace('_', ' ')}")
    return coerced


def _coerce(value: Any, kind: type, where: str) -> Any:
    if value is None:
        return None
    if kind in (str, frozenset):
        if isinstance(value, bool) or not isinstance(value, str):
            raise ValueError(f"{where}: expected a quoted string, got {value!r}")
        return value
    if kind is bool and not isinstance(value, bool):
        raise ValueError(f"{where}: expected true or false, got {value!r}")
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{where}: expected an integer, got {value!r}")
    return value


def _compile_test(key: str, value: Any, kind: type, where: str) -> Predicate:
    if isinstance(value, dict):
        tests = []
        for op, bound in value.items():
            if op not in _COMPARISONS:
                raise ValueError(f"{where}: unknown comparison {op!r}")
            tests.append((_COMPARISONS[op], _coerce(bound, int, where)))

        def compare(facts: Facts) -> bool:
            actual = facts[key]
            # An unknown measure never triggers a rule: claims often lack it.
            return actual is not None and all(test(actual, bound) for test, bound in tests)

        return compare
    if isinstance(value, list):
        options = frozenset(_known_value(key, v, kind, where) for v in value)
        if kind is frozenset:
            return lambda facts: not options.isdisjoint(facts[key])
        return lambda facts: facts[key] in options
    expected = _known_value(key, value, kind, where)
    if kind is frozenset:
        return lambda facts: expected in facts[key]
    return lambda facts: facts[key] == expected


def _negation(inner: Predicate) -> Predicate:
    return lambda facts: not inner(facts)


def _disjunction(options: tuple[Predicate, ...]) -> Predicate:
    return lambda facts: any(option(facts) for option in options)


def compile_condition(
    spec: Mapping[str, Any] | None, known: Mapping[str, type], where: str
) -> Predicate:
    """Compile a YAML condition: every key must hold (``not`` negates, ``any`` is a disjunction).

    A scalar tests equality, a list membership (overlap for a set-valued fact such as
    ``modifiers``), a mapping of ``lt/lte/gt/gte`` a numeric bound.
    """
    if not spec:
        return _always
    parts: list[Predicate] = []
    for key, value in spec.items():
        if key == "not":
            parts.append(_negation(compile_condition(value, known, f"{where}.not")))
        elif key == "any":
            if not isinstance(value, list) or not value:
                raise ValueError(f"{where}.any: expected a non-empty list of conditions")
            parts.append(
                _disjunction(tuple(compile_condition(v, known, f"{where}.any") for v in value))
            )
        elif key in known:
            parts.append(_compile_test(key, value, known[key], f"{where}.{key}"))
        else:
            raise ValueError(f"{where}: unknown fact {key!r}")
    if len(parts) == 1:
        return parts[0]
    every = tuple(parts)
    return lambda facts: all(p(facts) for p in every)


@dataclass(frozen=True, slots=True)
class RuleInfo:
    id: str
    effective_from: date
    effective_to: date | None
    citation: str
    confidence: str

    def in_force(self, on: date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)


@dataclass(frozen=True, slots=True)
class CodeDef:
    code: str
    system: str
    family: str
    descriptor: str
    modalities: frozenset[str]
    telehealth: bool
    effective_from: date
    effective_to: date | None
    citation: str
    confidence: str
    payers: Mapping[str, str]
    mirrors: str | None
    patient_status: str | None

    def effective_on(self, on: date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)

    def payer_status(self, payer: str) -> str:
        return self.payers.get(payer, "valid")


@dataclass(frozen=True, slots=True)
class ReferenceDef:
    """A modifier or a place-of-service code."""

    code: str
    meaning: str
    info: RuleInfo


@dataclass(frozen=True, slots=True)
class FindingRule:
    info: RuleInfo
    severity: Severity
    when: Predicate
    message: str
    # A blocking encounter rule stops the engine from producing lines for the service.
    blocks: bool = False


@dataclass(frozen=True, slots=True)
class PlacementRule:
    info: RuleInfo
    when: Predicate
    pos: str | None
    modifier: str | None
    rationale: str


@dataclass(frozen=True, slots=True)
class Band:
    code: str
    minimum: int | None
    maximum: int | None
    when: Predicate
    units_over: int | None
    units_per: int | None
    rationale: str

    def holds(self, value: int | None) -> bool:
        if self.minimum is None and self.maximum is None:
            return True
        if value is None:
            return False
        low_ok = self.minimum is None or value >= self.minimum
        return low_ok and (self.maximum is None or value <= self.maximum)

    def units(self, value: int | None) -> int:
        if self.units_per is None or value is None:
            return 1
        return (value - (self.units_over or 0)) // self.units_per


@dataclass(frozen=True, slots=True)
class Selector:
    info: RuleInfo
    services: frozenset[str]
    strategy: str
    when: Predicate
    measure: str | None
    bands: tuple[Band, ...]
    on_no_match: tuple[FindingRule, ...]
    rationale: str = ""


@dataclass(frozen=True, slots=True)
class AuditRule:
    info: RuleInfo
    kind: str
    severity: Severity
    message: str
    codes: frozenset[str] | None
    families: frozenset[str] | None
    when: Predicate
    with_codes: frozenset[str] = frozenset()
    group_has: frozenset[str] = frozenset()

    @property
    def code_specific(self) -> bool:
        return self.codes is not None or self.families is not None

    def covers(self, code: CodeDef) -> bool:
        if not self.code_specific:
            return True
        return (self.codes is not None and code.code in self.codes) or (
            self.families is not None and code.family in self.families
        )


@dataclass(frozen=True, slots=True)
class TotalTimeTable:
    """Minimum total minutes on the date of the encounter for each E/M level chosen by time,
    under the guidelines in force between the table's dates."""

    info: RuleInfo
    minutes: Mapping[str, int]


LINE_KINDS = frozenset(
    {"condition", "before_effective", "after_deletion", "payer_invalid", "code_modality"}
)
GROUP_KINDS = frozenset({"exclusive_in_period", "group_requires", "once_in_period"})


@dataclass(frozen=True, slots=True)
class CodeSet:
    revision: str
    codes: Mapping[str, CodeDef]
    modifiers: Mapping[str, ReferenceDef]
    places_of_service: Mapping[str, ReferenceDef]
    placement: tuple[PlacementRule, ...]
    selectors: tuple[Selector, ...]
    encounter_rules: tuple[FindingRule, ...]
    audit_rules: tuple[AuditRule, ...]
    # Indexes built at load so that auditing a line touches only the rules that concern it.
    line_rules_by_code: Mapping[str, tuple[AuditRule, ...]] = field(default_factory=dict)
    line_rules_unknown_code: tuple[AuditRule, ...] = ()
    group_rules: tuple[AuditRule, ...] = ()
    group_codes: frozenset[str] = frozenset()
    # Every date on which some line rule or code comes into or goes out of force: between
    # two boundaries the per-line rules give identical results, which lets audits memoise.
    date_boundaries: tuple[date, ...] = ()
    # Office E/M code -> the CPT telemedicine codes that mirror its level.
    mirrored_by: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    em_total_time: tuple[TotalTimeTable, ...] = ()

    def total_time_thresholds(self, on: date) -> Mapping[str, int]:
        """E/M code -> the minimum total minutes for choosing it by time on ``on`` (empty
        before any table is in force)."""
        for table in self.em_total_time:
            if table.info.in_force(on):
                return table.minutes
        return {}
