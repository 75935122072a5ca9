"""Bearer-token authentication in one statement, for the fast lanes (telehealth.web.lane).

The checks are those of :func:`telehealth.identity.service.resolve_token`; where they fail the
fast path gives up and the request takes the ordinary route, which refuses it and says why.
"""

from __future__ import annotations

from datetime import datetime

from telehealth.clock import ensure_utc
from telehealth.db.reader import FastReader, Row
from telehealth.identity import credentials
from telehealth.identity.model import Actor, CredentialKind, Role, credential_current
from telehealth.identity.queries import BEARER_ACTOR


async def bearer_actor(
    reader: FastReader, token: str, now: datetime, *, scoped: bool = False
) -> Actor | None:
    """The actor of a current bearer token signed in as its role requires, else None.
    ``scoped``: the route honours SMART scopes (the FHIR API), so a scoped token will do."""
    row = await reader.lookup(BEARER_ACTOR, {"token_hash": credentials.digest(token)})
    return None if row is None else token_actor(row, now, scoped=scoped)


def token_actor(row: Row, now: datetime, *, scoped: bool = False) -> Actor | None:
    """The actor of a row from :func:`queries.bearer_select`, if its token is current and
    signed in with the second factor its role requires, and, for a token limited to SMART
    scopes, if the route honours them (``scoped``)."""
    current = credential_current(
        revoked=row["revoked_at"] is not None,
        user_active=bool(row["active"]),
        user_epoch=row["user_epoch"],
        credential_epoch=row["credential_epoch"],
    )
    if not current or now >= ensure_utc(row["expires_at"]):
        return None
    actor = Actor.of(
        user_id=row["user_id"],
        role=Role(row["role"]),
        org_id=row["user_org_id"],
        patient_id=row["own_patient_id"],
        mfa_verified=bool(row["mfa_verified"]),
        credential=CredentialKind.CLIENT if row["system_client"] else CredentialKind.TOKEN,
        credential_id=row["credential_id"],
        scopes=row["scopes"],
    )
    return None if actor.needs_mfa or not usable_here(actor, scoped=scoped) else actor


def usable_here(actor: Actor, *, scoped: bool) -> bool:
    """A credential limited to SMART scopes acts only where scopes are honoured (the FHIR
    API): elsewhere it would escape them (ADR 0021)."""
    return actor.scopes is None or scoped
