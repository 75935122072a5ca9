"""SMART Backend Services: system clients an organization's administrator registers, and the
token endpoint's client-credentials grant (a client assertion signed with the client's
registered key, ``private_key_jwt``) that gives them short-lived tokens limited to system
scopes.

A client acts through a service account of its organization (coordinator role, marked
``system_client``, no password, no invite, no page sign-in), so every FHIR read it makes goes
through the same access loader and audit as anyone's, naming that account (ADR 0021).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, KeySetSerialization, RSAKey
from joserfc.jws import extract_compact

from telehealth.access import service as access
from telehealth.audit.model import Action, Outcome
from telehealth.errors import DomainError, ErrorCode, not_found
from telehealth.fhir import repository, smart
from telehealth.fhir.tables import SystemClient
from telehealth.identity import queries as identity_queries
from telehealth.identity import service as identity
from telehealth.identity.model import Role
from telehealth.scope import Scope

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GRANT_TYPE = "client_credentials"
# The signing algorithms SMART Backend Services names, and the key type each needs.
ALGORITHMS = {"RS384": "RSA", "ES384": "EC"}
TOKEN_MINUTES = 5
# An assertion may live at most this long (its ``exp`` no further ahead).
ASSERTION_LIFETIME = timedelta(minutes=5)
CLIENT_ROLE = Role.COORDINATOR
SYSTEM_CONTEXTS = frozenset({smart.Context.SYSTEM})
KIND = "fhir_client"
_MIN_RSA_BITS = 2048


class OAuthError(Exception):
    """A token request refused, as RFC 6749 section 5.2 answers it: ``error`` is one of
    invalid_request, invalid_client (401), invalid_grant, invalid_scope,
    unsupported_grant_type."""

    def __init__(
        self, error: str, description: str, status: int = 400, about: SystemClient | None = None
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.about = about  # the client refused, where it is known (for the audit)

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass(frozen=True, slots=True)
class GrantedToken:
    access_token: str
    expires_in: int
    scope: str


def register(scope: Scope, *, name: str, jwks: Mapping[str, Any], scopes: str) -> SystemClient:
    """Registers a system client of the administrator's organization, with its service
    account."""
    actor = access.require_admin(scope)
    granted = smart.checked_scopes(scopes, SYSTEM_CONTEXTS)
    keys = checked_jwks(jwks)
    name = name.strip()
    if not name:
        raise DomainError(ErrorCode.INVALID_INPUT, "a client needs a name", field="name")
    client_id = uuid.uuid4()
    account = identity.create_user(
        scope,
        org_id=actor.org_id,
        email=f"fhir-client-{client_id.hex}@system-clients.invalid",
        role=CLIENT_ROLE,
        display_name=name[:200],
        password=None,
        system_client=True,
    ).user
    client = SystemClient(
        id=client_id,
        org_id=actor.org_id,
        user_id=account.id,
        name=name[:200],
        jwks=keys,
        scopes=granted,
        created_by=actor.user_id,
        created_at=scope.clock.now(),
    )
    scope.session.add(client)
    scope.session.flush()
    scope.audit.record(
        Action.CREATE, KIND, client.id, detail={"event": "registered", "user": str(account.id)}
    )
    return client


def org_clients(scope: Scope) -> Sequence[SystemClient]:
    actor = access.require_admin(scope)
    return repository.clients_of(scope.session, actor.org_id)


def revoke(scope: Scope, client_id: uuid.UUID) -> SystemClient:
    """Revokes a client: its assertions are refused and its tokens stop working at once."""
    actor = access.require_admin(scope)
    client = repository.client_by_id(scope.session, client_id)
    if client is None or client.org_id != actor.org_id:
        raise not_found(KIND)
    if client.revoked_at is None:
        client.revoked_at = scope.clock.now()
        identity.retire_system_client(scope, client.user_id)
        scope.audit.record(Action.UPDATE, KIND, client.id, detail={"event": "revoked"})
    return client


def checked_jwks(jwks: Mapping[str, Any]) -> dict[str, Any]:
    """The public keys of a JWKS a client registers: RSA (2048 bits or more) or EC P-384 keys,
    each with its own ``kid``, no private key material. Anything else is refused (422)."""
    found = jwks.get("keys")
    if not isinstance(found, list) or not found:
        raise _bad_jwks("a JWKS needs a non-empty list of keys")
    public: list[dict[str, Any]] = []
    kids: set[str] = set()
    for item in found:
        if not isinstance(item, dict):
            raise _bad_jwks("each key is a JSON object")
        if item.get("kty") not in ("RSA", "EC"):
            raise _bad_jwks("keys are RSA or EC P-384 (for RS384 or ES384)")
        if "d" in item:
            raise _bad_jwks("register public keys only")
        kid = item.get("kid")
        if not isinstance(kid, str) or not kid or kid in kids:
            raise _bad_jwks("each key needs its own kid")
        kids.add(kid)
        try:
            key = KeySet.import_key_set({"keys": [item]}).keys[0]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise _bad_jwks("a key could not be read") from exc
        if isinstance(key, RSAKey):
            if key.raw_value.key_size < _MIN_RSA_BITS:
                raise _bad_jwks(f"RSA keys need {_MIN_RSA_BITS} bits or more")
        elif not (isinstance(key, ECKey) and key.curve_name == "P-384"):
            raise _bad_jwks("keys are RSA or EC P-384 (for RS384 or ES384)")
        public.append(key.as_dict(private=False))
    return {"keys": public}


def _bad_jwks(message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, field="jwks")


# --- the token endpoint -------------------------------------------------------------------------


def grant_token(scope: Scope, form: Mapping[str, str], token_url: str) -> GrantedToken:
    """Answers a client-credentials grant: the assertion verified against the client's
    registered key, its claims checked (``iss`` = ``sub`` = the client id, ``aud`` = the
    token endpoint, ``exp`` at most five minutes ahead, ``jti`` never seen before), and a
    token limited to the requested scopes the client may have. Raises :class:`OAuthError`;
    each refusal is audited."""
    if form.get("grant_type") != GRANT_TYPE:
        raise OAuthError("unsupported_grant_type", f"grant_type must be {GRANT_TYPE}")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise OAuthError("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
    assertion = form.get("client_assertion") or ""
    requested = form.get("scope")
    if not assertion or not requested:
        raise OAuthError("invalid_request", "client_assertion and scope are required")
    client: SystemClient | None = None
    try:
        client, claims = _verified(scope, assertion)
        _check_claims(scope, client, claims, token_url)
        granted = smart.narrowed(smart.parse_scopes(requested), smart.parse_scopes(client.scopes))
        if not granted:
            raise OAuthError("invalid_scope", "none of the requested scopes is registered")
        expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
        if not repository.use_assertion(scope.session, client.id, str(claims["jti"]), expires_at):
            raise OAuthError("invalid_grant", "this assertion was used already")
    except OAuthError as refused:
        known = client or refused.about
        scope.audit.record(
            Action.LOGIN,
            KIND,
            None if known is None else known.id,
            outcome=Outcome.FAILURE,
            org_id=None if known is None else known.org_id,
            detail={"reason": refused.error, "via": "fhir"},
        )
        raise
    account = identity_queries.user_by_id(scope.session, client.user_id)
    if account is None:  # pragma: no cover - the foreign key keeps it
        raise OAuthError("invalid_client", "unknown client", 401)
    text = " ".join(g.text for g in granted)
    issued = identity.issue_token(
        scope,
        account,
        label=f"fhir client {client.id}"[:100],
        minutes=TOKEN_MINUTES,
        mfa_verified=True,
        scopes=text,
    )
    repository.forget_expired_assertions(scope.session, scope.clock.now())
    return GrantedToken(issued.secret, TOKEN_MINUTES * 60, text)


def _verified(scope: Scope, assertion: str) -> tuple[SystemClient, dict[str, Any]]:
    """The client whose current key signed the assertion, and the assertion's claims. The
    unverified claims only name the client whose keys are tried."""
    try:
        unverified = extract_compact(assertion.encode())
        header = unverified.protected
        issuer = json.loads(unverified.payload).get("iss")
    except (JoseError, ValueError, TypeError, AttributeError) as exc:
        raise OAuthError("invalid_client", "the assertion is not a signed JWT", 401) from exc
    client = _client_named(scope, issuer)
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS:
        raise OAuthError("invalid_client", "the assertion must be signed with RS384 or ES384", 401)
    keys = KeySet.import_key_set(cast(KeySetSerialization, client.jwks))
    key = next((k for k in keys.keys if k.kid == kid), None)
    if key is None or key.key_type != ALGORITHMS[str(alg)]:
        raise OAuthError("invalid_client", "no registered key matches the assertion's kid", 401)
    try:
        verified = jwt.decode(assertion, key, algorithms=[str(alg)])
    except (JoseError, ValueError) as exc:
        raise OAuthError(
            "invalid_client", "the assertion's signature does not verify", 401
        ) from exc
    return client, dict(verified.claims)


def _client_named(scope: Scope, issuer: object) -> SystemClient:
    try:
        client_id = uuid.UUID(str(issuer))
    except ValueError:
        client_id = None
    client = None if client_id is None else repository.client_by_id(scope.session, client_id)
    if client is None or client.revoked_at is not None:
        raise OAuthError("invalid_client", "unknown or revoked client", 401, client)
    return client


def _check_claims(
    scope: Scope, client: SystemClient, claims: Mapping[str, Any], token_url: str
) -> None:
    now = scope.clock.now()
    if claims.get("iss") != str(client.id) or claims.get("sub") != str(client.id):
        raise OAuthError("invalid_grant", "iss and sub must both be the client id")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if token_url not in audiences:
        raise OAuthError("invalid_grant", "aud must be the token endpoint's URL")
    exp = claims.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise OAuthError("invalid_grant", "exp is required")
    expires = datetime.fromtimestamp(exp, UTC)
    if expires <= now:
        raise OAuthError("invalid_grant", "the assertion has expired")
    if expires > now + ASSERTION_LIFETIME:
        raise OAuthError("invalid_grant", "exp may be at most five minutes ahead")
    nbf = claims.get("nbf")
    if isinstance(nbf, int) and datetime.fromtimestamp(nbf, UTC) > now:
        raise OAuthError("invalid_grant", "the assertion is not valid yet")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 255:
        raise OAuthError("invalid_grant", "jti is required")
