"""Load, validate and compile the YAML rule packs under ``policies/``.

A pack is either a rule pack (``kind: rules``) or the per-state table (``kind: state_table``).
Case files (``*.cases.yaml``) and ``cases.defaults.yaml`` sit beside the packs but are not
part of the rule set. Everything is validated and compiled once here: dates parsed, modality
groups expanded, conditions turned into frozensets, rules bucketed by date interval and payer,
so that ``decide`` only looks things up.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from telehealth.errors import DomainError, ErrorCode
from telehealth.policy.decision import (
    ConsentTerms,
    Coverage,
    Prescribing,
    Reason,
    Requirement,
    RequirementKind,
    Status,
)
from telehealth.policy.variables import (
    BASE_VARIABLES,
    SUNSET_STATES,
    state_sunset_variable,
    state_variable,
)
from telehealth.vocabulary import (
    MODALITIES,
    MODALITY_GROUPS,
    PAYERS,
    US_STATES,
    Confidence,
    Discipline,
    Modality,
)

EffectKind = Literal["status", "coverage", "prescribing", "requirement", "warning", "prefer"]
# Rules are pre-sorted into buckets by these variables (besides the date), so a decision only
# tests rules that can apply to its payer and to whether a controlled substance is involved.
BucketKey = tuple[str, bool]
BUCKET_KEYS: tuple[BucketKey, ...] = tuple((p, cs) for p in PAYERS for cs in (False, True))
CASES_SUFFIX = ".cases.yaml"
# The modality packs live in these folders of ``policies/``; other folders belong to other
# engines (e.g. coding) and are not read here.
PACK_DIRS: tuple[str, ...] = ("federal", "states", "payers", "clinical", "access")
CASE_DEFAULTS = "cases.defaults.yaml"
_ID_PATTERN = r"^[a-z0-9][a-z0-9_.\-]*$"


def default_policies_dir() -> Path:
    return Path(__file__).resolve().parents[3] / "policies"


class PolicyError(DomainError):
    """The packs are invalid; ``problems`` lists every finding, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(ErrorCode.CONFIGURATION, "invalid policy packs", problems=problems)
        self.problems = problems


# --- pack file schemas -------------------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EffectSpec(_Spec):
    status: Status | None = None
    coverage: Coverage | None = None
    prescribing: Prescribing | None = None
    requirement: RequirementKind | None = None
    warning: str | None = Field(default=None, pattern=_ID_PATTERN)
    prefer: list[Modality] | None = None
    modalities: list[str] | None = None
    detail: str | None = None
    priority: int = 0
    # How a consent requirement must be met (form, follow-up signature, renewal, scope).
    consent: ConsentTerms | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> EffectSpec:
        kinds = [k for k in _EFFECT_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"an effect needs exactly one of {', '.join(_EFFECT_KINDS)}")
        if self.consent is not None and self.requirement != "consent":
            raise ValueError("'consent' terms belong only to a consent requirement")
        needs_modalities = kinds[0] in ("status", "coverage", "prescribing")
        if needs_modalities and not self.modalities:
            raise ValueError(f"a {kinds[0]} effect needs a non-empty 'modalities' list")
        return self


_EFFECT_KINDS: tuple[EffectKind, ...] = (
    "status",
    "coverage",
    "prescribing",
    "requirement",
    "warning",
    "prefer",
)


class SunsetSpec(_Spec):
    renewal: Literal["unknown"]
    warning: str = Field(pattern=_ID_PATTERN)
    message: str = Field(min_length=1)


class RuleSpec(_Spec):
    id: str = Field(pattern=_ID_PATTERN)
    effective_from: date
    effective_to: date | None
    citation: str = Field(min_length=3)
    confidence: Confidence
    message: str = Field(min_length=1)
    when: dict[str, Any] = Field(default_factory=dict)
    effects: list[EffectSpec] = Field(min_length=1)
    series: str | None = None
    cites_state_field: str | None = None
    sunset: SunsetSpec | None = None
    note: str | None = None


class SpecialtySpec(_Spec):
    workflow: Literal["interpreted_media", "therapeutic_interaction"]
    compact: str
    citation: str = Field(min_length=3)
    confidence: Confidence


class LinkTier(_Spec):
    min_down_mbps: float
    min_up_mbps: float
    max_rtt_ms: float
    max_loss_pct: float


class VideoThresholdsSpec(_Spec):
    citation: str = Field(min_length=3)
    confidence: Confidence
    good: LinkTier
    marginal: LinkTier


class TablesSpec(_Spec):
    specialty_workflows: dict[str, SpecialtySpec] | None = None
    default_compact: str | None = None
    video_link_thresholds: VideoThresholdsSpec | None = None


class RulePackSpec(_Spec):
    kind: Literal["rules"]
    pack: str
    description: str
    tables: TablesSpec | None = None
    rules: list[RuleSpec] = Field(default_factory=list)


class FieldSpec(_Spec):
    values: list[str] = Field(min_length=1)
    description: str
    # Values whose entries must carry a numeric ``limit`` (e.g. a visit count a rule tests).
    needs_limit: list[str] = Field(default_factory=list)


class StateFieldSpec(_Spec):
    value: str
    source: str = Field(min_length=1)
    as_of: str = Field(min_length=4)
    confidence: Confidence
    note: str | None = None
    detail: str | None = None
    # A sunset the data cannot see past: after effective_to the law as written applies.
    effective_to: date | None = None
    after_sunset: str | None = None
    renewal: Literal["unknown"] | None = None
    # A dated change: ``value`` applies from effective_from; before it, ``before_effective``.
    effective_from: date | None = None
    before_effective: str | None = None
    # The professions a registration (or similar authorization) covers, where the source
    # names them; None: not named.
    disciplines: list[Discipline] | None = None
    # A count the state's rule turns on (e.g. telehealth visits before an in-person one).
    limit: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _sunset_complete(self) -> StateFieldSpec:
        parts = (self.effective_to, self.after_sunset, self.renewal)
        if any(p is not None for p in parts) and not all(p is not None for p in parts):
            raise ValueError("a sunset needs effective_to, after_sunset and renewal together")
        if (self.effective_from is None) != (self.before_effective is None):
            raise ValueError("a dated change needs effective_from and before_effective together")
        if (
            self.effective_from is not None
            and self.effective_to is not None
            and self.effective_to < self.effective_from
        ):
            raise ValueError("effective_to is before effective_from")
        return self


class StateSpec(_Spec):
    model_config = ConfigDict(extra="allow", frozen=True)
    name: str


class StateTableSpec(_Spec):
    kind: Literal["state_table"]
    pack: str
    description: str
    fields: dict[str, FieldSpec]
    states: dict[str, StateSpec]


# --- compiled form ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition:
    variable: str
    negate: bool
    values: frozenset[object]

    def test(self, env: Mapping[str, object]) -> bool:
        value = env.get(self.variable)
        if value is None:
            # Absent facts never satisfy a negative test: "not X" must not match "unknown".
            return not self.negate and None in self.values
        return (value in self.values) != self.negate


@dataclass(frozen=True, slots=True)
class Effect:
    kind: EffectKind
    value: str
    modalities: tuple[Modality | None, ...]
    detail: str | None
    priority: int
    order: tuple[Modality, ...] = ()
    terms: ConsentTerms | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    pack: str
    effective_from: date
    effective_to: date | None
    citation: str
    confidence: Confidence
    message: str
    conditions: tuple[Condition, ...]
    effects: tuple[Effect, ...]
    cites_state_field: str | None
    sunset_warning: tuple[str, str] | None
    position: int
    # The variables its texts depend on: rendered texts are memoised on their values.
    text_variables: tuple[str, ...]

    def in_force(self, day: date) -> bool:
        return self.effective_from <= day and (
            self.effective_to is None or day <= self.effective_to
        )

    def matches(self, env: Mapping[str, object]) -> bool:
        # Hot path of every decision: a plain loop over the compiled conditions.
        for cond in self.conditions:
            value = env.get(cond.variable)
            if value is None:
                if cond.negate or None not in cond.values:
                    return False
            elif (value in cond.values) == cond.negate:
                return False
        return True


@dataclass(frozen=True, slots=True)
class StateValue:
    value: str
    source: str
    as_of: str
    confidence: Confidence
    note: str | None
    sunset: tuple[date, str] | None
    # (effective_from, value before it): a change the data knows the date of.
    change: tuple[date, str] | None = None
    disciplines: frozenset[str] | None = None
    limit: int | None = None

    def resolve(self, day: date) -> tuple[str, str]:
        """Value on ``day`` and the sunset state (none | in_force | passed_renewal_unknown)."""
        if self.change is not None and day < self.change[0]:
            return self.change[1], "none"
        if self.sunset is None:
            return self.value, "none"
        ends, after = self.sunset
        if day > ends:
            return after, "passed_renewal_unknown"
        return self.value, "in_force"

    @property
    def citation(self) -> str:
        return f"{self.source} (as of {self.as_of})"


@dataclass(frozen=True, slots=True)
class Specialty:
    workflow: str
    compact: str
    citation: str


@dataclass(frozen=True, slots=True)
class VideoThresholds:
    good: LinkTier
    marginal: LinkTier
    citation: str


@dataclass(frozen=True, slots=True)
class RuleSet:
    """An immutable, compiled rule set; ``revision`` is the sha256 of its canonical content."""

    revision: str
    root: Path
    rules: tuple[Rule, ...]
    states: Mapping[str, Mapping[str, StateValue]]
    state_fields: tuple[str, ...]
    specialties: Mapping[str, Specialty]
    default_compact: str
    video_thresholds: VideoThresholds
    _breakpoints: tuple[date, ...] = field(repr=False)
    _buckets: tuple[Mapping[BucketKey, tuple[Rule, ...]], ...] = field(repr=False)
    _sunset_rules: tuple[Rule, ...] = field(repr=False)
    # Per state: the ``state.*`` variables of fields whose value never changes with the date,
    # computed once, and the dated fields (a sunset or a dated change) resolved per decision.
    state_env: Mapping[str, tuple[Mapping[str, object], tuple[tuple[str, StateValue], ...]]] = (
        field(repr=False, compare=False)
    )
    # Memo of rendered reason texts and requirements, keyed by rule and the values the texts
    # use; deterministic, so it never changes a result, and bounded by rules x states.
    rendered: dict[tuple[object, ...], tuple[Reason, tuple[Requirement, ...]]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def rules_for(self, day: date, payer: str, controlled: bool = False) -> tuple[Rule, ...]:
        """Rules in force on ``day`` that can apply to ``payer``, in pack order."""
        return self._buckets[bisect.bisect_right(self._breakpoints, day)][(payer, controlled)]

    def lapsed_rules(self, day: date) -> tuple[Rule, ...]:
        """Rules whose end date has passed with a renewal the data does not know."""
        return tuple(
            r for r in self._sunset_rules if r.effective_to is not None and day > r.effective_to
        )


# --- loading ------------------------------------------------------------------------------


# The C loader is several times faster on the 51-state table; both are safe loaders.
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 -- a safe loader


def _read_yaml(path: Path, problems: list[str]) -> Any:
    try:
        return read_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        problems.append(f"{path.name}: cannot read YAML: {exc}")
        return None


def _yaml_files(root: Path) -> list[Path]:
    return sorted(p for d in PACK_DIRS for p in (root / d).rglob("*.yaml"))


def pack_files(root: Path) -> list[Path]:
    return [p for p in _yaml_files(root) if not p.name.endswith(CASES_SUFFIX)]


def case_files(root: Path) -> list[Path]:
    return [p for p in _yaml_files(root) if p.name.endswith(CASES_SUFFIX)]


def _schema_problems(rel: str, exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        out.append(f"{rel}: {loc}: {err['msg']}")
    return out


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _expand_modalities(names: Iterable[str], where: str, problems: list[str]) -> list[Modality]:
    out: list[Modality] = []
    for name in names:
        if name in MODALITY_GROUPS:
            out.extend(m for m in MODALITY_GROUPS[name] if m not in out)
        elif name in MODALITIES:
            modality = MODALITIES[MODALITIES.index(name)]
            if modality not in out:
                out.append(modality)
        else:
            problems.append(f"{where}: unknown modality or group {name!r}")
    return out


def _compile_condition(
    variable: str,
    raw: Any,
    domains: Mapping[str, frozenset[object] | None],
    where: str,
    problems: list[str],
) -> Condition | None:
    if variable not in domains:
        problems.append(f"{where}: unknown variable {variable!r}")
        return None
    negate = False
    if isinstance(raw, dict):
        if set(raw) not in ({"not"}, {"not_in"}):
            problems.append(f"{where}: {variable}: a mapping condition takes 'not' or 'not_in'")
            return None
        negate = True
        raw = next(iter(raw.values()))
    values = raw if isinstance(raw, list) else [raw]
    domain = domains[variable]
    for v in values:
        if v is None:
            continue
        if domain is None and not isinstance(v, str):
            problems.append(f"{where}: {variable}: {v!r} must be a string")
        if domain is not None and v not in domain:
            problems.append(f"{where}: {variable}: {v!r} is not one of {sorted(map(str, domain))}")
        if variable == "location_state" and v not in US_STATES:
            problems.append(f"{where}: bad state {v!r}")
    return Condition(variable, negate, frozenset(values))


def _compile_effect(spec: EffectSpec, where: str, problems: list[str]) -> Effect:
    kind = next(k for k in _EFFECT_KINDS if getattr(spec, k) is not None)
    if kind == "prefer":
        order = tuple(_expand_modalities(spec.prefer or [], where, problems))
        return Effect("prefer", "prefer", (), None, spec.priority, order)
    modalities: tuple[Modality | None, ...] = (None,)
    if spec.modalities:
        modalities = tuple(_expand_modalities(spec.modalities, where, problems))
    value = str(getattr(spec, kind))
    return Effect(kind, value, modalities, spec.detail, spec.priority, terms=spec.consent)


def _compile_rule(
    spec: RuleSpec,
    pack: str,
    position: int,
    domains: Mapping[str, frozenset[object] | None],
    state_fields: Iterable[str],
    problems: list[str],
) -> Rule:
    where = f"{pack}: rule {spec.id}"
    if spec.effective_to is not None and spec.effective_to < spec.effective_from:
        problems.append(f"{where}: effective_to is before effective_from")
    if spec.sunset is not None and spec.effective_to is None:
        problems.append(f"{where}: a sunset needs an effective_to date")
    if spec.cites_state_field is not None and spec.cites_state_field not in state_fields:
        problems.append(f"{where}: cites unknown state field {spec.cites_state_field!r}")
    conditions = []
    for variable, raw in spec.when.items():
        cond = _compile_condition(variable, raw, domains, where, problems)
        if cond is not None:
            conditions.append(cond)
    effects = tuple(_compile_effect(e, where, problems) for e in spec.effects)
    sunset = (spec.sunset.warning, spec.sunset.message) if spec.sunset else None
    texts = [spec.message, *(e.detail for e in spec.effects if e.detail)]
    if spec.sunset is not None:
        texts.append(spec.sunset.message)
    names = {n for t in texts for _, n, _, _ in string.Formatter().parse(t) if n}
    for name in sorted(names):
        if name not in domains or "." in name:
            problems.append(f"{where}: unknown placeholder {{{name}}}")
    if spec.cites_state_field is not None:
        names.add("location_state")
    return Rule(
        id=spec.id,
        pack=pack,
        effective_from=spec.effective_from,
        effective_to=spec.effective_to,
        citation=spec.citation,
        confidence=spec.confidence,
        message=spec.message,
        conditions=tuple(conditions),
        effects=effects,
        cites_state_field=spec.cites_state_field,
        sunset_warning=sunset,
        position=position,
        text_variables=tuple(sorted(names)),
    )


def _compile_states(
    table: StateTableSpec, rel: str, problems: list[str]
) -> tuple[dict[str, Mapping[str, StateValue]], dict[str, frozenset[object] | None]]:
    missing = sorted(US_STATES - set(table.states))
    if missing:
        problems.append(f"{rel}: states missing from the table: {', '.join(missing)}")
    states: dict[str, Mapping[str, StateValue]] = {}
    for code, spec in table.states.items():
        if code not in US_STATES:
            problems.append(f"{rel}: bad state {code!r}")
            continue
        extra = dict(spec.model_extra or {})
        extra.pop("notes", None)
        values: dict[str, StateValue] = {}
        for name, fspec in table.fields.items():
            raw = extra.pop(name, None)
            if raw is None:
                problems.append(f"{rel}: {code}: missing field {name!r}")
                continue
            try:
                parsed = StateFieldSpec.model_validate(raw)
            except ValidationError as exc:
                problems.extend(_schema_problems(f"{rel}: {code}.{name}", exc))
                continue
            for v in (parsed.value, parsed.after_sunset, parsed.before_effective):
                if v is not None and v not in fspec.values:
                    problems.append(f"{rel}: {code}.{name}: {v!r} not in {fspec.values}")
                if v in fspec.needs_limit and parsed.limit is None:
                    problems.append(f"{rel}: {code}.{name}: {v!r} needs a 'limit'")
            sunset = None
            if parsed.effective_to is not None and parsed.after_sunset is not None:
                sunset = (parsed.effective_to, parsed.after_sunset)
            change = None
            if parsed.effective_from is not None and parsed.before_effective is not None:
                change = (parsed.effective_from, parsed.before_effective)
            values[name] = StateValue(
                parsed.value,
                parsed.source,
                parsed.as_of,
                parsed.confidence,
                parsed.note,
                sunset,
                change,
                frozenset(parsed.disciplines) if parsed.disciplines is not None else None,
                parsed.limit,
            )
        for name in extra:
            problems.append(f"{rel}: {code}: undeclared field {name!r}")
        states[code] = MappingProxyType(values)
    domains: dict[str, frozenset[object] | None] = {}
    for name, fspec in table.fields.items():
        domains[state_variable(name)] = frozenset(fspec.values)
        domains[state_sunset_variable(name)] = SUNSET_STATES
    return states, domains


def _bucket(
    rules: tuple[Rule, ...],
) -> tuple[tuple[date, ...], tuple[Mapping[BucketKey, tuple[Rule, ...]], ...]]:
    edges: set[date] = set()
    for r in rules:
        edges.add(r.effective_from)
        if r.effective_to is not None:
            edges.add(r.effective_to + timedelta(days=1))
    breakpoints = tuple(sorted(edges))
    starts = (date.min, *breakpoints)
    buckets = []
    for start in starts:
        in_force = [r for r in rules if r.in_force(start)]
        per_key = {key: tuple(r for r in in_force if _may_apply_to(r, key)) for key in BUCKET_KEYS}
        buckets.append(MappingProxyType(per_key))
    return breakpoints, tuple(buckets)


def _may_apply_to(rule: Rule, key: BucketKey) -> bool:
    payer, controlled = key
    env = {"payer": payer, "controlled_substance": controlled}
    return all(c.test(env) for c in rule.conditions if c.variable in env)


def _check_series_overlap(specs: list[tuple[str, RuleSpec]], problems: list[str]) -> None:
    # Rules of one series are successive versions of the same provision; overlapping
    # ranges would let two versions decide the same day.
    series: dict[str, list[tuple[str, RuleSpec]]] = {}
    for pack, spec in specs:
        if spec.series:
            series.setdefault(spec.series, []).append((pack, spec))
    for name, members in series.items():
        ordered = sorted(members, key=lambda m: m[1].effective_from)
        for (_, a), (pack, b) in itertools.pairwise(ordered):
            if a.effective_to is None or a.effective_to >= b.effective_from:
                problems.append(
                    f"{pack}: series {name!r}: rules {a.id} and {b.id} have overlapping "
                    "effective ranges"
                )


@dataclass
class _Collected:
    rule_specs: list[tuple[str, RuleSpec]] = field(default_factory=list)
    tables: dict[str, Any] = field(default_factory=dict)
    state_table: tuple[str, StateTableSpec] | None = None
    content: dict[str, Any] = field(default_factory=dict)


def _collect(root: Path, problems: list[str]) -> _Collected:
    out = _Collected()
    files = pack_files(root)
    if not files:
        problems.append(f"{root}: no policy packs found")
    for path in files:
        rel = path.relative_to(root).as_posix()
        data = _read_yaml(path, problems)
        if data is None:
            continue
        out.content[rel] = data
        kind = data.get("kind") if isinstance(data, dict) else None
        try:
            if kind == "state_table":
                if out.state_table is not None:
                    problems.append(f"{rel}: a second state table ({out.state_table[0]})")
                out.state_table = (rel, StateTableSpec.model_validate(data))
                continue
            pack = RulePackSpec.model_validate(data)
        except ValidationError as exc:
            problems.extend(_schema_problems(rel, exc))
            continue
        out.rule_specs.extend((rel, r) for r in pack.rules)
        if pack.tables is not None:
            for name, value in pack.tables:
                if value is None:
                    continue
                if name in out.tables:
                    problems.append(f"{rel}: table {name!r} is defined twice")
                out.tables[name] = value
    return out


def _compile(root: Path, collected: _Collected, problems: list[str]) -> RuleSet | None:
    if collected.state_table is None:
        problems.append(f"{root}: no state table (kind: state_table) found")
        return None
    rel, table = collected.state_table
    states, state_domains = _compile_states(table, rel, problems)
    domains = {**BASE_VARIABLES, **state_domains}
    seen: dict[str, str] = {}
    rules = []
    for position, (pack, spec) in enumerate(collected.rule_specs):
        if spec.id in seen:
            problems.append(f"{pack}: duplicate rule id {spec.id!r} (also in {seen[spec.id]})")
        seen[spec.id] = pack
        rules.append(_compile_rule(spec, pack, position, domains, table.fields, problems))
    _check_series_overlap(collected.rule_specs, problems)
    specialties_raw: dict[str, SpecialtySpec] = collected.tables.get("specialty_workflows") or {}
    thresholds: VideoThresholdsSpec | None = collected.tables.get("video_link_thresholds")
    default_compact: str | None = collected.tables.get("default_compact")
    if thresholds is None:
        problems.append(f"{root}: no video_link_thresholds table")
    if default_compact is None:
        problems.append(f"{root}: no default_compact table entry")
    compacts = {c for c in (default_compact, *(s.compact for s in specialties_raw.values())) if c}
    for compact in sorted(compacts):
        if f"{compact}_member" not in table.fields:
            problems.append(f"{rel}: no {compact}_member field for compact {compact!r}")
    if problems or thresholds is None or default_compact is None:
        return None
    frozen_rules = tuple(rules)
    breakpoints, buckets = _bucket(frozen_rules)
    return RuleSet(
        revision=hashlib.sha256(_canonical(collected.content).encode()).hexdigest(),
        root=root,
        rules=frozen_rules,
        states=MappingProxyType(states),
        state_fields=tuple(table.fields),
        specialties=MappingProxyType(
            {
                name: Specialty(s.workflow, s.compact, s.citation)
                for name, s in specialties_raw.items()
            }
        ),
        default_compact=default_compact,
        video_thresholds=VideoThresholds(thresholds.good, thresholds.marginal, thresholds.citation),
        _breakpoints=breakpoints,
        _buckets=buckets,
        _sunset_rules=tuple(r for r in frozen_rules if r.sunset_warning is not None),
        state_env=MappingProxyType({code: _state_env(values) for code, values in states.items()}),
    )


def _state_env(
    values: Mapping[str, StateValue],
) -> tuple[Mapping[str, object], tuple[tuple[str, StateValue], ...]]:
    fixed: dict[str, object] = {}
    dated = []
    for name, value in values.items():
        if value.sunset is None and value.change is None:
            fixed[state_variable(name)] = value.value
            fixed[state_sunset_variable(name)] = "none"
        else:
            dated.append((name, value))
    return MappingProxyType(fixed), tuple(dated)


def validate_packs(path: Path | None = None) -> list[str]:
    """Every problem found in the packs under ``path``; empty when they are valid."""
    problems: list[str] = []
    root = path or default_policies_dir()
    _compile(root, _collect(root, problems), problems)
    return problems


def load_ruleset(path: Path | None = None) -> RuleSet:
    """Load and compile the packs; raises :class:`PolicyError` listing every problem."""
    problems: list[str] = []
    root = path or default_policies_dir()
    ruleset = _compile(root, _collect(root, problems), problems)
    if ruleset is None or problems:
        raise PolicyError(problems or ["unknown problem"])
    return ruleset
