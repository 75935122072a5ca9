"""Load ``policies/coding/*.yaml`` into a compiled :class:`CodeSet` with a content revision.

Every file except the ``*.cases.yaml`` beside them contributes sections (codes, modifiers,
place_of_service, placement, selectors, encounter_rules, audit_rules). The revision is the
sha256 of the files' names and bytes, so a stored coding result can be tied to the exact
rules that produced it.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from telehealth.coding.codeset import (
    CLAIM_FACTS,
    ENCOUNTER_FACTS,
    GROUP_KINDS,
    LINE_KINDS,
    AuditRule,
    Band,
    CodeDef,
    CodeSet,
    FindingRule,
    PlacementRule,
    ReferenceDef,
    RuleInfo,
    Selector,
    TotalTimeTable,
    compile_condition,
)
from telehealth.coding.encounter import ServiceKind, Severity
from telehealth.errors import DomainError, ErrorCode
from telehealth.vocabulary import Confidence, Modality, Payer

DEFAULT_POLICY_DIR = Path(__file__).resolve().parents[3] / "policies" / "coding"
CASES_SUFFIX = ".cases.yaml"

# Values a message template may name, beyond the facts of its context.
_AUDIT_MESSAGE_KEYS = frozenset(CLAIM_FACTS) | {
    "effective_from",
    "effective_to",
    "other_claim",
    "other_code",
    "descriptor",
    # Exclusive-in-period rules: the claim from the rule's `codes` and from its `with_codes`.
    "rule_code",
    "rule_claim",
    "with_code",
    "with_claim",
}
_ENCOUNTER_MESSAGE_KEYS = frozenset(ENCOUNTER_FACTS) | {"segment_summary", "date_of_service"}


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _RuleDoc(_Doc):
    id: str = Field(pattern=r"^[a-z0-9_.]+$")
    effective_from: date
    effective_to: date | None = None
    citation: str = Field(min_length=3)
    confidence: Confidence

    def info(self) -> RuleInfo:
        return RuleInfo(
            self.id, self.effective_from, self.effective_to, self.citation, self.confidence
        )


class CodeDoc(_Doc):
    code: str = Field(pattern=r"^[0-9A-Z]{5}$")
    system: Literal["CPT", "HCPCS"]
    family: str
    descriptor: str
    modalities: list[Modality]
    telehealth: bool
    effective_from: date
    effective_to: date | None = None
    citation: str = Field(min_length=3)
    confidence: Confidence
    payers: dict[Payer, Literal["valid", "invalid", "configurable"]] = {}
    mirrors: str | None = None
    patient_status: Literal["new", "established"] | None = None


class ReferenceDoc(_RuleDoc):
    code: str
    meaning: str


class FindingRuleDoc(_RuleDoc):
    severity: Severity
    when: dict[str, Any] | None = None
    message: str
    blocks: bool = False


class PlacementDoc(_RuleDoc):
    when: dict[str, Any] | None = None
    pos: str | None = None
    modifier: str | None = None
    rationale: str


class BandDoc(_Doc):
    code: str
    min: int | None = None
    max: int | None = None
    when: dict[str, Any] | None = None
    units_over: int | None = None
    units_per: int | None = Field(default=None, ge=1)
    rationale: str


class SelectorDoc(_RuleDoc):
    services: list[ServiceKind]
    strategy: Literal["bands", "em_code"] = "bands"
    when: dict[str, Any] | None = None
    measure: str | None = None
    bands: list[BandDoc] = []
    rationale: str | None = None
    on_no_match: list[FindingRuleDoc] = []


class AuditRuleDoc(_RuleDoc):
    kind: str
    severity: Severity
    message: str
    codes: list[str] | None = None
    families: list[str] | None = None
    when: dict[str, Any] | None = None
    with_codes: list[str] = []
    group_has: list[str] = []


class TotalTimeDoc(_RuleDoc):
    minutes: dict[str, int]


class PolicyFile(_Doc):
    description: str | None = None
    codes: list[CodeDoc] = []
    modifiers: list[ReferenceDoc] = []
    place_of_service: list[ReferenceDoc] = []
    placement: list[PlacementDoc] = []
    selectors: list[SelectorDoc] = []
    encounter_rules: list[FindingRuleDoc] = []
    audit_rules: list[AuditRuleDoc] = []
    em_total_time: list[TotalTimeDoc] = []


class _Collected:
    def __init__(self) -> None:
        self.codes: list[CodeDoc] = []
        self.modifiers: list[ReferenceDoc] = []
        self.pos: list[ReferenceDoc] = []
        self.placement: list[PlacementDoc] = []
        self.selectors: list[SelectorDoc] = []
        self.encounter_rules: list[FindingRuleDoc] = []
        self.audit_rules: list[AuditRuleDoc] = []
        self.em_total_time: list[TotalTimeDoc] = []

    def add(self, doc: PolicyFile) -> None:
        self.codes += doc.codes
        self.modifiers += doc.modifiers
        self.pos += doc.place_of_service
        self.placement += doc.placement
        self.selectors += doc.selectors
        self.encounter_rules += doc.encounter_rules
        self.audit_rules += doc.audit_rules
        self.em_total_time += doc.em_total_time


def _config_error(message: str) -> DomainError:
    return DomainError(ErrorCode.CONFIGURATION, message)


def policy_files(directory: Path) -> list[Path]:
    return sorted(
        p for p in directory.glob("*.yaml") if p.is_file() and not p.name.endswith(CASES_SUFFIX)
    )


def case_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob(f"*{CASES_SUFFIX}") if p.is_file())


def _check_template(template: str, allowed: frozenset[str], where: str) -> None:
    for _, name, _, _ in string.Formatter().parse(template):
        if name is not None and name not in allowed:
            raise _config_error(f"{where}: message names unknown value {{{name}}}")


def _finding_rule(
    doc: FindingRuleDoc, known: Mapping[str, type], keys: frozenset[str]
) -> FindingRule:
    _check_template(doc.message, keys, doc.id)
    return FindingRule(
        doc.info(),
        doc.severity,
        compile_condition(doc.when, known, doc.id),
        doc.message,
        doc.blocks,
    )


def _band(doc: BandDoc, where: str, codes: Mapping[str, CodeDef]) -> Band:
    if doc.code not in codes:
        raise _config_error(f"{where}: band names unknown code {doc.code}")
    _check_template(doc.rationale, _ENCOUNTER_MESSAGE_KEYS, where)
    return Band(
        doc.code,
        doc.min,
        doc.max,
        compile_condition(doc.when, ENCOUNTER_FACTS, f"{where}.{doc.code}"),
        doc.units_over,
        doc.units_per,
        doc.rationale,
    )


def _selector(doc: SelectorDoc, codes: Mapping[str, CodeDef]) -> Selector:
    if doc.strategy == "bands" and not doc.bands:
        raise _config_error(f"{doc.id}: a bands selector needs bands")
    if doc.rationale:
        _check_template(doc.rationale, _ENCOUNTER_MESSAGE_KEYS, doc.id)
    if doc.measure is not None and doc.measure not in ENCOUNTER_FACTS:
        raise _config_error(f"{doc.id}: unknown measure {doc.measure!r}")
    return Selector(
        doc.info(),
        frozenset(doc.services),
        doc.strategy,
        compile_condition(doc.when, ENCOUNTER_FACTS, doc.id),
        doc.measure,
        tuple(_band(b, doc.id, codes) for b in doc.bands),
        tuple(_finding_rule(r, ENCOUNTER_FACTS, _ENCOUNTER_MESSAGE_KEYS) for r in doc.on_no_match),
        doc.rationale or "",
    )


def _code(doc: CodeDoc) -> CodeDef:
    return CodeDef(
        code=doc.code,
        system=doc.system,
        family=doc.family,
        descriptor=doc.descriptor,
        modalities=frozenset(doc.modalities),
        telehealth=doc.telehealth,
        effective_from=doc.effective_from,
        effective_to=doc.effective_to,
        citation=doc.citation,
        confidence=doc.confidence,
        payers=MappingProxyType({str(k): v for k, v in doc.payers.items()}),
        mirrors=doc.mirrors,
        patient_status=doc.patient_status,
    )


def _audit_rule(doc: AuditRuleDoc, codes: Mapping[str, CodeDef]) -> AuditRule:
    if doc.kind not in LINE_KINDS | GROUP_KINDS:
        raise _config_error(f"{doc.id}: unknown audit rule kind {doc.kind!r}")
    for code in (*(doc.codes or ()), *doc.with_codes, *doc.group_has):
        if code not in codes:
            raise _config_error(f"{doc.id}: names unknown code {code}")
    if doc.kind == "once_in_period":
        if not doc.codes or doc.with_codes or doc.group_has:
            raise _config_error(f"{doc.id}: once_in_period needs 'codes' and nothing else")
    elif doc.kind in GROUP_KINDS and (not doc.codes or not doc.with_codes):
        raise _config_error(f"{doc.id}: {doc.kind} needs 'codes' and 'with_codes'")
    _check_template(doc.message, _AUDIT_MESSAGE_KEYS, doc.id)
    return AuditRule(
        info=doc.info(),
        kind=doc.kind,
        severity=doc.severity,
        message=doc.message,
        codes=frozenset(doc.codes) if doc.codes is not None else None,
        families=frozenset(doc.families) if doc.families is not None else None,
        when=compile_condition(doc.when, CLAIM_FACTS, doc.id),
        with_codes=frozenset(doc.with_codes),
        group_has=frozenset(doc.group_has),
    )


def _unique(ids: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise _config_error(f"duplicate {what} {item!r}")
        seen.add(item)


def _index_line_rules(
    rules: tuple[AuditRule, ...], codes: Mapping[str, CodeDef]
) -> tuple[Mapping[str, tuple[AuditRule, ...]], tuple[AuditRule, ...]]:
    line_rules = tuple(r for r in rules if r.kind in LINE_KINDS)
    by_code = {
        code: tuple(r for r in line_rules if r.covers(definition))
        for code, definition in codes.items()
    }
    unknown = tuple(r for r in line_rules if not r.code_specific and r.kind == "condition")
    return MappingProxyType(by_code), unknown


def compile_codeset(docs: _Collected, revision: str) -> CodeSet:
    _unique((c.code for c in docs.codes), "code")
    rule_ids = [
        r.id
        for r in (
            *docs.placement,
            *docs.selectors,
            *docs.encounter_rules,
            *docs.audit_rules,
            *docs.em_total_time,
        )
    ]
    _unique(rule_ids, "rule id")
    codes = {doc.code: _code(doc) for doc in docs.codes}
    for definition in codes.values():
        if definition.mirrors is not None and definition.mirrors not in codes:
            raise _config_error(f"{definition.code}: mirrors unknown code {definition.mirrors}")
    audit_rules = tuple(_audit_rule(doc, codes) for doc in docs.audit_rules)
    by_code, unknown = _index_line_rules(audit_rules, codes)
    group_rules = tuple(r for r in audit_rules if r.kind in GROUP_KINDS)
    group_codes = frozenset(
        code for r in group_rules for code in (*(r.codes or ()), *r.with_codes, *r.group_has)
    )
    return CodeSet(
        revision=revision,
        codes=MappingProxyType(codes),
        modifiers=MappingProxyType(
            {m.code: ReferenceDef(m.code, m.meaning, m.info()) for m in docs.modifiers}
        ),
        places_of_service=MappingProxyType(
            {p.code: ReferenceDef(p.code, p.meaning, p.info()) for p in docs.pos}
        ),
        placement=tuple(_placement(doc) for doc in docs.placement),
        selectors=tuple(_selector(doc, codes) for doc in docs.selectors),
        encounter_rules=tuple(
            _finding_rule(doc, ENCOUNTER_FACTS, _ENCOUNTER_MESSAGE_KEYS)
            for doc in docs.encounter_rules
        ),
        audit_rules=audit_rules,
        line_rules_by_code=by_code,
        line_rules_unknown_code=unknown,
        group_rules=group_rules,
        group_codes=group_codes,
        mirrored_by=_mirrored_by(codes),
        date_boundaries=_date_boundaries(audit_rules, codes),
        em_total_time=tuple(_total_time(doc, codes) for doc in docs.em_total_time),
    )


def _total_time(doc: TotalTimeDoc, codes: Mapping[str, CodeDef]) -> TotalTimeTable:
    for code, minutes in doc.minutes.items():
        if code not in codes:
            raise _config_error(f"{doc.id}: unknown code {code}")
        if minutes < 1:
            raise _config_error(f"{doc.id}: {code} needs a positive number of minutes")
    return TotalTimeTable(doc.info(), MappingProxyType(dict(doc.minutes)))


def _date_boundaries(
    rules: tuple[AuditRule, ...], codes: Mapping[str, CodeDef]
) -> tuple[date, ...]:
    spans = [(r.info.effective_from, r.info.effective_to) for r in rules]
    spans += [(c.effective_from, c.effective_to) for c in codes.values()]
    edges = {start for start, _ in spans}
    edges |= {end + timedelta(days=1) for _, end in spans if end is not None}
    return tuple(sorted(edges))


def _mirrored_by(codes: Mapping[str, CodeDef]) -> Mapping[str, tuple[str, ...]]:
    index: dict[str, list[str]] = {}
    for definition in codes.values():
        if definition.mirrors is not None:
            index.setdefault(definition.mirrors, []).append(definition.code)
    return MappingProxyType({k: tuple(v) for k, v in index.items()})


def _placement(doc: PlacementDoc) -> PlacementRule:
    if (doc.pos is None) == (doc.modifier is None):
        raise _config_error(f"{doc.id}: a placement rule sets exactly one of pos or modifier")
    _check_template(doc.rationale, _ENCOUNTER_MESSAGE_KEYS, doc.id)
    return PlacementRule(
        doc.info(),
        compile_condition(doc.when, ENCOUNTER_FACTS, doc.id),
        doc.pos,
        doc.modifier,
        doc.rationale,
    )


def _parse_file(path: Path, raw: bytes) -> PolicyFile:
    try:
        data = yaml.safe_load(raw) or {}
        return PolicyFile.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise _config_error(f"{path.name}: {exc}") from exc


def load_codeset(directory: Path | None = None) -> CodeSet:
    """Read, validate and compile every policy file in ``directory`` (default: the repo's)."""
    directory = directory or DEFAULT_POLICY_DIR
    files = policy_files(directory)
    if not files:
        raise _config_error(f"no coding policy files in {directory}")
    digest = hashlib.sha256()
    collected = _Collected()
    for path in files:
        raw = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + raw + b"\0")
        collected.add(_parse_file(path, raw))
    try:
        return compile_codeset(collected, digest.hexdigest())
    except ValueError as exc:
        raise _config_error(str(exc)) from exc


def default_codeset() -> CodeSet:
    """The repository's code set, compiled (``telehealth.bootstrap`` does it once per
    process)."""
    return load_codeset(DEFAULT_POLICY_DIR)
