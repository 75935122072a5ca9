"""Headless Chromium: an administrator signs in through the pages, registers a SMART Backend
Services client by pasting a public JWKS made here, finds it listed with its client id, and
revokes it. The page fits 1280 and 390 px and passes axe-core; screenshots in
``test-artifacts/fhir/``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

from tests.browser import chromium, need_browser
from tests.portal.live import AXE, DESKTOP, FITS, PHONE, REPO, Live, live_server, scan, shot

pytestmark = pytest.mark.slow

ARTIFACTS = REPO / "test-artifacts" / "fhir"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def live(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    need_browser()
    with live_server(sqlite_template, tmp_path_factory.mktemp("fhir-clients-live")) as server:
        yield server


def _public_jwks() -> str:
    """A new EC P-384 key pair's public half, as a client's JWKS."""
    private = ec.generate_private_key(ec.SECP384R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key = ECKey.import_key(pem, parameters={"kid": "browser-1"})
    return json.dumps({"keys": [key.as_dict(private=False)]}, indent=2)


def _checked(page: Any, name: str) -> None:
    for size, suffix in ((DESKTOP, "1280"), (PHONE, "390")):
        page.set_viewport_size(size)
        assert page.evaluate(FITS), f"{name} at {suffix} px scrolls sideways"
        assert scan(page) == []
        shot(page, f"{name}-{suffix}", ARTIFACTS)


def test_an_administrator_registers_and_revokes_a_system_client(live: Live) -> None:
    assert AXE.exists(), "run `npm ci` for axe-core"
    with chromium() as browser:
        context = browser.new_context(viewport=DESKTOP, timezone_id="America/Chicago")
        page: Any = context.new_page()
        live.sign_in(page, "admin")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="FHIR clients").click()
        page.wait_for_url(live.url("/admin/fhir-clients"))
        assert page.input_value("#client-scopes") == "system/*.rs"
        _checked(page, "fhir-clients-empty")

        page.fill("#client-name", "County immunization registry")
        page.fill("#client-scopes", "system/Patient.rs system/Immunization.rs")
        page.fill("#client-jwks", "{not json")
        page.click("form[action='/admin/fhir-clients'] button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert "not valid JSON" in page.inner_text("#jwks-error")
        assert page.input_value("#client-name") == "County immunization registry"
        _checked(page, "fhir-clients-refused")

        page.fill("#client-jwks", _public_jwks())
        page.click("form[action='/admin/fhir-clients'] button[type=submit]")
        page.wait_for_url(live.url("/admin/fhir-clients?registered=1"))
        row = page.locator("tr", has_text="County immunization registry")
        client_id = row.locator("code").inner_text()
        assert UUID.match(client_id)
        assert "active" in row.inner_text()
        assert row.locator("time").count() == 1
        _checked(page, "fhir-clients-registered")

        row.locator("summary").click()
        row.get_by_role("button", name="Revoke County immunization registry").click()
        page.wait_for_url(live.url("/admin/fhir-clients?revoked=1"))
        row = page.locator(f"#client-{client_id}")
        assert "revoked" in row.inner_text()
        assert row.locator("form").count() == 0
        _checked(page, "fhir-clients-revoked")
        context.close()
