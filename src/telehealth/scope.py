"""The scope of one unit of work: transaction, ports (clock, settings, stores...), audit trail
and actor.

Services take a :class:`Scope` instead of reaching for globals, so the same code runs for an
HTTP request, a CLI command or a background job.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from telehealth.audit.committer import AuditCommitter
from telehealth.audit.keys import chain_keys
from telehealth.audit.trail import AuditTrail
from telehealth.clock import Clock
from telehealth.config import Settings
from telehealth.db.uow import UnitOfWork
from telehealth.errors import DomainError, ErrorCode
from telehealth.identity.model import Actor
from telehealth.ports import Ports


@dataclass
class Scope:
    uow: UnitOfWork
    ports: Ports
    audit: AuditTrail
    request_id: str
    source_ip: str | None = None
    actor: Actor | None = field(default=None)
    # Access decisions already made in this unit of work, keyed by their loader; one request
    # often reaches the same patient through several loaders, and each decision (with its
    # break-glass audit event) is made once.
    memo: dict[Hashable, Any] = field(default_factory=dict)

    @property
    def clock(self) -> Clock:
        return self.ports.clock

    @property
    def settings(self) -> Settings:
        return self.ports.settings

    @property
    def session(self) -> Session:
        return self.uow.session

    def act_as(self, actor: Actor) -> None:
        self.actor = actor
        self.audit.identify(actor.user_id, actor.role.value, actor.org_id)

    def require_actor(self) -> Actor:
        if self.actor is None:
            raise DomainError(ErrorCode.NOT_AUTHENTICATED, "authentication required")
        return self.actor


def open_scope(
    factory: sessionmaker[Session],
    ports: Ports,
    *,
    request_id: str | None = None,
    source_ip: str | None = None,
    audit_group: AuditCommitter | None = None,
) -> Scope:
    uow = UnitOfWork(factory)
    rid = request_id or uuid.uuid4().hex
    key = chain_keys(ports.settings).current
    trail = AuditTrail(uow, ports.clock, rid, source_ip, key, audit_group)
    return Scope(
        uow=uow,
        ports=ports,
        audit=trail,
        request_id=rid,
        source_ip=source_ip,
    )
