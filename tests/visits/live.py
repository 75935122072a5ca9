"""A real uvicorn server on loopback for end-to-end visit tests (SQLite, system clock)."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as wall
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from telehealth.app import create_app
from telehealth.clock import FrozenClock
from telehealth.config import Environment, Settings
from telehealth.visits import model, service
from tests.support import World, seed_world
from tests.visits.support import INTAKE, acting, link_for, services_of


@dataclass
class Live:
    base_url: str
    app: FastAPI
    world: World

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/v1/visit-session/signal"

    def book_now(self) -> tuple[uuid.UUID, str, str]:
        """A visit in the next free slot, with the patient's and the clinician's join tokens."""
        services = services_of(self.app)
        world = self.world
        clinician = world["clinician_a"].user_id
        with acting(services, world["coordinator"].user_id) as scope:
            if not service.windows(scope, clinician):
                for weekday in range(7):
                    service.add_window(
                        scope,
                        clinician,
                        model.WeeklyWindow("UTC", weekday, wall(0, 0), wall(23, 30), 30),
                    )
        with acting(services, world["coordinator"].user_id) as scope:
            now = scope.clock.now()
            slot = service.free_slots(scope, clinician, now, now + timedelta(days=2))[0][0]
            patient_id = world["patient_a"].patient_id
            assert patient_id is not None
            visit, _ = service.book(
                scope, patient_id=patient_id, clinician_id=clinician, slot_start=slot, intake=INTAKE
            )
        return (
            visit.id,
            link_for(services, visit.id, world["patient_a"].user_id),
            link_for(services, visit.id, clinician),
        )


@contextmanager
def live_server(template: Path, workdir: Path) -> Iterator[Live]:
    database = workdir / "live.db"
    shutil.copyfile(template, database)
    probe = Settings(
        env=Environment.TEST, data_dir=workdir / "data", database_url=f"sqlite:///{database}"
    )
    world = seed_world(probe, FrozenClock(datetime.now(UTC)))
    config = uvicorn.Config(
        create_app(probe),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        ws="websockets-sansio",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    app = config.app
    assert isinstance(app, FastAPI)
    try:
        yield Live(f"http://127.0.0.1:{port}", app, world)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        app.state.services.engine.dispose()
