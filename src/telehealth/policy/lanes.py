"""Fast lane for ``POST /v1/decisions`` (see :mod:`telehealth.web.lane`).

It serves the common request (a bearer token, facts in the body, no patient named) with one
statement to authenticate, the engine, and a group commit that stores the record and its
audit row in one transaction. Anything else (a patient to check access for, facts that do not
validate, an unusable token) is left to the route, which answers it as always.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from telehealth.audit.committer import Insert
from telehealth.audit.model import Action
from telehealth.db.base import table_of
from telehealth.errors import DomainError
from telehealth.identity.fast import bearer_actor
from telehealth.policy import service
from telehealth.policy.facts import Facts, parse_facts
from telehealth.policy.records import DecisionRecord
from telehealth.web.auth import bearer_token
from telehealth.web.lane import Lane, lane_event
from telehealth.web.scoped import Services

MAX_BODY = 64 * 1024
_RECORDS = table_of(DecisionRecord)


async def create_decision(
    request: Request, services: Services, _params: Mapping[str, str]
) -> Response | None:
    token = bearer_token(request)
    if token is None or request.query_params:
        return None
    facts = _facts(await request.body())
    if facts is None:
        return None
    now = services.clock.now()
    actor = await bearer_actor(services.reader, token, now)
    if actor is None:
        return None
    decision, row = service.prepare_decision(
        actor, facts, services.ports.ruleset, now=now, serialized=True
    )
    event = lane_event(
        request,
        actor,
        now,
        Action.CREATE,
        "decision",
        row["id"],
        detail=service.creation_detail(decision),
    )
    await services.audit_group.append([event], [Insert(_RECORDS, row)])
    return Response(
        row["decision"],
        status_code=201,
        media_type="application/json",
        headers={"Location": f"/v1/decisions/{row['id']}"},
    )


def _facts(body: bytes) -> Facts | None:
    """The validated facts, or None to let the route explain what is wrong with them."""
    try:
        return parse_facts(json.loads(body))
    except (ValueError, DomainError):
        return None


LANES = (Lane("POST", "/v1/decisions", create_decision, max_body=MAX_BODY),)
