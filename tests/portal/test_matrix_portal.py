"""The portal's routes against its access-matrix entries, on an app with the portal mounted.

tests/access/test_matrix.py covers every route of the composed app; this keeps the portal's
entries honest on their own: every portal route has one, and anonymous callers are sent to
sign-in.
"""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from telehealth.portal.routes import router as portal_router
from telehealth.web.inventory import iter_routes
from tests.access.audience import Audience
from tests.access.matrix_portal import ENTRIES

pytestmark = pytest.mark.db


def _portal_routes() -> set[tuple[str, str]]:
    holder = FastAPI()
    holder.include_router(portal_router)
    return {(r.method, r.path) for r in iter_routes(holder)}


def test_every_portal_route_has_an_entry(app: FastAPI) -> None:
    routes = _portal_routes()
    mounted = {(r.method, r.path) for r in iter_routes(app)}
    assert routes <= mounted
    assert routes == set(ENTRIES)


def test_portal_pages_send_anonymous_callers_to_sign_in(client: TestClient) -> None:
    for (method, template), entry in ENTRIES.items():
        path = re.sub(r"\{[a-z_]+\}", lambda _m: str(uuid.uuid4()), template)
        response = client.request(method, path, follow_redirects=False)
        assert entry.page, (method, template)
        if entry.audience & Audience.ANYONE:
            assert response.status_code == 200, (method, template)
        else:
            assert response.status_code == 303, (method, template)
            assert response.headers["location"].split("?")[0] == "/login"
