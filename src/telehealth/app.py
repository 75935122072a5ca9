"""The composition root: ``create_app(settings)`` wires settings, database, clock and routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from telehealth import __version__
from telehealth.access.routes import router as access_router
from telehealth.audit.routes import router as audit_router
from telehealth.clock import Clock, SystemClock
from telehealth.config import Settings
from telehealth.db.engine import make_engine, make_sessionmaker
from telehealth.identity.routes import router as identity_router
from telehealth.web import problems
from telehealth.web.middleware import SecurityMiddleware
from telehealth.web.scoped import Services

health = APIRouter(tags=["health"])


@health.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    settings.check_secrets()
    engine = make_engine(settings.effective_database_url)
    services = Services(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        clock=clock or SystemClock(),
        extras={},
    )
    app = FastAPI(
        title="telehealth",
        version=__version__,
        description="Synchronous, asynchronous and remote-monitoring care that knows the rules.",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.services = services

    @app.get("/readyz", tags=["health"])
    def readyz() -> Any:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any failure means not ready
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return {"status": "ready"}

    problems.install(app)
    app.include_router(health)
    for router in (identity_router, access_router, audit_router):
        app.include_router(router)
    app.add_middleware(SecurityMiddleware, hsts=settings.public_url.startswith("https://"))
    return app
