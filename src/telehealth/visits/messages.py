"""A visit's messages: the chat of the call, and the clinician's word to everyone in the
waiting room ("Running 5 minutes late").

Any admitted participant writes to the call; only the visit's clinician writes to the waiting
room. Bodies are plain text (``model.message_text``). Writing and reading through a link are
audited with the patient id; the details carry codes, never a body.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from telehealth.audit.model import Action
from telehealth.clock import ensure_utc
from telehealth.errors import DomainError, ErrorCode
from telehealth.scope import Scope
from telehealth.visits import model, repository
from telehealth.visits.links import ParticipantContext, require_host
from telehealth.visits.model import MessageAudience, ParticipantState, VisitStatus
from telehealth.visits.tables import Participant, Visit, VisitMessage


@dataclass(frozen=True)
class Sent:
    message: VisitMessage
    sender: Participant

    def event(self) -> dict[str, Any]:
        """The hub's ``message`` control event (without its kind and name): the audience, and
        the payload the sockets of that audience receive, JSON-ready for any hub."""
        return {"audience": self.message.audience, "payload": self._payload()}

    def view(self) -> dict[str, Any]:
        return _view(self.message, self.sender)

    def _payload(self) -> dict[str, str]:
        sent_at = ensure_utc(self.message.created_at).isoformat()
        if self.message.audience == MessageAudience.WAITING.value:
            return {"type": "waiting-message", "body": self.message.body, "sent_at": sent_at}
        return {
            "type": "chat",
            "id": str(self.message.id),
            "from": str(self.sender.id),
            "display_name": self.sender.display_name,
            "role": self.sender.role,
            "body": self.message.body,
            "sent_at": sent_at,
        }


def post(scope: Scope, ctx: ParticipantContext, audience: MessageAudience, body: str) -> Sent:
    text = model.message_text(body)
    if audience is MessageAudience.WAITING:
        require_host(scope, ctx)
    visit, sender = ctx.visit, ctx.participant
    if VisitStatus(visit.status) not in model.OPEN_STATUSES:
        raise DomainError(ErrorCode.INVALID_STATE, "the visit is over")
    if audience is MessageAudience.CALL and sender.state != ParticipantState.ADMITTED.value:
        raise DomainError(ErrorCode.INVALID_STATE, "only those in the call write to it")
    message = VisitMessage(
        id=uuid.uuid4(),
        visit_id=visit.id,
        sender_id=sender.id,
        audience=audience.value,
        body=text,
        created_at=scope.clock.now(),
    )
    scope.session.add(message)
    scope.audit.record(
        Action.CREATE,
        "visit_message",
        message.id,
        patient_id=visit.patient_id,
        detail={"audience": audience.value},
    )
    return Sent(message, sender)


def call_history(scope: Scope, ctx: ParticipantContext) -> list[dict[str, Any]]:
    """The call's chat as this participant may read it: the clinician all of it, everyone
    else what was written since they were let into the call (a guest joining later does not
    read what was said before), and nothing while waiting."""
    visit, me = ctx.visit, ctx.participant
    scope.audit.record(
        Action.READ,
        "visit",
        visit.id,
        patient_id=visit.patient_id,
        detail={"via": "link", "messages": MessageAudience.CALL.value},
    )
    if me.state != ParticipantState.ADMITTED.value:
        return []
    since = None if ctx.is_host or me.admitted_at is None else ensure_utc(me.admitted_at)
    return [
        view
        for view in messages_view(scope, visit, MessageAudience.CALL)
        if since is None or view["sent_at"] >= since
    ]


def messages_view(
    scope: Scope, visit: Visit, audience: MessageAudience | None = None
) -> list[dict[str, Any]]:
    """The visit's messages with their senders, oldest first, for readers of the visit (who
    were audited reading it)."""
    rows = repository.messages_of(scope.session, visit.id, audience)
    if not rows:
        return []
    senders = {p.id: p for p in repository.participants_of(scope.session, visit.id)}
    return [_view(row, senders[row.sender_id]) for row in rows]


def _view(row: VisitMessage, sender: Participant) -> dict[str, Any]:
    return {
        "id": row.id,
        "from": sender.id,
        "display_name": sender.display_name,
        "role": sender.role,
        "audience": row.audience,
        "body": row.body,
        "sent_at": ensure_utc(row.created_at),
    }


def waiting_message(scope: Scope, visit: Visit) -> dict[str, Any] | None:
    """The clinician's latest word to the waiting room, if any."""
    row = repository.latest_message(scope.session, visit.id, MessageAudience.WAITING.value)
    if row is None:
        return None
    return {"body": row.body, "sent_at": ensure_utc(row.created_at)}
