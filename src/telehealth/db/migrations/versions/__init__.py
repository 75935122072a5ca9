"""Schema revisions, one history for SQLite and PostgreSQL."""
