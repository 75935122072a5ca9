"""HTTP surface of the decision engine."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from telehealth.policy import service
from telehealth.policy.decision import Decision
from telehealth.web.auth import ActorDep, ScopeDep
from telehealth.web.scoped import ScopedRoute

router = APIRouter(prefix="/v1", route_class=ScopedRoute, tags=["decisions"])


@router.post("/decisions", response_model=Decision, status_code=201)
def create_decision(
    actor: ActorDep,
    scope: ScopeDep,
    facts: dict[str, Any] = Body(..., description="Input facts (schema: policy-facts)"),
    patient_id: uuid.UUID | None = None,
) -> JSONResponse:
    """Decide which modalities fit these facts; the decision is stored and can be fetched."""
    _decision, record = service.decide_and_record(scope, facts, patient_id=patient_id)
    return JSONResponse(
        record.decision, status_code=201, headers={"Location": f"/v1/decisions/{record.id}"}
    )


@router.get("/decisions/{decision_id}", response_model=Decision)
def get_decision(decision_id: uuid.UUID, actor: ActorDep, scope: ScopeDep) -> JSONResponse:
    return JSONResponse(service.readable_decision(scope, decision_id).decision)
