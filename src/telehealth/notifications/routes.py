"""The signed-in user's notifications."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter
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
    actor: ActorDep, scope: ScopeDep, unread: bool = False
) -> list[NotificationOut]:
    return [NotificationOut.model_validate(n) for n in service.inbox(scope, unread_only=unread)]


@router.post("/notifications/{notification_id}/read", response_model=NotificationOut)
def read_notification(
    notification_id: uuid.UUID, actor: ActorDep, scope: ScopeDep
) -> NotificationOut:
    return NotificationOut.model_validate(service.mark_read(scope, notification_id))
