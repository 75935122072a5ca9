"""The request's audit trail: events buffered during the request, committed with it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy.orm import Session

from telehealth.audit import repository
from telehealth.audit.committer import AuditCommitter
from telehealth.audit.model import Action, AuditEvent, ChainKey, Outcome, chain_for
from telehealth.clock import Clock
from telehealth.db.engine import wrote
from telehealth.db.uow import UnitOfWork


class AuditTrail:
    """Collects events; they reach the chain in the same transaction as the work they describe.

    Events marked ``durable`` (failed logins, denials) are also written when the request's
    transaction rolls back, in a transaction of their own.

    With a ``group`` committer that groups requests (PostgreSQL), a unit of work that wrote
    nothing hands its events to the group commit instead of writing them itself; whoever
    answers the request must then await :meth:`durable` before answering.
    """

    def __init__(
        self,
        uow: UnitOfWork,
        clock: Clock,
        request_id: str | None,
        source_ip: str | None,
        key: ChainKey,
        group: AuditCommitter | None = None,
    ) -> None:
        self._clock = clock
        self._key = key
        self._request_id = request_id
        self._source_ip = source_ip
        self._chain = chain_for(request_id or str(uuid.uuid4()))
        self._pending: list[AuditEvent] = []
        self._durable: list[AuditEvent] = []
        self.actor_id: uuid.UUID | None = None
        self.actor_role: str | None = None
        self.org_id: uuid.UUID | None = None
        self._group = group if group is not None and group.groups_requests else None
        self._grouped: list[AuditEvent] = []
        uow.before_commit(self._flush_all)
        uow.after_rollback(self._flush_durable)

    def identify(self, actor_id: uuid.UUID, actor_role: str, org_id: uuid.UUID) -> None:
        self.actor_id = actor_id
        self.actor_role = actor_role
        self.org_id = org_id

    def record(
        self,
        action: Action,
        object_type: str,
        object_id: object | None = None,
        *,
        outcome: Outcome = Outcome.SUCCESS,
        patient_id: uuid.UUID | None = None,
        actor_id: uuid.UUID | None = None,
        actor_role: str | None = None,
        org_id: uuid.UUID | None = None,
        detail: Mapping[str, str | int | bool] | None = None,
        durable: bool = False,
    ) -> None:
        event = AuditEvent(
            at=self._clock.now(),
            action=action,
            outcome=outcome,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
            actor_id=actor_id or self.actor_id,
            actor_role=actor_role or self.actor_role,
            org_id=org_id or self.org_id,
            patient_id=patient_id,
            source_ip=self._source_ip,
            request_id=self._request_id,
            detail=dict(detail or {}),
        )
        (self._durable if durable else self._pending).append(event)

    @property
    def events(self) -> list[AuditEvent]:
        return [*self._pending, *self._durable]

    async def durable(self) -> None:
        """Group-commits the events a unit of work that wrote nothing left for it; returns once
        they are durable (raises if they could not be made so)."""
        if self._group is not None and self._grouped:
            grouped, self._grouped = self._grouped, []
            await self._group.append(grouped)

    def _flush_all(self, session: Session) -> None:
        events = sorted([*self._pending, *self._durable], key=lambda e: e.at)
        self._pending.clear()
        self._durable.clear()
        if not events:
            return
        if self._group is not None and not wrote(session):
            self._grouped = events
            return
        # The Core connection, not the session: the ORM's execution path costs twice as much.
        repository.append(session.connection(), self._chain, events, self._key)

    def _flush_durable(self, session: Session) -> None:
        events = list(self._durable)
        self._durable.clear()
        self._pending.clear()
        repository.append(session, self._chain, events, self._key)
