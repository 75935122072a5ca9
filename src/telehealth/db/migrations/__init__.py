"""Alembic environment and revisions (a package so the import contracts see them)."""
