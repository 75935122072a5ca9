"""Pages of the portal capability."""

from __future__ import annotations

from fastapi import APIRouter

from telehealth.web.scoped import ScopedRoute

router = APIRouter(route_class=ScopedRoute, include_in_schema=False)
