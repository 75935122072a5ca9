"""The two shapes of a clinician's profile (``GET /v1/clinicians/{id}``) in the API's schema.

Who sees which shape, for every actor kind, is in tests/access/test_matrix.py
(test_clinician_profile_parts_by_actor_kind)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.access.test_matrix import PUBLIC_PROFILE

pytestmark = pytest.mark.db


def test_openapi_documents_both_profile_shapes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schema = spec["paths"]["/v1/clinicians/{clinician_id}"]["get"]["responses"]["200"]
    shapes = {
        ref["$ref"].rsplit("/", 1)[1]
        for ref in schema["content"]["application/json"]["schema"]["anyOf"]
    }
    assert shapes == {"ClinicianOut", "ClinicianPublicOut"}
    public = spec["components"]["schemas"]["ClinicianPublicOut"]["properties"]
    assert set(public) == PUBLIC_PROFILE
