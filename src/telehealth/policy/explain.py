"""Plain-text rendering of a decision for people (``telehealth policy explain ID``)."""

from __future__ import annotations

from telehealth.policy.decision import Decision, Reason
from telehealth.vocabulary import MODALITIES

_STATUS_LABEL = {"allowed": "ALLOWED", "discouraged": "DISCOURAGED", "not_allowed": "NOT ALLOWED"}


def _reason_lines(reason: Reason) -> list[str]:
    return [f"    - {reason.message}", f"      rule {reason.rule}; source: {reason.citation}"]


def render_explanation(decision: Decision) -> str:
    """A readable multi-line account of ``decision``: every reason with its citation."""
    lines = [
        f"Decision {decision.decision_id}",
        f"  evaluated at {decision.evaluated_at.isoformat()} under rule set "
        f"{decision.ruleset_revision[:12]}",
        f"  recommended: {decision.recommended or 'none (no modality is allowed)'}",
        "",
        "Modalities:",
    ]
    for modality in MODALITIES:
        assessment = decision.modalities[modality]
        coverage = decision.coverage[modality]
        header = f"  {modality}: {_STATUS_LABEL[assessment.status]}; coverage {coverage}"
        if decision.prescribing is not None:
            header += f"; controlled-substance prescribing {decision.prescribing[modality]}"
        lines.append(header)
        for reason in assessment.reasons:
            lines.extend(_reason_lines(reason))
    lines += ["", "Requirements:"]
    if not decision.requirements:
        lines.append("  none")
    for req in decision.requirements:
        scope = req.modality or "all modalities"
        lines.append(f"  - [{req.kind}] ({scope}) {req.detail}")
        lines.append(f"      source: {req.citation}")
    lines += ["", "Warnings:"]
    if not decision.warnings:
        lines.append("  none")
    lines.extend(f"  - {w.code}: {w.message}" for w in decision.warnings)
    return "\n".join(lines) + "\n"


def rules_fired(decision: Decision) -> list[str]:
    """Ids of every rule that contributed a reason, sorted (for storage and search)."""
    return sorted({r.rule for a in decision.modalities.values() for r in a.reasons})
