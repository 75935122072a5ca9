"""``GET /metrics``: the instance's Prometheus metrics (``telehealth.metrics``), for a scraper
holding the metrics token (``TELEHEALTH_METRICS_TOKEN``).

The figures hold no PHI (their labels are route templates, methods, statuses, error codes
and job names), but they tell how the service runs and how busy it is, so they are not
public: without the configured token, or with no token configured, the route answers 401 like
any API route asked without its credential. The comparison takes the same time whatever the
offered token.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response

from telehealth.errors import ErrorCode
from telehealth.metrics import CONTENT_TYPE
from telehealth.web.problems import problem
from telehealth.web.scoped import Services

router = APIRouter(tags=["health"])

PATH = "/metrics"


def _offered_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@router.get(PATH, include_in_schema=False)
def metrics(request: Request) -> Response:
    # A plain function: scraping reads the database (visits in progress) on a worker thread.
    services: Services = request.app.state.services
    expected = services.settings.metrics_token
    offered = _offered_token(request)
    if (
        expected is None
        or offered is None
        or not hmac.compare_digest(offered.encode(), expected.get_secret_value().encode())
    ):
        return problem(ErrorCode.NOT_AUTHENTICATED, "the metrics token is required", request)
    return Response(
        services.ports.metrics.exposition(),
        media_type=CONTENT_TYPE,
        headers={"Cache-Control": "no-store"},
    )
