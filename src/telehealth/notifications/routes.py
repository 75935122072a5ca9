"""The signed-in user's notifications."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from telehealth.notifications import service
from telehealth.web.auth import ActorDep, ScopeDep
from telehealth.web.scoped import ScopedRoute

router = APIRouter(prefix="/v1", route_class=ScopedRoute, tags=["notifications"])


class NotificationOut(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)
    id: uuid.UUID
    kind: str
    title: str
    link: str | None
    created_at: datetime
    read_at: datetime | None


@router.get("/notifications", response_model=list[NotificationOut])
def list_notifications(
    actor: ActorDep,
    scope: ScopeDep,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[NotificationOut]:
    """Newest first; a full page may have more after it (ask again with ``offset``)."""
    notes = service.inbox(scope, unread_only=unread, limit=limit, offset=offset)
    return [NotificationOut.model_validate(n) for n in notes]


@router.post("/notifications/{notification_id}/read", response_model=NotificationOut)
def read_notification(
    notification_id: uuid.UUID, actor: ActorDep, scope: ScopeDep
) -> NotificationOut:
    return NotificationOut.model_validate(service.mark_read(scope, notification_id))
