"""Audit-log search for administrators. Searching the log is itself audited."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from telehealth import bounds
from telehealth.access import service as access
from telehealth.audit import repository
from telehealth.audit.model import Action
from telehealth.web.auth import ActorDep, ScopeDep
from telehealth.web.scoped import ScopedRoute

router = APIRouter(prefix="/v1", route_class=ScopedRoute, tags=["audit"])


class AuditOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chain: int
    seq: int
    at: datetime
    action: str
    outcome: str
    object_type: str
    object_id: str | None
    actor_id: uuid.UUID | None
    actor_role: str | None
    org_id: uuid.UUID | None
    patient_id: uuid.UUID | None
    source_ip: str | None
    request_id: str | None
    detail: dict[str, Any]


@router.get("/audit", response_model=list[AuditOut])
def search_audit(
    actor: ActorDep,
    scope: ScopeDep,
    patient_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: Action | None = None,
    since: bounds.Moment | None = None,
    until: bounds.Moment | None = None,
    limit: Annotated[int, bounds.limit(500)] = 100,
) -> list[AuditOut]:
    admin = access.require_admin(scope)
    rows = repository.search(
        scope.session,
        repository.AuditFilter(
            org_id=admin.org_id,
            patient_id=patient_id,
            actor_id=actor_id,
            action=action.value if action else None,
            since=since,
            until=until,
            limit=limit,
        ),
    )
    scope.audit.record(Action.EXPORT, "audit_log", None, detail={"rows": len(rows)})
    return [AuditOut.model_validate(r, from_attributes=True) for r in rows]
