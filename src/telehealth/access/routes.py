"""Break-glass routes: request emergency access; administrators review it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from telehealth.access import grants
from telehealth.access import service as access
from telehealth.web.auth import ActorDep, ScopeDep
from telehealth.web.scoped import ScopedRoute

router = APIRouter(prefix="/v1", route_class=ScopedRoute, tags=["access"])


class BreakGlassIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patient_id: uuid.UUID
    reason: str = Field(min_length=10, max_length=2000)


class BreakGlassOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: uuid.UUID
    clinician_id: uuid.UUID
    patient_id: uuid.UUID
    reason: str
    created_at: datetime
    expires_at: datetime
    reviewed_at: datetime | None
    review_outcome: str | None


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Literal["appropriate", "inappropriate"]


@router.post("/break-glass", response_model=BreakGlassOut, status_code=201)
def request_break_glass(body: BreakGlassIn, actor: ActorDep, scope: ScopeDep) -> BreakGlassOut:
    return BreakGlassOut.model_validate(
        access.break_glass(scope, body.patient_id, body.reason), from_attributes=True
    )


@router.get("/break-glass", response_model=list[BreakGlassOut])
def list_break_glass(
    actor: ActorDep, scope: ScopeDep, unreviewed: bool = True
) -> list[BreakGlassOut]:
    grants = access.break_glass_grants(scope, unreviewed_only=unreviewed)
    return [BreakGlassOut.model_validate(g, from_attributes=True) for g in grants]


@router.post("/break-glass/{grant_id}/review", response_model=BreakGlassOut)
def review_break_glass(
    grant_id: uuid.UUID, body: ReviewIn, actor: ActorDep, scope: ScopeDep
) -> BreakGlassOut:
    return BreakGlassOut.model_validate(
        grants.review_break_glass(scope, grant_id, body.outcome), from_attributes=True
    )
