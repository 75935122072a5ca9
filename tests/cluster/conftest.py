"""Tests against the running local cluster (tests/cluster/topology.py, ``scripts/cluster``).

The normal suite skips them unless every part of the cluster is up. ``scripts/cluster test``
sets ``TELEHEALTH_CLUSTER_TEST=1``: then a missing or unhealthy part is a failure, never a
skip, so the run cannot pass without having tested the topology.

The test process seeds its people and visits through the application's own services on the
cluster's settings (``.cluster/env``: the same PostgreSQL database, Redis database and bucket
the instances use), then drives the instances over HTTP through HAProxy.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI

from telehealth.app import create_app
from telehealth.clock import FrozenClock
from telehealth.config import Settings, load_settings
from tests.cluster import topology
from tests.support import World, seed_world
from tests.visits.support import services_of

REQUIRED = os.environ.get("TELEHEALTH_CLUSTER_TEST") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/cluster/" in item.nodeid.replace(os.sep, "/"):
            item.add_marker(pytest.mark.cluster)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def cluster() -> None:
    """Every part is healthy; otherwise skip (normal suite) or fail (``scripts/cluster test``)."""
    down = [part for part, (ok, _) in topology.health().items() if not ok]
    if not down:
        return
    message = f"cluster parts down: {', '.join(down)} (scripts/cluster up; scripts/cluster status)"
    if REQUIRED:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def instances_back_up(cluster_settings: Settings) -> Iterator[None]:
    """The cluster's environment for every test, with every instance in HAProxy's rotation
    before it (pins mean nothing otherwise); a test may kill or stop instances: every instance
    is up and in rotation again after it."""
    topology.wait_in_rotation()
    yield
    for name in topology.INSTANCES:
        topology.start_instance(name)
    topology.wait_in_rotation()


@pytest.fixture(scope="session")
def cluster_settings(cluster: None) -> Iterator[Settings]:
    saved = {k: v for k, v in os.environ.items() if k.startswith(("TELEHEALTH_", "AWS_"))}
    for key in saved:
        del os.environ[key]
    os.environ.update(topology.read_env())
    # HAProxy's certificate is the cluster's own self-signed one: clients trust it (requests,
    # tuspy and httpx read these), rather than verifying nothing.
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        os.environ[name] = str(topology.CERTIFICATE)
    try:
        yield load_settings()
    finally:
        for key in (*topology.read_env(), "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
            os.environ.pop(key, None)
        os.environ.update(saved)


@pytest.fixture(scope="session")
def cluster_app(cluster_settings: Settings) -> FastAPI:
    """The application on the cluster's settings, not served: the tests seed data through its
    services (the same code paths a request takes), sharing the database, Redis and bucket."""
    return create_app(cluster_settings)


@pytest.fixture(scope="session")
def world(cluster_settings: Settings, cluster_app: FastAPI) -> World:
    """The seeded people (tests/support.py), once per run: ``scripts/cluster up`` starts from
    an empty database, so a second run on the same cluster needs ``up`` again."""
    services = services_of(cluster_app)
    return seed_world(cluster_settings, FrozenClock(datetime.now(UTC)), ports=services.ports)


def pinned(name: str) -> dict[str, str]:
    """Headers that send a request to instance ``name`` while it is up (HAProxy's test rule)."""
    return {topology.PIN_HEADER: name}


def served_by(response: Any) -> str:
    return str(response.headers.get("x-cluster-server", ""))
