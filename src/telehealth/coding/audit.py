"""Claim audit: pure per-line checks plus bounded cross-line checks, driven over a stream.

Per-line rules see one claim and the code set. Cross-line rules (same patient and period)
keep, per ``(patient_id, period)`` key, only the first claim of each code that some
cross-line rule names; keys live in an LRU of at most ``max_groups`` entries, so memory is
bounded however long the input. A key pushed out of the LRU is settled (its end-of-group
rules run) and forgotten: two lines of one patient-period further apart than ``max_groups``
other keys are not compared. ``period`` is the claim's ``period`` column when given, else
the calendar month of the date of service.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from telehealth.coding.codeset import AuditRule, CodeDef, CodeSet
from telehealth.coding.encounter import Severity
from telehealth.coding.reader import Claim

DEFAULT_MAX_GROUPS = 20_000
# Distinct (code, payer, modifiers, POS, ...) combinations remembered by one auditor.
LINE_CACHE_SIZE = 16_384
_NO_HITS: tuple[()] = ()


class Hit(NamedTuple):
    """One audit finding (the streaming twin of :class:`~.encounter.AuditFinding`)."""

    claim_id: str
    severity: Severity
    rule: str
    message: str
    citation: str
    line: int | None

    def as_dict(self) -> dict[str, Any]:
        return self._asdict()


class _Values(dict[str, Any]):
    # A message naming a value this context lacks shows "?" rather than failing mid-stream.
    def __missing__(self, key: str) -> str:
        return "?"


class _Seen(NamedTuple):
    claim_id: str
    line: int
    date_of_service: date


def claim_facts(claim: Claim, code: CodeDef | None) -> dict[str, Any]:
    return {
        "code": claim.code,
        "family": code.family if code is not None else None,
        "payer": claim.payer,
        "pos": claim.pos,
        "modality": claim.modality,
        "modifiers": claim.modifiers,
        "patient_state": claim.patient_state,
        "alaska_hawaii_demo": claim.alaska_hawaii_demo,
        "data_days": claim.data_days,
        "minutes": claim.minutes,
        "interactive_communication": claim.interactive_communication,
        "new_patient": claim.new_patient,
        "billing_setting": claim.billing_setting,
        "section_1135_waiver": claim.section_1135_waiver,
    }


def _line_rule_hits(
    rule: AuditRule, claim: Claim, code: CodeDef | None, facts: Mapping[str, Any]
) -> bool:
    kind = rule.kind
    if kind == "condition":
        return rule.when(facts)
    if code is None:
        return False
    if kind == "before_effective":
        return claim.date_of_service < code.effective_from
    if kind == "after_deletion":
        return code.effective_to is not None and claim.date_of_service > code.effective_to
    if kind == "payer_invalid":
        return code.payer_status(claim.payer) == "invalid"
    # code_modality: only when the platform recorded what actually happened.
    return claim.modality is not None and claim.modality not in code.modalities


def _hit(rule: AuditRule, claim_id: str, line: int | None, values: _Values) -> Hit:
    return Hit(
        claim_id,
        rule.severity,
        rule.info.id,
        rule.message.format_map(values),
        rule.info.citation,
        line,
    )


def check_line(claim: Claim, codeset: CodeSet) -> list[Hit]:
    """The single-claim rules (pure)."""
    code = codeset.codes.get(claim.code)
    rules = (
        codeset.line_rules_by_code[claim.code]
        if code is not None
        else codeset.line_rules_unknown_code
    )
    facts = claim_facts(claim, code)
    hits: list[Hit] = []
    on = claim.date_of_service
    for rule in rules:
        if rule.info.in_force(on) and _line_rule_hits(rule, claim, code, facts):
            values = _Values(facts)
            if code is not None:
                values.update(
                    effective_from=code.effective_from.isoformat(),
                    effective_to=code.effective_to.isoformat() if code.effective_to else "",
                    descriptor=code.descriptor,
                )
            hits.append(_hit(rule, claim.claim_id, claim.line, values))
    return hits


@dataclass
class AuditSummary:
    lines_read: int = 0
    findings: int = 0
    claims_with_findings: int = 0
    groups_evicted: int = 0
    by_severity: Counter[str] = field(default_factory=Counter)
    by_rule: Counter[str] = field(default_factory=Counter)

    def count(self, hits: list[Hit]) -> None:
        self.findings += len(hits)
        by_severity, by_rule = self.by_severity, self.by_rule
        for hit in hits:
            by_severity[hit.severity] += 1
            by_rule[hit.rule] += 1

    @property
    def has_errors(self) -> bool:
        return self.by_severity["error"] > 0

    def as_dict(self, revision: str) -> dict[str, Any]:
        return {
            "lines_read": self.lines_read,
            "findings": self.findings,
            "claims_with_findings": self.claims_with_findings,
            "by_severity": {
                "error": self.by_severity["error"],
                "warning": self.by_severity["warning"],
            },
            "by_rule": dict(sorted(self.by_rule.items())),
            "groups_evicted": self.groups_evicted,
            "codeset_revision": revision,
        }


class Auditor:
    """Audits claims one at a time; call :meth:`finish` after the last one."""

    def __init__(self, codeset: CodeSet, max_groups: int = DEFAULT_MAX_GROUPS) -> None:
        self.codeset = codeset
        self.summary = AuditSummary()
        self._max_groups = max(1, max_groups)
        # Key: (patient_id, period column or (year, month) of the date of service).
        self._groups: OrderedDict[tuple[str, object], dict[str, _Seen]] = OrderedDict()
        self._exclusive = _partners_by_code(codeset.group_rules)
        self._once = _once_rules_by_code(codeset.group_rules)
        self._requires = tuple(
            (r, tuple(sorted(r.codes or ())))
            for r in codeset.group_rules
            if r.kind == "group_requires"
        )
        self._line_cache: dict[tuple[Any, ...], tuple[Hit, ...]] = {}
        self._epochs: dict[date, int] = {}

    def _epoch(self, on: date) -> int:
        epoch = self._epochs.get(on)
        if epoch is None:
            if len(self._epochs) >= LINE_CACHE_SIZE:
                self._epochs.clear()
            epoch = self._epochs[on] = bisect_right(self.codeset.date_boundaries, on)
        return epoch

    def _line_hits(self, claim: Claim) -> list[Hit]:
        """:func:`check_line`, memoised: real claim files repeat the same few combinations.

        Per-line results depend only on the claim's coded fields (payer through
        section_1135_waiver) and on which dated rules are in force, never on claim_id, line,
        patient or period, so those are filled in per claim.
        """
        on = claim.date_of_service
        epoch = self._epochs.get(on)
        if epoch is None:
            epoch = self._epoch(on)
        key = (claim[3:16], epoch)
        template = self._line_cache.get(key)
        if template is None:
            if len(self._line_cache) >= LINE_CACHE_SIZE:
                self._line_cache.clear()
            template = self._line_cache[key] = tuple(check_line(claim, self.codeset))
        if not template:
            return []
        claim_id, line = claim.claim_id, claim.line
        return [Hit(claim_id, h[1], h[2], h[3], h[4], line) for h in template]

    def check(self, claim: Claim) -> list[Hit]:
        self.summary.lines_read += 1
        hits = self._line_hits(claim)
        settled: list[Hit] = []
        if claim.patient_id is not None and claim.code in self.codeset.group_codes:
            hits += self._check_group(claim, settled)
        if hits:
            self.summary.claims_with_findings += 1
        if settled:
            hits += settled
        if hits:
            self.summary.count(hits)
        return hits

    def run(self, claims: Iterable[Claim]) -> Iterator[Hit]:
        check = self.check
        for claim in claims:
            hits = check(claim)
            if hits:
                yield from hits
        yield from self.finish()

    def finish(self) -> list[Hit]:
        hits: list[Hit] = []
        while self._groups:
            _, seen = self._groups.popitem(last=False)
            hits += self._settle(seen)
        self.summary.count(hits)
        return hits

    def _check_group(self, claim: Claim, settled: list[Hit]) -> list[Hit]:
        on = claim.date_of_service
        key = (claim.patient_id or "", claim.period or (on.year, on.month))
        groups = self._groups
        seen = groups.get(key)
        hits: list[Hit] = []
        if seen is None:
            seen = groups[key] = {}
            if len(groups) > self._max_groups:
                settled += self._evict()
        else:
            groups.move_to_end(key)
            for rule, partners, listed in self._exclusive.get(claim.code, ()):
                for other in partners:
                    if other in seen:
                        hits += self._exclusive_hit(rule, claim, other, seen[other], listed)
                        break
            first = seen.get(claim.code)
            if first is not None:
                for rule in self._once.get(claim.code, ()):
                    hits += self._repeat_hit(rule, claim, first)
        if claim.code not in seen:
            seen[claim.code] = _Seen(claim.claim_id, claim.line, on)
        return hits

    def _exclusive_hit(
        self, rule: AuditRule, claim: Claim, other: str, first: _Seen, listed: bool
    ) -> list[Hit]:
        """``listed``: the claim's code is on the rule's ``codes`` side (else ``with_codes``)."""
        if not rule.info.in_force(claim.date_of_service):
            return []
        values = _Values(claim_facts(claim, self.codeset.codes.get(claim.code)))
        values.update(other_claim=first.claim_id, other_code=other)
        mine, theirs = (claim.code, claim.claim_id), (other, first.claim_id)
        (rule_code, rule_claim), (with_code, with_claim) = (
            (mine, theirs) if listed else (theirs, mine)
        )
        values.update(
            rule_code=rule_code, rule_claim=rule_claim, with_code=with_code, with_claim=with_claim
        )
        return [_hit(rule, claim.claim_id, claim.line, values)]

    def _repeat_hit(self, rule: AuditRule, claim: Claim, first: _Seen) -> list[Hit]:
        if not rule.info.in_force(claim.date_of_service):
            return []
        values = _Values(claim_facts(claim, self.codeset.codes.get(claim.code)))
        values.update(other_claim=first.claim_id, other_code=claim.code)
        return [_hit(rule, claim.claim_id, claim.line, values)]

    def _evict(self) -> list[Hit]:
        _, seen = self._groups.popitem(last=False)
        self.summary.groups_evicted += 1
        return self._settle(seen)

    def _settle(self, seen: Mapping[str, _Seen]) -> list[Hit]:
        hits: list[Hit] = []
        for rule, add_ons in self._requires:
            for code in add_ons:
                first = seen.get(code)
                if first is None or not rule.info.in_force(first.date_of_service):
                    continue
                if any(c in seen for c in rule.with_codes):
                    continue
                other = [c for c in sorted(rule.group_has) if c in seen]
                if rule.group_has and not other:
                    continue
                values = _Values(code=code, other_code=other[0] if other else "")
                if other:
                    values["other_claim"] = seen[other[0]].claim_id
                hits.append(_hit(rule, first.claim_id, first.line, values))
        return hits


def _partners_by_code(
    rules: Iterable[AuditRule],
) -> dict[str, tuple[tuple[AuditRule, tuple[str, ...], bool], ...]]:
    """For each code, the exclusive rules naming it, the codes it may not meet, and whether
    the code is on the rule's ``codes`` side (messages name each side by its own label)."""
    index: dict[str, list[tuple[AuditRule, tuple[str, ...], bool]]] = {}
    for rule in rules:
        if rule.kind != "exclusive_in_period":
            continue
        sides = (rule.codes or frozenset(), rule.with_codes)
        for listed, (mine, theirs) in ((True, sides), (False, sides[::-1])):
            for code in mine:
                partners = tuple(sorted(theirs - {code}))
                index.setdefault(code, []).append((rule, partners, listed))
    return {code: tuple(entries) for code, entries in index.items()}


def _once_rules_by_code(rules: Iterable[AuditRule]) -> dict[str, tuple[AuditRule, ...]]:
    """For each code, the rules that allow it only once per patient and period."""
    index: dict[str, list[AuditRule]] = {}
    for rule in rules:
        if rule.kind == "once_in_period":
            for code in sorted(rule.codes or ()):
                index.setdefault(code, []).append(rule)
    return {code: tuple(entries) for code, entries in index.items()}


def audit_claims(
    claims: Iterable[Claim], codeset: CodeSet, max_groups: int = DEFAULT_MAX_GROUPS
) -> tuple[list[Hit], AuditSummary]:
    """Audit a small batch in memory (tests, the engine's self-check)."""
    auditor = Auditor(codeset, max_groups)
    hits = list(auditor.run(claims))
    return hits, auditor.summary
