"""The access-matrix vocabulary shared by every capability's entries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support import World

Target = Callable[[World], str]


@dataclass(frozen=True)
class Entry:
    """How a route is reached: its audience and, for object routes, patient A's object."""

    # public | page_public | page | self | org_manager | admin | staff | patient_object
    audience: str
    target: Target | None = None  # builds the path to patient A's object
    body: dict[str, Any] | None = None
    allowed: tuple[str, ...] = field(default_factory=tuple)  # actors that must succeed


def patient_a_id(world: World) -> str:
    return str(world["patient_a"].patient_id)
