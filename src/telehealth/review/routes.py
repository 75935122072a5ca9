"""HTTP routes of the review capability."""

from __future__ import annotations

from fastapi import APIRouter

from telehealth.web.scoped import ScopedRoute

router = APIRouter(route_class=ScopedRoute)
