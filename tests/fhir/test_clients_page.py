"""The administrators' page for SMART Backend Services clients: the organization's clients
listed with their client ids, a client registered from the form (a refusal shown beside its
field with the input kept), a client revoked, and everyone else refused."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fhir.test_backend_services import ec_key, rsa_key
from tests.support import World

pytestmark = pytest.mark.db

PAGE = "/admin/fhir-clients"


def _jwks_text(private: bool = False) -> str:
    return json.dumps({"keys": [rsa_key().as_dict(private=private), ec_key().as_dict()]})


def _api_clients(client: TestClient, world: World) -> list[dict[str, Any]]:
    listed = client.get("/v1/fhir/clients", headers=world["admin"].headers)
    assert listed.status_code == 200
    return list(listed.json())


def _register(client: TestClient, world: World, name: str = "County registry") -> str:
    sent = client.post(
        PAGE,
        data={"name": name, "scopes": "system/Patient.rs", "jwks": _jwks_text()},
        headers=world["admin"].headers,
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"] == f"{PAGE}?registered=1"
    (found,) = [c for c in _api_clients(client, world) if c["name"] == name]
    return str(found["id"])


def _row(page: str, client_id: str) -> str:
    return page.split(f'<tr id="client-{client_id}">', 1)[1].split("</tr>", 1)[0]


def test_an_administrator_registers_a_client_and_sees_its_id(
    client: TestClient, world: World
) -> None:
    headers = world["admin"].headers
    empty = client.get(PAGE, headers=headers)
    assert empty.status_code == 200
    assert "No system clients yet." in empty.text
    # The scopes field offers every resource type, read and search.
    assert re.search(r'id="client-scopes"[^>]*value="system/\*\.rs"', empty.text)
    # The administrator's navigation leads here.
    assert f'href="{PAGE}"' in client.get("/", headers=headers).text

    client_id = _register(client, world)
    shown = client.get(f"{PAGE}?registered=1", headers=headers).text
    assert "Client registered." in shown
    row = _row(shown, client_id)
    assert "County registry" in row
    assert f'<code class="copyable">{client_id}</code>' in row
    assert "system/Patient.rs" in row
    assert re.search(r"<time [^>]*datetime=", row)
    assert ">active<" in row
    assert f'action="{PAGE}/{client_id}/revoke"' in row
    assert "No system clients yet." not in shown


def test_a_refused_form_shows_why_beside_the_field_and_keeps_the_input(
    client: TestClient, world: World
) -> None:
    headers = world["admin"].headers
    cases = [
        ({"jwks": '{"keys": ['}, "jwks", "the JWKS is not valid JSON"),
        ({"jwks": "[1, 2]"}, "jwks", "a JWKS is a JSON object"),
        ({"jwks": _jwks_text(private=True)}, "jwks", "register public keys only"),
        ({"scopes": "patient/*.rs"}, "scopes", ""),
        ({"name": "   "}, "name", "a client needs a name"),
    ]
    for change, field, message in cases:
        sent = {"name": "Lab gateway", "scopes": "system/Observation.rs", "jwks": _jwks_text()}
        sent.update(change)
        refused = client.post(PAGE, data=sent, headers=headers)
        assert refused.status_code == 422, (field, refused.text)
        beside = re.search(
            rf'<p class="error" id="{field}-error" role="alert">([^<]*)</p>', refused.text
        )
        assert beside is not None, field
        assert message in html.unescape(beside.group(1))
        assert f"({field})" in beside.group(1)
        assert 'aria-invalid="true"' in refused.text
        # What was typed is still in the form.
        kept = re.search(r'<textarea id="client-jwks"[^>]*>([^<]*)</textarea>', refused.text)
        assert kept is not None
        assert html.unescape(kept.group(1)) == sent["jwks"]
        assert f'value="{html.escape(sent["scopes"])}"' in refused.text
    assert _api_clients(client, world) == []


def test_an_administrator_revokes_a_client(client: TestClient, world: World) -> None:
    headers = world["admin"].headers
    client_id = _register(client, world)
    kept_id = _register(client, world, "Kept registry")
    # Another organization's administrator finds no such client.
    other = client.post(
        f"{PAGE}/{client_id}/revoke", headers=world["other_admin"].headers, follow_redirects=False
    )
    assert other.status_code == 404
    revoked = client.post(f"{PAGE}/{client_id}/revoke", headers=headers, follow_redirects=False)
    assert revoked.status_code == 303
    assert revoked.headers["location"] == f"{PAGE}?revoked=1"
    shown = client.get(f"{PAGE}?revoked=1", headers=headers).text
    assert "Client revoked" in shown
    row = _row(shown, client_id)
    assert "revoked" in row
    assert ">active<" not in row
    assert "/revoke" not in row  # nothing left to revoke
    assert ">active<" in _row(shown, kept_id)
    state = {c["id"]: c["revoked"] for c in _api_clients(client, world)}
    assert state == {client_id: True, kept_id: False}
    unknown = client.post(f"{PAGE}/00000000-0000-4000-8000-000000000000/revoke", headers=headers)
    assert unknown.status_code == 404


@pytest.mark.parametrize("key", ["coordinator", "clinician_a", "patient_a"])
def test_everyone_but_administrators_is_refused(client: TestClient, world: World, key: str) -> None:
    client_id = _register(client, world)
    headers = world[key].headers
    page = client.get(PAGE, headers=headers)
    assert page.status_code == 403
    assert "County registry" not in page.text
    assert client_id not in page.text
    assert f'href="{PAGE}"' not in client.get("/", headers=headers).text
    sent = client.post(
        PAGE,
        data={"name": "Sneaky", "scopes": "system/*.rs", "jwks": _jwks_text()},
        headers=headers,
    )
    assert sent.status_code == 403
    revoke = client.post(f"{PAGE}/{client_id}/revoke", headers=headers)
    assert revoke.status_code == 403
    assert [(c["name"], c["revoked"]) for c in _api_clients(client, world)] == [
        ("County registry", False)
    ]
