"""Shared fixtures. Database tests run on SQLite and on PostgreSQL.

PostgreSQL comes from ``TELEHEALTH_TEST_DATABASE_URL`` (a server-level URL; each test gets a
fresh database cloned from a migrated template). Without it, PostgreSQL cases are skipped on a
developer machine and fail in CI, where ``CI`` is set.
"""

from __future__ import annotations

import ast
import functools
import os
import shutil
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from telehealth.app import create_app
from telehealth.clock import FrozenClock
from telehealth.config import Environment, Settings, VisitSettings
from telehealth.db.migrate import upgrade
from telehealth.ports import Ports
from tests.support import World, memory_ports, real_ports, seed_world

PG_ENV = "TELEHEALTH_TEST_DATABASE_URL"


def _serialize_ast_parse() -> None:
    """Python 3.11 keeps the AST constructor's recursion depth in state that every thread
    shares (CPython gh-106905): two threads parsing at once -- pytest formatting a failure or an
    expected failure while a server thread formats a traceback for its log, which parses the
    failing line for its carets -- make one of them raise SystemError, and pytest reports an
    internal error that ends the whole run. One lock around ``ast.parse`` keeps them apart."""
    if sys.version_info >= (3, 12):
        return
    parse = ast.parse
    lock = threading.RLock()

    @functools.wraps(parse)
    def serialized(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return parse(*args, **kwargs)

    ast.parse = serialized


_serialize_ast_parse()
START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _pg_server_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def _admin_engine(server_url: str):  # type: ignore[no-untyped-def]
    return create_engine(
        make_url(server_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    server = _pg_server_url()
    if server is None:
        yield None
        return
    name = f"th_tmpl_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine(server)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    upgrade(make_url(server).set(database=name).render_as_string(hide_password=False))
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _require_postgres() -> str:
    server = _pg_server_url()
    if server is None:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} is not set: PostgreSQL is required in CI")
        pytest.skip(f"{PG_ENV} not set")
    return server


@contextmanager
def fresh_database(request: pytest.FixtureRequest, directory: Path) -> Iterator[str]:
    """A migrated database of the kind ``request.param`` names: a copy of the SQLite template
    in ``directory``, or a PostgreSQL database cloned from the template and dropped after."""
    if request.param == "sqlite":
        target = directory / "telehealth.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    server = _require_postgres()
    template = request.getfixturevalue("pg_template")
    name = f"th_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(server)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    except Exception as exc:
        pytest.fail(f"PostgreSQL at {PG_ENV} is unreachable: {type(exc).__name__}")
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request, tmp_path) as url:
        yield url


@pytest.fixture
def dialect(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


def settings_for(database_url: str, directory: Path) -> Settings:
    return Settings(
        env=Environment.TEST,
        data_dir=directory / "data",
        database_url=database_url,
        public_url="http://testserver",
        api_token_minutes=24 * 60,
        # Visits are booked days after the frozen clock, further off than the bearer tokens
        # live; their waiting rooms are open from booking. tests/visits/test_lobby.py checks
        # the lead time.
        visits=VisitSettings(waiting_room_lead_minutes=7 * 24 * 60),
    )


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return settings_for(database_url, tmp_path)


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> Iterator[FastAPI]:
    application = create_app(settings, ports=real_ports(settings, clock))
    yield application
    application.state.services.engine.dispose()


@pytest.fixture
def ports(settings: Settings, clock: FrozenClock) -> Ports:
    """In-memory ports (``bootstrap_for_tests``): blobs, signaling and mail without a disk,
    server or network, on the frozen clock."""
    return memory_ports(settings, clock)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def world(settings: Settings, clock: FrozenClock, app: FastAPI) -> World:
    return seed_world(settings, clock, ports=app.state.services.ports)
