"""Server time of every page at p95 against the layout recording one audited read, same run.

The app runs in process on a migrated SQLite file with a seeded organization (a booked visit
with its intake, a store-and-forward case, a monitored patient with an alert, a stored
decision). A timer wraps the whole ASGI app, so each figure covers middleware, authentication,
the request's transaction and rendering. The baseline is the floor every page that shows
protected data pays: a bench-only route on the same app, with the same route class and sign-in
dependency, that reads one patient through the access service, records the read in the audit
trail (committed with the request's transaction) and renders ``base.html`` with no content.
Pages and the baseline are requested in interleaved rounds.

Requests reach the app through httpx's ASGI transport on one event loop that runs the app's
lifespan, as a server does. (The in-process test client starts an event loop and a worker thread for
every request, which adds the same cost to every page and the static page alike, and keeps
each rendered page's context in reference cycles for the garbage collector: collections of
5 ms every few dozen requests, more often after larger pages, which no server sees.)

Target: every page's p95 within 2x the baseline's p95. (Until December 2026 the baseline was the
layout without the audited read; that static floor is still printed, for comparison.)

The process is set up as ``telehealth serve`` sets it up: JSON request logs on standard error
(redirect them, e.g. ``2>/dev/null``) and the serving process's garbage-collection and
allocator settings (``telehealth.process``).

Each page is requested once per round (default 200 rounds): with fewer, a page's p95 is little
more than its third-slowest sample, and one pause of the machine moves it.

Run: .venv/bin/python bench/web_pages.py [rounds] 2>/dev/null
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from fastapi import APIRouter, FastAPI, Request  # noqa: E402
from fastapi.responses import HTMLResponse  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from starlette.types import Receive, Scope, Send  # noqa: E402
from tests.access.matrix import decision_for_patient_a  # noqa: E402
from tests.review.support import case_body  # noqa: E402
from tests.support import World, seed_world  # noqa: E402
from tests.visits.support import book, services_of  # noqa: E402

from telehealth.access import service as access  # noqa: E402
from telehealth.app import create_app  # noqa: E402
from telehealth.audit.model import Action  # noqa: E402
from telehealth.clock import FrozenClock  # noqa: E402
from telehealth.config import Environment, Settings  # noqa: E402
from telehealth.db.migrate import upgrade  # noqa: E402
from telehealth.logging import configure_logging  # noqa: E402
from telehealth.process import tune_for_serving  # noqa: E402
from telehealth.web.auth import ScopeDep  # noqa: E402
from telehealth.web.pages import PageActorDep, render  # noqa: E402
from telehealth.web.scoped import ScopedRoute  # noqa: E402

BASELINE = "/bench/audited"
STATIC = "/bench/static"
TARGET = 2.0


class Timer:
    """Outermost ASGI wrapper: the time from the request's arrival to its last body byte."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.samples: list[float] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        await self.app(scope, receive, send)
        self.samples.append(time.perf_counter() - started)


def baseline_router(patient_id: uuid.UUID) -> APIRouter:
    router = APIRouter(route_class=ScopedRoute, include_in_schema=False)

    @router.get(BASELINE, response_class=HTMLResponse)
    def audited_page(request: Request, actor: PageActorDep, scope: ScopeDep) -> HTMLResponse:
        patient = access.readable_patient(scope, patient_id)
        scope.audit.record(Action.READ, "patient", patient.id, patient_id=patient.id)
        return render(request, "base.html")

    @router.get(STATIC, response_class=HTMLResponse)
    def static_page(request: Request, actor: PageActorDep) -> HTMLResponse:
        return render(request, "base.html")

    return router


def seed(app: FastAPI, world: World) -> dict[str, str]:
    client = TestClient(app)
    patient, clinician = world["patient_a"].headers, world["clinician_a"].headers
    visit_id = book(services_of(app), world)
    intake = client.post(
        f"/portal/visits/{visit_id}/intake",
        headers=patient,
        data={
            "reason": "Itchy patch",
            "q_body_site": "arm",
            "q_duration": "1_to_4_weeks",
            "q_changed": "no",
            "q_symptoms": "itch",
            "q_lesion_count": "1",
        },
        follow_redirects=False,
    )
    assert intake.status_code == 303, intake.text
    case = client.post(
        "/v1/cases",
        headers=patient,
        json=case_body(reason="A mole"),
    )
    assert case.status_code == 201, case.text
    enrollment = client.post(
        f"/v1/monitoring/patients/{world['patient_a'].patient_id}/enrollments",
        headers=clinician,
        json={
            "program": "hypertension",
            "episode_start": "2026-11-01",
            "consent": {"given_by": "patient", "method": "verbal", "at": "2026-11-01T15:00:00Z"},
        },
    ).json()
    device = client.post(
        f"/v1/monitoring/enrollments/{enrollment['id']}/devices",
        headers=clinician,
        json={
            "device_type": "blood_pressure_monitor",
            "manufacturer": "Acme",
            "model": "BP-1",
            "serial": "SN-1",
            "meets_fda_definition": True,
        },
    ).json()
    start = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    readings = []
    for day in range(26):
        at = (start + timedelta(days=day)).isoformat()
        systolic = 192 if day == 25 else 125 + day % 7
        readings += [
            {"code": "8480-6", "value": systolic, "unit": "mm[Hg]", "effective": at},
            {"code": "8462-4", "value": 82, "unit": "mm[Hg]", "effective": at},
        ]
    sent = client.post(
        "/v1/monitoring/ingest/readings",
        json={"readings": readings},
        headers={"Authorization": f"Bearer {device['token']}"},
    )
    assert sent.status_code == 200, sent.text
    return {
        "visit": str(visit_id),
        "case": case.json()["id"],
        "enrollment": enrollment["id"],
        "decision": decision_for_patient_a(world),
        "clinician": str(world["clinician_a"].user_id),
    }


PAGES: dict[str, tuple[str, ...]] = {
    "patient_a": (
        "/",
        "/visits",
        "/visits/{visit}",
        "/visits/book",
        "/visits/{visit}/reschedule",
        "/portal/visits/{visit}/intake",
        "/review",
        "/review/cases/new",
        "/review/cases/{case}",
        "/monitoring/me",
        "/notifications",
        "/profile",
    ),
    "clinician_a": (
        "/",
        "/visits",
        "/portal/visits/{visit}/context",
        "/portal/decisions/{decision}",
        "/portal/alerts",
        "/review",
        "/monitoring",
        "/monitoring/enrollments/{enrollment}",
        # The enrollment page's panels that its script fetches once the page is in.
        "/monitoring/enrollments/{enrollment}/consent?fragment=1",
        "/monitoring/enrollments/{enrollment}/billing?fragment=1",
        "/monitoring/enrollments/{enrollment}/time?fragment=1",
        "/monitoring/enrollments/{enrollment}/devices?fragment=1",
        "/monitoring/enrollments/{enrollment}/messages?fragment=1",
        "/notifications",
    ),
    "coordinator": (
        "/",
        "/visits/book",
        "/admin/users",
        "/admin/clinicians/{clinician}",
        "/admin/schedules",
        "/admin/queues",
        "/admin/impact",
    ),
    "admin": ("/admin/audit",),
}


async def get(client: httpx.AsyncClient, timer: Timer, path: str, headers: dict[str, str]) -> float:
    """One GET through the timed app; its server time."""
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, (path, response.status_code)
    return timer.samples.pop()


async def measure(
    app: FastAPI, world: World, targets: list[tuple[str, str]], rounds: int
) -> tuple[dict[tuple[str, str], list[float]], list[float], list[float]]:
    timer = Timer(app)
    samples: dict[tuple[str, str], list[float]] = {t: [] for t in targets}
    baseline: list[float] = []
    static: list[float] = []
    transport = httpx.ASGITransport(app=timer)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
    ):
        for _warm in range(3):
            for role, path in targets:
                await get(client, timer, path, world[role].headers)
        for _ in range(rounds):
            for role, path in targets:
                samples[(role, path)].append(await get(client, timer, path, world[role].headers))
                # The floor, as the same role, right after each page.
                baseline.append(await get(client, timer, BASELINE, world[role].headers))
            static.append(await get(client, timer, STATIC, world["clinician_a"].headers))
    return samples, baseline, static


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


def main(rounds: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        database = Path(tmp) / "bench.db"
        upgrade(f"sqlite:///{database}")
        settings = Settings(
            env=Environment.TEST,
            data_dir=Path(tmp) / "data",
            database_url=f"sqlite:///{database}",
            api_token_minutes=24 * 60,
        )
        clock = FrozenClock(datetime(2026, 11, 27, 12, 0, tzinfo=UTC))
        configure_logging()  # as `telehealth serve` logs: JSON lines on standard error
        app = create_app(settings, clock=clock)
        world = seed_world(settings, clock)
        patient_a = world["patient_a"].patient_id
        assert patient_a is not None
        app.include_router(baseline_router(patient_a))
        ids = seed(app, world)
        # The process as `telehealth serve` runs it (app.serving_app), once the data is in.
        tune_for_serving()
        targets = [(role, path.format(**ids)) for role, paths in PAGES.items() for path in paths]
        samples, baseline, static = asyncio.run(measure(app, world, targets, rounds))
        base = p95(baseline)
        print(
            f"baseline (the layout with one audited read): p95 {base * 1000:.2f} ms, "
            f"median {statistics.median(baseline) * 1000:.2f} ms"
        )
        print(
            f"for comparison, the layout alone: p95 {p95(static) * 1000:.2f} ms, "
            f"median {statistics.median(static) * 1000:.2f} ms"
        )
        print(f"{'role':<12} {'page':<58} {'median':>7} {'p95 ms':>8} {'ratio':>6}")
        worst = 0.0
        for (role, path), values in samples.items():
            figure = p95(values)
            ratio = figure / base
            worst = max(worst, ratio)
            shown = path
            for name, value in ids.items():
                shown = shown.replace(value, "{" + name + "}")
            median = statistics.median(values) * 1000
            print(f"{role:<12} {shown:<58} {median:7.2f} {figure * 1000:8.2f} {ratio:6.2f}")
        print(f"worst ratio {worst:.2f} (target <= {TARGET}); roles {', '.join(sorted(PAGES))}")
        app.state.services.engine.dispose()
        return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
