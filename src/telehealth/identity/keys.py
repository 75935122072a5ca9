"""The app secrets of a deployment's settings (``TELEHEALTH_SECRET_KEY`` and
``TELEHEALTH_SECRET_KEYS_PREVIOUS``) and the resealing of what they seal (ADR 0020).

TOTP seeds are the only values sealed with the app secret; the sign-in throttle keys its
HMACs with it (identity/service.py). After a new key becomes current, :func:`reseal_secrets`
(``telehealth keys rotate-secret``) moves every seed to it, batch by batch, so that the
previous keys can be removed.
"""

from __future__ import annotations

import functools
import uuid
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from telehealth.audit.model import Action
from telehealth.config import Settings
from telehealth.errors import DomainError
from telehealth.identity import repository
from telehealth.identity.credentials import SecretKeyring
from telehealth.ports import Ports
from telehealth.scope import Scope, open_scope

RESEAL_BATCH = 200


def secret_keyring(settings: Settings) -> SecretKeyring:
    return _keyring(settings.secret_keys)


@functools.cache
def _keyring(secrets: tuple[str, ...]) -> SecretKeyring:
    # Derived once per process: every sign-in with a second factor opens a seed.
    return SecretKeyring(secrets[0], secrets[1:])


@dataclass(frozen=True)
class ResealReport:
    """What one run of :func:`reseal_secrets` found: counts, and the users whose seed no
    configured key opens (ids only), with how many of them each missing key id sealed."""

    current_key_id: str
    resealed: int = 0
    already_current: int = 0
    batches: int = 0
    unreadable: tuple[uuid.UUID, ...] = field(default=())
    unreadable_by_key: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ResealBatch:
    last: uuid.UUID | None
    seen: int
    resealed: int
    unreadable: list[tuple[uuid.UUID, str]]


def reseal_batch(scope: Scope, after: uuid.UUID | None, size: int) -> ResealBatch:
    """Reseals the TOTP seeds of up to ``size`` users (by id after ``after``) under the current
    key, each one audited; seeds already under it are left alone."""
    keyring = secret_keyring(scope.settings)
    rows = repository.sealed_secrets(scope.session, after, size)
    resealed = 0
    unreadable: list[tuple[uuid.UUID, str]] = []
    for user_id, sealed in rows:
        try:
            fresh = keyring.reseal(sealed)
        except DomainError as exc:
            unreadable.append((user_id, str(exc.data.get("key_id", "none"))))
            continue
        if fresh is None or not repository.replace_sealed_secret(
            scope.session, user_id, sealed, fresh
        ):
            continue
        resealed += 1
        scope.audit.record(
            Action.UPDATE,
            "credentials",
            user_id,
            detail={"event": "mfa_secret_resealed", "key_id": keyring.current_id},
        )
    return ResealBatch(rows[-1][0] if rows else None, len(rows), resealed, unreadable)


def reseal_secrets(
    sessions: sessionmaker[Session], ports: Ports, *, batch_size: int = RESEAL_BATCH
) -> ResealReport:
    """Reseals every TOTP seed under the current key, one transaction per batch; running it
    again reseals nothing more. Seeds no configured key opens are counted, not changed."""
    keyring = secret_keyring(ports.settings)
    after: uuid.UUID | None = None
    resealed = seen = batches = 0
    unreadable: list[tuple[uuid.UUID, str]] = []
    while True:
        scope = open_scope(sessions, ports, request_id=f"reseal-{uuid.uuid4().hex[:12]}")
        try:
            batch = reseal_batch(scope, after, batch_size)
            scope.uow.commit()
        except BaseException:
            scope.uow.rollback()
            raise
        finally:
            scope.uow.close()
        batches += 1
        seen += batch.seen
        resealed += batch.resealed
        unreadable.extend(batch.unreadable)
        if batch.last is None or batch.seen < batch_size:
            break
        after = batch.last
    return ResealReport(
        current_key_id=keyring.current_id,
        resealed=resealed,
        already_current=seen - resealed - len(unreadable),
        batches=batches,
        unreadable=tuple(user_id for user_id, _ in unreadable),
        unreadable_by_key=dict(Counter(key_id for _, key_id in unreadable)),
    )
