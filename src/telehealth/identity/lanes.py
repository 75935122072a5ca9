"""Fast lanes for identity routes (see :mod:`telehealth.web.lane`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from telehealth.access import fast
from telehealth.audit.model import Action, AuditEvent, Outcome
from telehealth.web.auth import bearer_token
from telehealth.web.lane import Lane
from telehealth.web.scoped import Services


async def read_patient(
    request: Request, services: Services, params: Mapping[str, str]
) -> Response | None:
    """``GET /v1/patients/{patient_id}`` for a bearer token that may read the patient."""
    token = bearer_token(request)
    if token is None:
        return None
    try:
        patient_id = uuid.UUID(params["patient_id"])
    except ValueError:
        return None
    now = services.clock.now()
    read = await fast.read_patient(services.reader, token, patient_id, now)
    if read is None:
        return None
    await services.audit_group.append([_read_event(request, read, now)])
    return Response(read.patient.model_dump_json(), media_type="application/json")


def _read_event(request: Request, read: fast.FastPatientRead, now: datetime) -> AuditEvent:
    actor = read.actor
    client = request.client
    return AuditEvent(
        at=now,
        action=Action.READ,
        outcome=Outcome.SUCCESS,
        object_type="patient",
        object_id=str(read.patient.id),
        actor_id=actor.user_id,
        actor_role=actor.role.value,
        org_id=actor.org_id,
        patient_id=read.patient.id,
        source_ip=client.host if client else None,
        request_id=getattr(request.state, "request_id", None),
    )


LANES = (Lane("GET", "/v1/patients/{patient_id}", read_patient),)
