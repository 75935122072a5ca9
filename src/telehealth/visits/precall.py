"""The pre-call check: camera, microphone and the link's figures, which decide whether video
is feasible for the patient."""

from __future__ import annotations

from dataclasses import dataclass

from telehealth.audit.model import Action
from telehealth.policy.service import decide_and_record
from telehealth.scope import Scope
from telehealth.visits.booking import alternatives, build_facts, current_state, synchronous_choice
from telehealth.visits.links import ParticipantContext, acting_for_decision
from telehealth.visits.model import AUDIO_ONLY, AUDIO_VIDEO, ParticipantRole
from telehealth.visits.tables import PrecallTest


@dataclass(frozen=True)
class PrecallResult:
    test: PrecallTest
    video_feasible: bool
    offered: list[str]
    reason: str | None


def record_precall(
    scope: Scope,
    ctx: ParticipantContext,
    *,
    camera_ok: bool,
    microphone_ok: bool,
    down_mbps: float,
    up_mbps: float,
    rtt_ms: float,
    loss_pct: float,
) -> PrecallResult:
    visit = ctx.visit
    bandwidth = {"down_mbps": down_mbps, "up_mbps": up_mbps, "rtt_ms": rtt_ms, "loss_pct": loss_pct}
    decision_id = None
    offered: list[str] = []
    if ctx.role is ParticipantRole.PATIENT:
        # The patient's link decides video feasibility: fed to the engine as bandwidth facts.
        with acting_for_decision(scope, ctx):
            facts = build_facts(
                scope,
                visit.intake,
                clinician_id=visit.clinician_id,
                located_state=current_state(scope, visit),
                on=scope.clock.now().date(),
                bandwidth=bandwidth,
                video_capable=camera_ok and visit.intake["video_capable"],
            )
            decision, record = decide_and_record(scope, facts, patient_id=visit.patient_id)
        decision_id = record.id
        planned, reason = synchronous_choice(decision)
        feasible = planned == AUDIO_VIDEO and microphone_ok
        if not microphone_ok:
            reason = "the microphone check failed"
        if not feasible:
            offered = alternatives(decision)
            visit.current_decision_id = record.id
            if planned is not None:
                visit.planned_modality = AUDIO_ONLY
            visit.fallback_reason = reason
    else:
        feasible = camera_ok and microphone_ok
        reason = None if feasible else "the camera or microphone check failed"
    test = PrecallTest(
        visit_id=visit.id,
        participant_id=ctx.participant.id,
        camera_ok=camera_ok,
        microphone_ok=microphone_ok,
        down_mbps=down_mbps,
        up_mbps=up_mbps,
        rtt_ms=rtt_ms,
        loss_pct=loss_pct,
        video_feasible=feasible,
        decision_id=decision_id,
        reason=reason,
        created_at=scope.clock.now(),
    )
    scope.session.add(test)
    ctx.participant.precall_ok = feasible
    scope.session.flush()
    scope.audit.record(
        Action.CREATE,
        "visit_precall",
        test.id,
        patient_id=visit.patient_id,
        detail={"video_feasible": feasible},
    )
    return PrecallResult(test, feasible, offered, reason)
