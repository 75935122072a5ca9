"""Table-driven cases: each ``*.cases.yaml`` beside a pack lists facts and expectations.

A case gives only the facts that differ from ``policies/cases.defaults.yaml`` (deep-merged;
lists and null replace) and asserts selected parts of the decision, so a reader can check a
rule against the law it cites without reading the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from telehealth.errors import DomainError
from telehealth.policy.decision import Decision, Requirement
from telehealth.policy.engine import decide
from telehealth.policy.loader import CASE_DEFAULTS, RuleSet, case_files, read_yaml
from telehealth.vocabulary import Modality

# Cases stamp a fixed evaluation time so that their output is reproducible.
CASE_EVALUATED_AT = datetime(2026, 11, 27, tzinfo=UTC)


class Expectation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    recommended: Modality | None = None
    status: dict[Modality, str] = Field(default_factory=dict)
    coverage: dict[Modality, str] = Field(default_factory=dict)
    prescribing: dict[Modality, str] | None = None
    requirements: list[dict[str, Any]] = Field(default_factory=list)
    no_requirements: list[dict[str, Any]] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    no_warnings: list[str] = Field(default_factory=list)
    reasons: dict[Modality, list[str]] = Field(default_factory=dict)


class CaseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    facts: dict[str, Any] = Field(default_factory=dict)
    expect: Expectation


class CaseFileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cases: list[CaseSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Case:
    file: str
    name: str
    facts: dict[str, Any]
    expect: Expectation
    expect_fields: frozenset[str]

    @property
    def id(self) -> str:
        return f"{self.file}::{self.name}"


@dataclass(frozen=True)
class CaseResult:
    case: Case
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_cases(root: Path) -> tuple[list[Case], list[str]]:
    """All cases under ``root`` and the problems found reading them."""
    problems: list[str] = []
    defaults_path = root / CASE_DEFAULTS
    defaults: dict[str, Any] = {}
    try:
        defaults = (read_yaml(defaults_path.read_text(encoding="utf-8")) or {})["facts"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        problems.append(f"{CASE_DEFAULTS}: cannot read default facts: {exc}")
    cases: list[Case] = []
    for path in case_files(root):
        rel = path.relative_to(root).as_posix()
        try:
            spec = CaseFileSpec.model_validate(read_yaml(path.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            problems.append(f"{rel}: {exc}")
            continue
        names: set[str] = set()
        for c in spec.cases:
            if c.name in names:
                problems.append(f"{rel}: duplicate case name {c.name!r}")
            names.add(c.name)
            cases.append(
                Case(
                    file=rel,
                    name=c.name,
                    facts=deep_merge(defaults, c.facts),
                    expect=c.expect,
                    expect_fields=frozenset(c.expect.model_fields_set),
                )
            )
    return cases, problems


def _requirement_present(decision: Decision, raw: Mapping[str, Any]) -> bool:
    # Without a "modality" key any modality matches; "modality: null" means a general one.
    text = str(raw.get("detail_contains", ""))
    terms: Mapping[str, Any] = raw.get("consent") or {}
    return any(
        r.kind == raw.get("kind")
        and ("modality" not in raw or r.modality == raw["modality"])
        and text in r.detail
        and _terms_match(r, terms)
        for r in decision.requirements
    )


def _terms_match(requirement: Requirement, terms: Mapping[str, Any]) -> bool:
    # "consent: {form: written}" matches a requirement whose terms include those values.
    if not terms:
        return True
    got = requirement.consent
    return got is not None and all(getattr(got, k, None) == v for k, v in terms.items())


def _compare_maps(label: str, want: Mapping[Any, str], got: Mapping[Any, str]) -> list[str]:
    return [
        f"{label}[{key}]: expected {value}, got {got.get(key)}"
        for key, value in want.items()
        if got.get(key) != value
    ]


def check(case: Case, decision: Decision) -> list[str]:
    """Every expectation of ``case`` that ``decision`` does not meet."""
    exp = case.expect
    failures: list[str] = []
    if "recommended" in case.expect_fields and decision.recommended != exp.recommended:
        failures.append(f"recommended: expected {exp.recommended}, got {decision.recommended}")
    statuses = {m: a.status for m, a in decision.modalities.items()}
    failures += _compare_maps("status", exp.status, statuses)
    failures += _compare_maps("coverage", exp.coverage, dict(decision.coverage))
    if "prescribing" in case.expect_fields:
        if exp.prescribing is None or decision.prescribing is None:
            if exp.prescribing != decision.prescribing:
                failures.append(
                    f"prescribing: expected {exp.prescribing}, got {decision.prescribing}"
                )
        else:
            failures += _compare_maps("prescribing", exp.prescribing, dict(decision.prescribing))
    for raw in exp.requirements:
        if not _requirement_present(decision, raw):
            failures.append(f"requirement missing: {raw}")
    for raw in exp.no_requirements:
        if _requirement_present(decision, raw):
            failures.append(f"requirement unexpectedly present: {raw}")
    codes = {w.code for w in decision.warnings}
    failures += [f"warning missing: {c}" for c in exp.warnings if c not in codes]
    failures += [f"warning unexpectedly present: {c}" for c in exp.no_warnings if c in codes]
    for modality, rule_ids in exp.reasons.items():
        present = {r.rule for r in decision.modalities[modality].reasons}
        failures += [f"reason missing on {modality}: {r}" for r in rule_ids if r not in present]
    return failures


def run_case(case: Case, ruleset: RuleSet) -> CaseResult:
    try:
        decision = decide(case.facts, ruleset, evaluated_at=CASE_EVALUATED_AT)
    except DomainError as exc:
        return CaseResult(case, (f"invalid facts: {exc.message}",))
    return CaseResult(case, tuple(check(case, decision)))


def run_all(ruleset: RuleSet) -> tuple[list[CaseResult], list[str]]:
    cases, problems = load_cases(ruleset.root)
    return [run_case(c, ruleset) for c in cases], problems
