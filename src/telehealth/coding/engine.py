"""Turn one completed encounter into billing lines and findings (pure).

The engine knows no code numbers: selectors in the code set say which codes a service can
produce and within which bands of time or data days, placement rules say which POS and
modifiers a telehealth code takes, and encounter rules raise findings (and may block lines).
Every line the engine drafts is then audited with the same per-claim rules as claim files;
a line with an error finding is withheld rather than billed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, NamedTuple

from telehealth.coding.audit import audit_claims
from telehealth.coding.codeset import Band, CodeDef, CodeSet, FindingRule, Selector
from telehealth.coding.encounter import CodingResult, Encounter, Finding, Line
from telehealth.coding.reader import Claim
from telehealth.errors import DomainError, ErrorCode
from telehealth.vocabulary import Modality

# Least to most capable. A tie in segment time goes to the less capable modality: billing
# a capability the patient did not get is the miscoding risk, not the reverse.
_CAPABILITY: tuple[Modality, ...] = (
    "async_store_and_forward",
    "remote_monitoring",
    "econsult",
    "sync_audio_only",
    "sync_audio_video",
    "in_person",
)


class ResolvedModality(NamedTuple):
    modality: Modality
    mixed: bool
    summary: str


class _Draft(NamedTuple):
    code: CodeDef
    units: int
    rationale: list[str]
    citations: list[str]
    minutes: int | None


def resolve_modality(record: Encounter) -> ResolvedModality:
    """The billed modality: as recorded, or the modality of most of the segment time."""
    if record.modality is not None:
        return ResolvedModality(record.modality, False, "")
    totals: dict[Modality, float] = {}
    for segment in record.segments or ():
        totals[segment.modality] = totals.get(segment.modality, 0.0) + segment.seconds
    chosen = max(totals, key=lambda m: (totals[m], -_CAPABILITY.index(m)))
    summary = ", ".join(
        f"{m} {totals[m] / 60:.0f} min" for m in sorted(totals, key=lambda m: -totals[m])
    )
    return ResolvedModality(chosen, len(totals) > 1, summary)


def _em_code(record: Encounter, codeset: CodeSet) -> CodeDef | None:
    """The office E/M level the clinician documented (a telemedicine code maps to its level)."""
    given = record.service.em_code
    if record.service.kind != "em" or given is None:
        return None
    code = codeset.codes.get(given)
    if code is None:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"service.em_code: unknown code {given!r}",
            field="service.em_code",
        )
    return codeset.codes[code.mirrors] if code.mirrors is not None else code


def encounter_facts(
    record: Encounter, resolved: ResolvedModality, codeset: CodeSet
) -> dict[str, Any]:
    em = _em_code(record, codeset)
    rpm = record.rpm
    threshold = codeset.total_time_thresholds(record.date_of_service).get(em.code) if em else None
    minutes = record.service.minutes
    return {
        "payer": record.payer,
        "setting": record.patient.setting,
        "patient_state": record.patient.location_state,
        "alaska_hawaii_demo": record.patient.alaska_hawaii_demo,
        "can_bill_em": record.clinician.can_bill_em,
        "facility_type": record.clinician.facility_type,
        "modality": resolved.modality,
        "mixed_segments": resolved.mixed,
        "segment_summary": resolved.summary,
        "kind": record.service.kind,
        "new_patient": record.service.new_patient,
        "acute_stroke": record.service.acute_stroke,
        "econsult_report": record.service.econsult_report,
        "minutes": record.service.minutes,
        "em_code": em.code if em else None,
        "em_family": em.family if em else None,
        "em_patient_status": em.patient_status if em else None,
        "em_basis": record.service.em_basis,
        "em_time_minutes": threshold,
        "em_time_met": None if threshold is None or minutes is None else minutes >= threshold,
        "two_way_media": record.two_way_media,
        "accepts_cpt_telemedicine_em": record.payer_config.accepts_cpt_telemedicine_em,
        "data_days": rpm.data_days if rpm else None,
        "management_minutes": rpm.management_minutes if rpm else None,
        "interpretation_minutes": rpm.interpretation_minutes if rpm else None,
        "interactive_communication": rpm.interactive_communication if rpm else None,
        "first_period_of_episode": rpm.first_period_of_episode if rpm else None,
        "device_category": record.rtm.device_category if record.rtm else None,
        "family": None,
        "date_of_service": record.date_of_service.isoformat(),
    }


def _finding(rule: FindingRule, facts: Mapping[str, Any]) -> Finding:
    return Finding(
        severity=rule.severity,
        rule=rule.info.id,
        message=rule.message.format_map(facts),
        citation=rule.info.citation,
    )


def _fired(rules: tuple[FindingRule, ...], facts: Mapping[str, Any], on: date) -> list[FindingRule]:
    return [r for r in rules if r.info.in_force(on) and r.when(facts)]


def _telemedicine_equivalent(
    office: CodeDef, facts: Mapping[str, Any], codeset: CodeSet, on: date
) -> CodeDef | None:
    for candidate in codeset.mirrored_by.get(office.code, ()):
        code = codeset.codes[candidate]
        status = code.payer_status(facts["payer"])
        accepted = status == "valid" or (
            status == "configurable" and facts["accepts_cpt_telemedicine_em"]
        )
        if accepted and code.effective_on(on) and facts["modality"] in code.modalities:
            return code
    return None


def _em_draft(
    selector: Selector, record: Encounter, facts: Mapping[str, Any], codeset: CodeSet
) -> _Draft:
    office = codeset.codes[facts["em_code"]]
    code = _telemedicine_equivalent(office, facts, codeset, record.date_of_service) or office
    rationale = [selector.rationale.format_map(facts)] if selector.rationale else []
    rationale += _em_basis_rationale(facts)
    if record.service.em_code != code.code:
        rationale.append(f"recorded {record.service.em_code}, billed as {code.code}")
    return _Draft(
        code, 1, rationale, [selector.info.citation, code.citation], record.service.minutes
    )


def _em_basis_rationale(facts: Mapping[str, Any]) -> list[str]:
    if facts["em_basis"] == "mdm":
        return ["level chosen by medical decision making"]
    if facts["em_basis"] == "time":
        threshold = facts["em_time_minutes"]
        needed = f" ({threshold} min or more)" if threshold is not None else ""
        return [f"level chosen by total time: {facts['minutes']} min{needed}"]
    return []


def _band_match(
    selector: Selector, facts: Mapping[str, Any], codeset: CodeSet, on: date
) -> tuple[Band, CodeDef, int] | None:
    value = facts[selector.measure] if selector.measure else None
    for band in selector.bands:
        code = codeset.codes[band.code]
        if not code.effective_on(on) or code.payer_status(facts["payer"]) == "invalid":
            continue
        if band.when(facts) and band.holds(value):
            units = band.units(value)
            if units >= 1:
                return band, code, units
    return None


def _select(
    record: Encounter, facts: Mapping[str, Any], codeset: CodeSet, findings: list[Finding]
) -> list[_Draft]:
    on = record.date_of_service
    drafts: list[_Draft] = []
    for selector in codeset.selectors:
        if record.service.kind not in selector.services or not selector.info.in_force(on):
            continue
        if not selector.when(facts):
            continue
        if selector.strategy == "em_code":
            drafts.append(_em_draft(selector, record, facts, codeset))
            continue
        match = _band_match(selector, facts, codeset, on)
        if match is None:
            findings += [_finding(r, facts) for r in _fired(selector.on_no_match, facts, on)]
            continue
        band, code, units = match
        measured = facts[selector.measure] if selector.measure else None
        minutes = measured if selector.measure and selector.measure.endswith("minutes") else None
        drafts.append(
            _Draft(
                code,
                units,
                [band.rationale.format_map(facts)],
                [selector.info.citation, code.citation],
                minutes if minutes is not None else record.service.minutes,
            )
        )
    return drafts


def _placement(
    code: CodeDef, facts: Mapping[str, Any], codeset: CodeSet, on: date
) -> tuple[str | None, list[str], list[str], list[str]]:
    """POS, modifiers, rationale and citations for a code under the encounter's facts."""
    if not code.telehealth or facts["modality"] == "in_person":
        return None, [], [], []
    placed = {**facts, "family": code.family}
    pos: str | None = None
    modifiers: list[str] = []
    rationale: list[str] = []
    citations: list[str] = []
    for rule in codeset.placement:
        if not rule.info.in_force(on) or not rule.when(placed):
            continue
        if rule.pos is not None:
            if pos is not None:
                continue
            pos = rule.pos
        elif rule.modifier is not None and rule.modifier not in modifiers:
            modifiers.append(rule.modifier)
        rationale.append(rule.rationale.format_map(placed))
        citations.append(rule.info.citation)
    return pos, modifiers, rationale, citations


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def _self_check(
    drafts: list[_Draft], record: Encounter, facts: Mapping[str, Any], codeset: CodeSet
) -> tuple[list[Line], list[Finding]]:
    on = record.date_of_service
    placed = [_placement(d.code, facts, codeset, on) for d in drafts]
    claims = [
        Claim(
            line=i,
            claim_id=f"line {i}",
            date_of_service=on,
            payer=record.payer,
            code=draft.code.code,
            modifiers=frozenset(mods),
            pos=pos,
            patient_state=record.patient.location_state,
            modality=facts["modality"],
            alaska_hawaii_demo=record.patient.alaska_hawaii_demo,
            data_days=facts["data_days"],
            minutes=draft.minutes,
            interactive_communication=facts["interactive_communication"],
            patient_id="encounter",
            period="encounter",
        )
        for i, (draft, (pos, mods, _, _)) in enumerate(zip(drafts, placed, strict=True), start=1)
    ]
    hits, _ = audit_claims(claims, codeset)
    withheld = {h.line for h in hits if h.severity == "error"}
    findings = [
        Finding(
            severity=h.severity,
            rule=h.rule,
            message=f"{h.claim_id} ({claims[(h.line or 1) - 1].code}): {h.message}"
            + (" Line withheld." if h.line in withheld and h.severity == "error" else ""),
            citation=h.citation,
        )
        for h in hits
    ]
    lines = [
        Line(
            code=draft.code.code,
            modifiers=mods,
            pos=pos,
            units=draft.units,
            rationale="; ".join(_dedupe(draft.rationale + why)),
            citation="; ".join(_dedupe(draft.citations + cited)),
        )
        for i, (draft, (pos, mods, why, cited)) in enumerate(
            zip(drafts, placed, strict=True), start=1
        )
        if i not in withheld
    ]
    return lines, findings


def code_encounter(record: Encounter, codeset: CodeSet) -> CodingResult:
    """Billing lines and findings for one completed encounter under ``codeset``."""
    resolved = resolve_modality(record)
    facts = encounter_facts(record, resolved, codeset)
    fired = _fired(codeset.encounter_rules, facts, record.date_of_service)
    findings = [_finding(rule, facts) for rule in fired]
    drafts = [] if any(r.blocks for r in fired) else _select(record, facts, codeset, findings)
    if resolved.summary:
        note = f"modality from segments ({resolved.summary}): billed as {resolved.modality}"
        drafts = [d._replace(rationale=[note, *d.rationale]) for d in drafts]
    lines, line_findings = _self_check(drafts, record, facts, codeset)
    return CodingResult(
        lines=lines,
        findings=findings + line_findings,
        modality=resolved.modality,
        codeset_revision=codeset.revision,
    )
