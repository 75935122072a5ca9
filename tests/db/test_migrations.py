"""One schema history for SQLite and PostgreSQL: it applies, reverses, and matches the models."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from telehealth.db.migrate import alembic_config
from telehealth.tables import metadata

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
