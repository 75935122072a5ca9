"""One schema history for SQLite and PostgreSQL: it applies, reverses, and matches the models."""

from __future__ import annotations

import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi import FastAPI
from sqlalchemy import create_engine, inspect, text

from telehealth.db.migrate import alembic_config
from telehealth.tables import metadata
from tests.support import World
from tests.visits.support import TIME_ZONE, book, services_of

pytestmark = pytest.mark.db


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata())
    engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "base")
    engine = create_engine(database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    command.upgrade(config, "heads")
    engine = create_engine(database_url)
    assert {"audit_events", "users", "patients"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_visits_booked_before_their_time_zone_was_kept_take_their_clinicians(
    app: FastAPI, world: World, database_url: str
) -> None:
    services = services_of(app)
    visit_id = book(services, world)  # the clinician's availability is kept in TIME_ZONE
    services.engine.dispose()
    config = alembic_config(database_url)
    command.downgrade(config, "visits_0001")
    command.upgrade(config, "heads")
    engine = create_engine(database_url)
    with engine.connect() as conn:
        zones = conn.execute(text("SELECT id, time_zone FROM visits")).all()
    engine.dispose()
    assert [(uuid.UUID(str(row[0])), row[1]) for row in zones] == [(visit_id, TIME_ZONE)]


def test_care_memberships_from_before_their_source_was_kept_are_legacy_and_open_ended(
    app: FastAPI, world: World, database_url: str
) -> None:
    services_of(app).engine.dispose()
    config = alembic_config(database_url)
    command.downgrade(config, "identity_0001")
    command.upgrade(config, "heads")
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT clinician_id, source, granted_by, ends_at FROM care_assignments")
        ).all()
    engine.dispose()
    assert [(uuid.UUID(str(row[0])), row[1], row[2], row[3]) for row in rows] == [
        (world["clinician_a"].user_id, "legacy", None, None)
    ]
