"""Ports: the shared objects one process is built from, made once by ``telehealth.bootstrap``.

A request's, job's or command's :class:`~telehealth.scope.Scope` carries them, so services
never build a store, hub or rule set of their own from the environment. The care
capabilities' types are named for the type checker only: at run time this module, which every
scope imports, depends on no capability (the composition root injects them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from telehealth.clock import Clock
from telehealth.config import Settings
from telehealth.metrics import Metrics
from telehealth.notifications.mailer import Mailer

if TYPE_CHECKING:
    from telehealth.coding.codeset import CodeSet
    from telehealth.policy.loader import RuleSet
    from telehealth.review.storage import ReviewStorage
    from telehealth.visits.signaling import SignalingHub


@dataclass(frozen=True)
class Ports:
    settings: Settings
    clock: Clock
    # Encrypted blobs and the resumable upload writers open in this process.
    uploads: ReviewStorage
    # Visit signaling: in-process, or across instances through Redis.
    hub: SignalingHub
    mailer: Mailer
    # The compiled modality rules (policies/) and the code set (coding).
    ruleset: RuleSet
    codeset: CodeSet
    # The process's Prometheus metrics (served at /metrics): each Ports counts on its own.
    metrics: Metrics = field(default_factory=Metrics)

    async def close(self) -> None:
        """Releases what holds connections (the hub's Redis connections)."""
        await self.hub.close()
