"""Routes of the portal capability: its pages (the portal has no API of its own)."""

from __future__ import annotations

from fastapi import APIRouter

from telehealth.portal import pages
from telehealth.web.scoped import ScopedRoute

router = APIRouter(route_class=ScopedRoute, include_in_schema=False)
router.include_router(pages.router)
