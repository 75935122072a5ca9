"""The composition root: ``create_app(settings)`` wires the ports (``telehealth.bootstrap``),
the database and the routes."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

from anyio import to_thread
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, text
from sqlalchemy.pool import QueuePool
from starlette.routing import BaseRoute
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from telehealth import __version__
from telehealth.access.routes import router as access_router
from telehealth.audit import jobs as audit_jobs
from telehealth.audit import pages as audit_pages
from telehealth.audit.committer import make_committer
from telehealth.audit.keys import chain_keys
from telehealth.audit.routes import router as audit_router
from telehealth.bootstrap import bootstrap
from telehealth.clock import Clock
from telehealth.config import Settings
from telehealth.db.engine import make_engine, make_sessionmaker
from telehealth.db.reader import make_reader
from telehealth.fhir import jobs as fhir_jobs
from telehealth.fhir import pages as fhir_pages
from telehealth.fhir.routes import clients_router as fhir_clients_router
from telehealth.fhir.routes import router as fhir_router
from telehealth.identity import jobs as identity_jobs
from telehealth.identity import lanes as identity_lanes
from telehealth.identity import pages as identity_pages
from telehealth.identity.routes import router as identity_router
from telehealth.jobs import JobRunner
from telehealth.jobs import prune as jobs_prune
from telehealth.metrics import Metrics, Sample
from telehealth.monitoring import jobs as monitoring_jobs
from telehealth.monitoring.routes import router as monitoring_router
from telehealth.notifications import jobs as notifications_jobs
from telehealth.notifications import pages as notifications_pages
from telehealth.notifications.routes import router as notifications_router
from telehealth.policy import lanes as policy_lanes
from telehealth.policy.routes import router as policy_router
from telehealth.portal.routes import router as portal_router
from telehealth.ports import Ports
from telehealth.process import tune_for_serving
from telehealth.review import jobs as review_jobs
from telehealth.review.routes import UPLOADS
from telehealth.review.routes import router as review_router
from telehealth.tracing import tracing_for
from telehealth.visits import jobs as visits_jobs
from telehealth.visits import relay
from telehealth.visits.routes import PROBE
from telehealth.visits.routes import router as visits_router
from telehealth.visits.runtime import VisitsRuntime
from telehealth.visits.session_record import visits_in_progress
from telehealth.web import metrics as metrics_route
from telehealth.web import pages, problems
from telehealth.web.lane import FastLanes
from telehealth.web.middleware import BodyLimit, SecurityMiddleware
from telehealth.web.scoped import Services

health = APIRouter(tags=["health"])


@health.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


# Importing a capability's jobs module registers its periodic jobs.
JOB_MODULES = (
    audit_jobs,
    fhir_jobs,
    identity_jobs,
    jobs_prune,
    monitoring_jobs,
    notifications_jobs,
    review_jobs,
    visits_jobs,
)

# Hot endpoints answered ahead of the framework when they can be (see telehealth.web.lane).
LANES = (*identity_lanes.LANES, *policy_lanes.LANES)

API_ROUTERS = (
    identity_router,
    access_router,
    audit_router,
    notifications_router,
    policy_router,
    review_router,
    visits_router,
    monitoring_router,
    portal_router,
    fhir_router,
    fhir_clients_router,
    # The foundations' pages; their API routers carry the /v1 prefix.
    identity_pages.router,
    audit_pages.router,
    notifications_pages.router,
    fhir_pages.router,
)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    run_jobs: bool = False,
    ports: Ports | None = None,
) -> FastAPI:
    """Builds the application on ``ports`` (by default, those ``bootstrap`` makes of
    ``settings`` and ``clock``). ``run_jobs`` starts the in-process background job thread."""
    settings.check_secrets()
    if ports is None:
        ports = bootstrap(settings, clock=clock)
    engine = make_engine(settings.effective_database_url)
    reader = make_reader(engine, pool_size=settings.worker_threads)
    services = Services(
        ports=ports,
        engine=engine,
        sessions=make_sessionmaker(engine),
        audit_group=make_committer(engine, reader, chain_keys(settings).current, ports.metrics),
        reader=reader,
        visits=VisitsRuntime(settings=settings.visits, hub=ports.hub),
        admission=asyncio.Semaphore(settings.worker_threads),
    )
    _read_gauges(ports.metrics, services)
    tracing = tracing_for(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        runner = JobRunner(services.sessions, ports) if run_jobs else None
        if runner is not None:
            runner.start()
        # The heartbeat of this instance's signaling sockets (docs/visits.md, session record).
        heartbeat = asyncio.get_running_loop().create_task(
            relay.keep_alive(services.visits, relay.Backend(services.sessions, ports))
        )
        try:
            yield
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            if runner is not None:
                runner.stop()
            await ports.close()
            await services.audit_group.close()
            await services.reader.close()
            engine.dispose()
            await to_thread.run_sync(tracing.shutdown)

    app = TelehealthAPI(
        lifespan=lifespan,
        title="telehealth",
        version=__version__,
        description="Synchronous, asynchronous and remote-monitoring care that knows the rules.",
        docs_url="/docs",
        redoc_url=None,
        telemetry=tracing.telemetry(),
    )
    app.state.services = services
    app.state.metrics = ports.metrics
    app.state.tracing = tracing

    @app.get("/readyz", tags=["health"])
    def readyz() -> Any:
        # A server shutting down is alive but wants no new work: load balancers route around it.
        if services.draining.is_set():
            return JSONResponse({"status": "draining"}, status_code=503)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return {"status": "ready"}

    problems.install(app, error_page=pages.error_page)
    app.add_exception_handler(pages.SignInRequired, pages.sign_in_redirect)
    for router in (health, metrics_route.router, *API_ROUTERS, pages.router):
        _add_routes(app, router)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    app.outer_layers = functools.partial(_outer_layers, services=services)
    return app


class TelehealthAPI(FastAPI):
    """FastAPI, wrapped in telehealth's outermost layers (see :func:`_outer_layers`)."""

    outer_layers: Callable[[ASGIApp], ASGIApp] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return stack if self.outer_layers is None else self.outer_layers(stack)


# Request bodies that stream under limits of their own: tus PATCH to storage, and the pre-call
# upload probe, which only counts its bytes.
UNLIMITED_BODIES = (("PATCH", UPLOADS), ("POST", PROBE))


def _outer_layers(stack: ASGIApp, *, services: Services) -> ASGIApp:
    """Security headers, request ids and the request log around everything; inside them the
    body limit, before anything reads a body or checks a credential; inside that the fast
    lanes, which answer their requests without entering the framework's stack. Outermost,
    behind configured proxies only, the client address they forward replaces theirs (sign-in
    throttling counts failures per client address)."""
    settings = services.settings
    lanes = FastLanes(stack, services=services, lanes=LANES)
    limited = BodyLimit(lanes, max_bytes=settings.max_body_bytes, unlimited=UNLIMITED_BODIES)
    layers = SecurityMiddleware(
        limited, hsts=settings.base_url.startswith("https://"), metrics=services.ports.metrics
    )
    if not settings.trusted_proxies:
        return layers
    # uvicorn types ASGI apps more narrowly than Starlette; both are the same ASGI 3 callable.
    inner: Any = layers
    return cast(
        ASGIApp, ProxyHeadersMiddleware(inner, trusted_hosts=list(settings.trusted_proxies))
    )


def _read_gauges(metrics: Metrics, services: Services) -> None:
    """The gauges read when /metrics is scraped: the database pool, visits in progress."""
    metrics.add_gauge(
        "telehealth_db_pool_connections",
        "Database connections of this instance's pool, by state (in_use, idle, overflow).",
        functools.partial(_pool_samples, services.engine),
    )

    def in_progress() -> list[Sample]:
        try:
            with services.sessions() as session:
                return [({}, float(visits_in_progress(session)))]
        except Exception:
            # No figure while the database is away; the scrape itself still answers.
            return []

    metrics.add_gauge(
        "telehealth_visits_in_progress",
        "Visits started and not yet ended, in every organization (the same on every instance).",
        in_progress,
    )


def _pool_samples(engine: Engine) -> list[Sample]:
    pool = engine.pool
    if not isinstance(pool, QueuePool):  # a pool that keeps no count (SQLite in memory)
        return []
    return [
        ({"state": "in_use"}, float(pool.checkedout())),
        ({"state": "idle"}, float(pool.checkedin())),
        ({"state": "overflow"}, float(max(0, pool.overflow()))),
    ]


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """Adds ``router``'s routes, and those of the routers it includes, to the application's own
    list, in order.

    Matching a request against an included router goes through a wrapper per route that costs
    more than the matching itself, and happens twice per request: a route late in the list took
    about 150 µs to find that way, against 55 µs in one flat list. Our routers take no options
    when included (their prefixes and tags are set where they are made), so their routes are
    complete as they stand.
    """
    app.router.routes.extend(_flat_routes(router.routes))


def _flat_routes(routes: list[BaseRoute]) -> list[BaseRoute]:
    flat: list[BaseRoute] = []
    for route in routes:
        included: APIRouter | None = getattr(route, "original_router", None)
        if included is None:
            flat.append(route)
        else:
            flat.extend(_flat_routes(included.routes))
    return flat


def serving_app(settings: Settings, *, run_jobs: bool = True) -> FastAPI:
    """The application of a server process: background jobs on unless told, and the process
    tuned for serving (``telehealth.process``)."""
    app = create_app(settings, run_jobs=run_jobs)
    tune_for_serving()
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ASGI servers (``uvicorn --factory telehealth.app:create_app_from_env``)."""
    from telehealth.logging import configure_logging

    configure_logging()
    return serving_app(Settings())
