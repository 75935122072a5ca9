"""Per-application objects of the visits capability: its settings and its signaling hub."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from telehealth.config import Settings
from telehealth.visits.settings import VisitSettings
from telehealth.visits.signaling import SignalingHub, make_hub

EXTRAS_KEY = "visits"


@dataclass
class VisitsRuntime:
    settings: VisitSettings
    hub: SignalingHub
    loop: asyncio.AbstractEventLoop | None = field(default=None)

    def bind_loop(self) -> None:
        self.loop = asyncio.get_running_loop()

    def control(self, visit_id: object, event: str, **data: Any) -> None:
        """Publish a control event from any thread (used after a transaction commits)."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        message = {"kind": "control", "event": event, **data}
        asyncio.run_coroutine_threadsafe(self.hub.publish(str(visit_id), message), loop)


def runtime_from(extras: MutableMapping[str, Any], settings: Settings) -> VisitsRuntime:
    runtime = extras.get(EXTRAS_KEY)
    if runtime is None:
        runtime = VisitsRuntime(settings=VisitSettings(), hub=make_hub(settings.redis_url))
        extras[EXTRAS_KEY] = runtime
    assert isinstance(runtime, VisitsRuntime)
    return runtime


async def close_runtime(extras: MutableMapping[str, Any]) -> None:
    """Closes the signaling hub (its Redis connections) when the application stops."""
    runtime = extras.pop(EXTRAS_KEY, None)
    if isinstance(runtime, VisitsRuntime):
        await runtime.hub.close()
