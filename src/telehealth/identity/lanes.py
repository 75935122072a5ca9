"""Fast lanes for identity routes (see :mod:`telehealth.web.lane`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from telehealth.access import fast
from telehealth.audit.model import Action
from telehealth.web.auth import bearer_token
from telehealth.web.lane import Lane, lane_event
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
    patient = read.patient
    event = lane_event(
        request, read.actor, now, Action.READ, "patient", patient.id, patient_id=patient.id
    )
    await services.audit_group.append([event])
    return Response(read.patient.model_dump_json(), media_type="application/json")


LANES = (Lane("GET", "/v1/patients/{patient_id}", read_patient),)
