"""Browsers get HTML error pages with a way back; API clients keep problem JSON."""

from __future__ import annotations

import uuid

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from telehealth.web.problems import PROBLEM_MEDIA_TYPE
from tests.support import World

pytestmark = pytest.mark.db

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def _is_page(response: object, status: int) -> str:
    assert response.status_code == status  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("text/html")  # type: ignore[attr-defined]
    html: str = response.text  # type: ignore[attr-defined]
    assert '<a href="/">Back to your home page</a>' in html
    return html


def test_an_unknown_address_is_a_page_for_a_browser_and_a_problem_for_the_api(
    client: TestClient,
) -> None:
    html = _is_page(client.get("/nope", headers=BROWSER), 404)
    assert "There is nothing here" in html
    api = client.get("/v1/nope", headers=BROWSER)
    assert api.status_code == 404
    assert api.headers["content-type"] == PROBLEM_MEDIA_TYPE
    # A client that does not ask for HTML keeps the problem document everywhere.
    assert client.get("/nope").headers["content-type"] == PROBLEM_MEDIA_TYPE


def test_a_hidden_or_missing_visit_page_is_the_same_not_found_page(
    client: TestClient, world: World
) -> None:
    headers = world["patient_b"].headers | BROWSER
    missing = _is_page(client.get(f"/visits/{uuid.uuid4()}", headers=headers), 404)
    assert "Not found" in missing
    for path in (f"/review/cases/{uuid.uuid4()}", f"/portal/decisions/{uuid.uuid4()}"):
        _is_page(client.get(path, headers=headers), 404)


def test_a_server_failure_is_a_plain_page_for_a_browser_and_a_problem_for_the_api(
    app: FastAPI,
) -> None:
    @app.get("/boom-page")
    def boom_page(request: Request) -> None:
        raise RuntimeError("a secret detail")

    @app.get("/v1/boom")
    def boom_api(request: Request) -> None:
        raise RuntimeError("a secret detail")

    with TestClient(app, raise_server_exceptions=False) as client:
        html = _is_page(client.get("/boom-page", headers=BROWSER), 500)
        assert "Something went wrong on our side" in html
        assert "secret" not in html
        api = client.get("/v1/boom", headers=BROWSER)
        assert api.status_code == 500
        assert api.json()["code"] == "internal"
        assert "secret" not in api.text
