"""The visits capability's side of one web application: its settings, the signaling hub
(a port, see ``telehealth.ports``) and the event loop that hub runs on."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from telehealth.config import VisitSettings
from telehealth.visits.signaling import SignalingHub

if TYPE_CHECKING:
    from telehealth.web.scoped import Services


class OpenSockets:
    """The signaling sockets open on this instance, by connection id: what its heartbeat
    (``relay.keep_alive``) marks as seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[str] = set()

    def opened(self, conn: str) -> None:
        with self._lock:
            self._open.add(conn)

    def closed(self, conn: str) -> None:
        with self._lock:
            self._open.discard(conn)

    def snapshot(self) -> list[str]:
        with self._lock:
            return sorted(self._open)


@dataclass
class VisitsRuntime:
    settings: VisitSettings
    hub: SignalingHub
    loop: asyncio.AbstractEventLoop | None = field(default=None)
    sockets: OpenSockets = field(default_factory=OpenSockets)

    def bind_loop(self) -> None:
        self.loop = asyncio.get_running_loop()

    def control(self, visit_id: object, event: str, **data: Any) -> None:
        """Publish a control event from any thread (used after a transaction commits)."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        message = {"kind": "control", "event": event, **data}
        asyncio.run_coroutine_threadsafe(self.hub.publish(str(visit_id), message), loop)


async def visits_runtime(request: Request) -> VisitsRuntime:
    services: Services = request.app.state.services
    runtime = services.visits
    runtime.bind_loop()
    return runtime


RuntimeDep = Annotated[VisitsRuntime, Depends(visits_runtime)]
